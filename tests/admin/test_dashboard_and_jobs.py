"""The dashboard's numbers and the failed jobs page with its retry buttons."""

from __future__ import annotations

import json
import re

from tests.support.admin import page_csrf, text
from tests.support.forum import seed_accounts
from tests.support.members import member_body
from workers.members import RECONCILE_KEY
from workers.queue import queue


def metric(html: str, name: str) -> str:
    found = re.search(rf'data-metric="{name}">(.*?)</dd>', html, re.S)
    assert found, f"no metric {name}"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def test_dashboard_shows_queue_backlog_and_budget(admin_client, client, auth, services):
    for n in range(3):
        body = member_body(email=f"t{n}@example.org")
        assert client.put(f"/api/v1/members/t-{n}", json=body, headers=auth).status_code == 202
    for _ in range(2):
        services.discourse.group("club")  # two calls spend two slots of the shared budget
    html = text(admin_client.get("/admin/"))
    assert metric(html, "queued") == "3"
    assert metric(html, "started") == "0"
    assert metric(html, "scheduled") == "0"
    assert metric(html, "failed") == "0"
    assert metric(html, "dirty") == "3"
    assert metric(html, "members") == "3"
    assert metric(html, "budget") == "2 / 100000"
    assert "Сверки ещё не было" in html


def test_dashboard_shows_the_last_reconciliation(admin_client, services):
    report = {"at": 1767225600.0, "cause": "reconcile", "dry_run": False,
              "groups": {"club": {"add": ["a", "b"], "remove": []},
                         "jury": {"add": [], "remove": ["c"]}},
              "staff": ["t-1"], "unknown_accounts": {"club": ["outsider"]}, "write_calls": 4}
    services.redis.set(RECONCILE_KEY, json.dumps(report))
    html = text(admin_client.get("/admin/"))
    assert "01.01.2026 03:00 МСК" in html
    assert re.search(r'data-metric="reconcile-added">2<', html)
    assert re.search(r'data-metric="reconcile-removed">1<', html)
    assert "запросов на запись — 4" in html
    services.redis.set(RECONCILE_KEY, "{not json")
    assert "повреждён" in text(admin_client.get("/admin/"))


def _failed_jobs(client, auth, sandbox, work, services, n=1):
    """Jobs fail for good while the bridge holds a wrong API key (a permanent error)."""
    seed_accounts(sandbox, ("t-1", "ivanova", "ivanova@example.org"))
    services.member_sync().setup_groups()
    headers = services.discourse._headers
    key, headers["Api-Key"] = headers["Api-Key"], "a-revoked-key"
    for attempt in range(n):
        roster = [{"external_id": "t-1", "email": "ivanova@example.org",
                   "name": "Иванова Мария", "roles": ["winner"], "version": attempt}]
        assert client.post("/api/v1/roster", json=roster, headers=auth).status_code == 202
        work()
    headers["Api-Key"] = key
    registry = queue(services.redis_raw).failed_job_registry
    assert registry.count == n
    return registry.get_job_ids()


def test_failed_job_is_listed_and_retried(admin_client, client, auth, sandbox, work, services):
    [job_id] = _failed_jobs(client, auth, sandbox, work, services)
    page = admin_client.get("/admin/jobs/failed")
    html = text(page)
    assert job_id in html
    assert "sync 1 members (roster)" in html
    assert "GET /u/by-external/t-1.json: API key refused" in html  # the last line only
    assert "Traceback" not in html
    assert "МСК" in html
    assert metric(text(admin_client.get("/admin/")), "failed") == "1"

    # the cause is gone: the key is right again
    response = admin_client.post(f"/admin/jobs/failed/{job_id}/retry",
                                 data={"csrf_token": page_csrf(admin_client)})
    assert response.status_code == 303
    assert f"Задание {job_id} снова в очереди" in text(admin_client.get("/admin/jobs/failed"))
    assert queue(services.redis_raw).failed_job_registry.count == 0
    work()
    assert sorted(sandbox.user("ivanova")["groups"]) == ["club", "winners"]
    assert "Упавших заданий нет" in text(admin_client.get("/admin/jobs/failed"))


def test_retry_of_an_unknown_job_says_so(admin_client):
    token = page_csrf(admin_client)
    for job_id in ("no-such-job", "bad%20id"):
        response = admin_client.post(f"/admin/jobs/failed/{job_id}/retry",
                                     data={"csrf_token": token}, follow_redirects=True)
        assert "нет среди упавших" in text(response)


def test_retry_all(admin_client, client, auth, sandbox, work, services):
    _failed_jobs(client, auth, sandbox, work, services, n=2)
    response = admin_client.post("/admin/jobs/failed/retry-all",
                                 data={"csrf_token": page_csrf(admin_client)},
                                 follow_redirects=True)
    assert "Снова в очереди заданий: 2" in text(response)
    work()
    assert queue(services.redis_raw).failed_job_registry.count == 0
    assert "winners" in sandbox.user("ivanova")["groups"]
