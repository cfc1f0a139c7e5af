"""Health, readiness, metrics and the admin commands of `flask --app wsgi`."""

from __future__ import annotations

import json

from tests.support.forum import seed_accounts
from tests.support.members import member_body


def test_health_and_readiness(client, sandbox, services):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["checks"] == {"redis": "ok", "discourse": "ok"}
    assert sandbox.stats()["requests"] == 0  # probes never spend the admin budget


def test_readiness_fails_when_discourse_is_away(client, services):
    original = services.discourse.session.get

    def unreachable(url, **kwargs):
        return original("http://127.0.0.1:9/srv/status", **kwargs)

    services.discourse.session.get = unreachable
    try:
        ready = client.get("/readyz")
    finally:
        services.discourse.session.get = original
    assert ready.status_code == 503
    assert ready.json["checks"]["discourse"].startswith("error")


def test_metrics_count_discourse_calls_and_jobs(client, auth, sandbox, services, work):
    seed_accounts(sandbox, ("t-1", "ivanova_mp", "ivanova@example.org"))
    services.member_sync().setup_groups()
    client.put("/api/v1/members/t-1", json=member_body(version=1), headers=auth)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'bridge_jobs{state="queued"} 1.0' in text
    assert "bridge_members_dirty 1.0" in text
    work()
    text = client.get("/metrics").get_data(as_text=True)
    assert 'bridge_discourse_calls_total{endpoint="POST /admin/users/sync_sso",status="200"} 1.0' \
        in text
    assert 'endpoint="POST /admin/groups.json",status="200"' in text
    assert "bridge_members_dirty 0.0" in text


def test_discourse_setup_is_idempotent(runner, sandbox):
    first = runner.invoke(args=["discourse", "setup"])
    assert first.exit_code == 0, first.output
    assert "groups created: club," in first.output
    assert "categories created: Мероприятия клуба" in first.output
    again = runner.invoke(args=["discourse", "setup"])
    assert "groups created: none (all exist)" in again.output
    assert "categories created: none (all exist)" in again.output
    names = [g["name"] for g in sandbox.state()["groups"]]
    assert len(names) == len(set(names))


def test_reconcile_command_reports_and_repairs(runner, client, auth, sandbox, services, work):
    seed_accounts(sandbox, ("t-1", "ivanova_mp", "ivanova@example.org"))
    services.member_sync().setup_groups()
    client.put("/api/v1/members/t-1", json=member_body(version=1), headers=auth)
    work()
    club = next(g for g in sandbox.state()["groups"] if g["name"] == "club")
    services.discourse.remove_members(club["id"], usernames=["ivanova_mp"])
    dry = json.loads(runner.invoke(args=["sync", "reconcile", "--dry-run"]).stdout)
    assert dry["groups"] == {"club": {"add": ["t-1"], "remove": [], "outsiders": []}}
    assert "club" not in sandbox.user("ivanova_mp")["groups"]
    done = json.loads(runner.invoke(args=["sync", "reconcile"]).stdout)
    assert done["write_calls"] == 1
    assert "club" in sandbox.user("ivanova_mp")["groups"]
    audit = runner.invoke(args=["audit", "--subject", "member:t-1"]).stdout
    assert "group.add" in audit
    assert "reconcile" in audit


def test_doctor_checks_the_forum(runner, sandbox, bridge_port):
    before = runner.invoke(args=["doctor"])
    assert before.exit_code == 1
    assert "[FAIL] managed group club exists" in before.output
    runner.invoke(args=["discourse", "setup"])
    after = runner.invoke(args=["doctor"])
    assert after.exit_code == 0, after.output
    assert "[ok] discourse_connect_url is " in after.output


def test_precreation_makes_the_account_before_the_first_login(
        client, auth, sandbox, services, work, monkeypatch):
    services.member_sync().setup_groups()
    monkeypatch.setattr(type(services.settings), "precreate_users", property(lambda s: True))
    client.put("/api/v1/members/t-9", json=member_body(version=1), headers=auth)
    work()
    [user] = sandbox.state()["users"]
    assert user["external_id"] == "t-9"
    assert sorted(user["groups"]) == ["club", "r-vyazma", "winners"]
