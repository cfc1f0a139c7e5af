"""The audit log, a member's page and the events list."""

from __future__ import annotations

import re

import pytest

from bridge.events import EventStore
from tests.support.admin import text
from tests.support.forum import seed_accounts
from tests.support.members import member_body


def entry_ids(html: str) -> list[str]:
    return re.findall(r'data-entry="([^"]+)"', html)


def next_link(html: str) -> str | None:
    found = re.search(r'rel="next" href="([^"]+)"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def test_audit_pages_newest_first(admin_client, services):
    services.audit.record_many([
        {"subject": f"member:t-{i % 3}", "action": "group.add", "target": f"g{i}",
         "cause": "roster", "result": "ok", "detail": ""}
        for i in range(120)
    ])
    seen, link, pages = [], "/admin/audit", 0
    while link:
        html = text(admin_client.get(link))
        ids = entry_ids(html)
        seen += ids
        link, pages = next_link(html), pages + 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 120
    everything = [e.id for e in services.audit.newest(limit=200)]
    assert seen == everything  # newest first, no gaps, no repeats
    first = text(admin_client.get("/admin/audit"))
    assert ">g119<" in first
    assert "g0<" not in first


def test_audit_filter_by_subject(admin_client, services):
    services.audit.record_many([
        {"subject": f"member:t-{i % 3}", "action": "group.add", "target": f"g{i}",
         "cause": "roster", "result": "ok" if i else "boom", "detail": ""}
        for i in range(60)
    ])
    html = text(admin_client.get("/admin/audit?subject=member:t-0"))
    ids = entry_ids(html)
    assert len(ids) == 20
    assert 'href="/admin/members/t-0"' in html
    assert ">member:t-1<" not in html
    assert "boom" in html  # the failed change shows its error
    bad = text(admin_client.get("/admin/audit?subject=<script>&before=zzz"))
    assert "Фильтр по объекту" in bad
    assert "<script>" not in bad


def test_member_page(admin_client, client, auth, forum, work, services):
    seed_accounts(forum, ("t-1", "ivanova", "ivanova@example.org"))
    body = member_body(roles=["winner", "jury"])
    assert client.put("/api/v1/members/t-1", json=body, headers=auth).status_code == 202
    work()
    response = admin_client.get("/admin/members/t-1")
    assert response.status_code == 200
    html = text(response)
    assert "Иванова Мария Петровна" in html
    assert "ivanova@example.org" in html
    assert "Победитель, Член жюри" in html
    assert "Вяземский район" in html
    assert f'href="{forum.url}/u/ivanova"' in html
    assert "выполнена" in html  # converged, not dirty
    assert "member.sync" in html  # its audit entry
    assert re.search(r'data-field="wanted">club, jury, r-vyazma, winners<', html)


def test_member_page_shows_the_last_error(admin_client, client, auth, services):
    client.put("/api/v1/members/t-2", json=member_body(), headers=auth)
    services.members.record_error("t-2", "PUT /admin/users/sync_sso: 422 username is taken")
    html = text(admin_client.get("/admin/members/t-2"))
    assert "username is taken" in html
    assert "ожидает" in html
    assert "ещё не проверял" in html


@pytest.mark.parametrize("external_id", ["nobody", "a%20b", "x" * 65])
def test_unknown_member_is_404(admin_client, external_id):
    response = admin_client.get(f"/admin/members/{external_id}")
    assert response.status_code == 404
    assert "Участник не найден" in text(response)


def test_events_link_to_their_topics(admin_client, services):
    store = EventStore(services.redis)
    desired = {"title": "Семинар «Функциональная грамотность»", "kind": "seminar",
               "starts_at": "2026-12-03T15:00:00+03:00", "ends_at": "2026-12-03T17:00:00+03:00",
               "status": "scheduled"}
    store.accept("ev-1", desired, version=1)
    store.record_topic("ev-1", topic_id=42, post_id=77, topic_external_id="ev-ev-1", forum={})
    store.mark_clean("ev-1", 1)
    store.accept("ev-2", dict(desired, title="Круглый стол", status="cancelled",
                              starts_at="2026-11-01T10:00:00+03:00"), version=1)
    html = text(admin_client.get("/admin/events"))
    url = services.settings.discourse_url.rstrip("/") + "/t/42"
    assert f'href="{url}"' in html
    assert "03.12.2026 15:00 МСК" in html
    assert "отменено" in html
    assert "ожидает публикации" in html
    assert html.index("ev-1") < html.index("ev-2")  # the later event first


def test_member_page_needs_the_whole_id(admin_client, client, auth):
    assert client.put("/api/v1/members/t-1", json=member_body(version=1),
                      headers=auth).status_code == 202
    assert admin_client.get("/admin/members/t-1").status_code == 200
    assert admin_client.get("/admin/members/t-1%0A").status_code == 404


@pytest.mark.parametrize("before", ["١-١", "١٢-٣", "²-1"])
def test_audit_page_ignores_a_non_ascii_position(admin_client, services, before):
    services.audit.record(subject="member:t-1", action="group.add", target="club",
                          cause="api")
    response = admin_client.get("/admin/audit", query_string={"before": before})
    assert response.status_code == 200
    assert len(entry_ids(text(response))) == 1
