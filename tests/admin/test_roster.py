"""Roster upload on the admin pages: preview of the diff, then apply; the safety valve."""

from __future__ import annotations

import io
import re

from tests.support.admin import csrf_of, page_csrf, text
from tests.support.forum import seed_accounts
from web.admin.roster import ROSTER_PREFIX

CSV = ("external_id,email,name,roles,district\n"
       "c-1,petrov@example.org,Петров Иван,winner;jury,Гагаринский район\n"
       "c-2,sidorova@example.org,Сидорова Анна,participant,\n"
       "c-3,orlova@example.org,Орлова Вера,moderator,город Смоленск\n")


def count(html: str, name: str) -> int:
    found = re.search(rf'data-count="{name}"[^>]*>(\d+)<', html)
    assert found, f"no count {name}"
    return int(found.group(1))


def upload(client, *, csv: str | None = None, text_field: str | None = None,
           filename: str = "roster.csv"):
    data = {"csrf_token": page_csrf(client, "/admin/roster")}
    if csv is not None:
        data["roster"] = (io.BytesIO(csv.encode()), filename)
    if text_field is not None:
        data["roster_text"] = text_field
    return client.post("/admin/roster", data=data, content_type="multipart/form-data")


def apply(client, preview_html: str, *, force: bool = False, follow: bool = True):
    key = re.search(r'name="key" value="([^"]+)"', preview_html).group(1)
    data = {"csrf_token": csrf_of(preview_html), "key": key}
    if force:
        data["force"] = "1"
    return client.post("/admin/roster/apply", data=data, follow_redirects=follow)


def roster_json(ids, role="winner"):
    rows = ",".join(
        f'{{"external_id": "t-{i}", "email": "t{i}@example.org", "roles": ["{role}"]}}'
        for i in ids)
    return f"[{rows}]"


def test_preview_then_apply_reaches_the_forum(admin_client, forum, work, services):
    seed_accounts(forum, ("c-1", "petrov", "petrov@example.org"),
                  ("c-3", "orlova", "orlova@example.org"))
    preview = upload(admin_client, csv=CSV)
    assert preview.status_code == 200
    html = text(preview)
    assert count(html, "members") == 3
    assert count(html, "new") == 3
    assert count(html, "offboarded") == 0
    assert count(html, "staff") == 1  # c-3 becomes a moderator
    club = re.search(r'data-group="club">(.*?)</tr>', html, re.S).group(1)
    assert "<b>3</b>" in club
    assert "c-1, c-2, c-3" in club
    assert 'data-valve="trips"' not in html
    # Nothing is stored or queued by a preview.
    assert services.members.all_ids() == []
    assert forum.user("petrov")["groups"] == []

    done = apply(admin_client, html)
    assert "Список применён: изменено участников — 3" in text(done)
    assert services.members.all_ids() == ["c-1", "c-2", "c-3"]
    work()
    assert sorted(forum.user("petrov")["groups"]) == ["club", "jury", "r-gagarin", "winners"]
    assert sorted(forum.user("orlova")["groups"]) == ["club", "club-mods", "r-smolensk"]
    assert forum.user("orlova")["moderator"] is True
    causes = {e.cause for e in services.audit.newest(limit=50)}
    assert causes == {"admin"}


def test_a_preview_is_applied_once(admin_client, forum, services):
    html = text(upload(admin_client, csv=CSV))
    assert "Список применён" in text(apply(admin_client, html))
    again = apply(admin_client, html)
    assert "Загруженный список не найден" in text(again)
    assert len(services.redis.keys(ROSTER_PREFIX + "*")) == 0


def test_uploaded_roster_waits_in_redis_with_a_ttl(admin_client, services):
    html = text(upload(admin_client, text_field=roster_json(range(3))))  # pasted JSON
    assert count(html, "members") == 3
    [key] = services.redis.keys(ROSTER_PREFIX + "*")
    assert 0 < services.redis.ttl(key) <= 30 * 60
    with admin_client.session_transaction() as session:
        assert not any("roster" in name for name in session)  # not in the cookie


def test_safety_valve_warns_and_needs_a_tick(admin_client, client, auth, forum, work, services):
    seed_accounts(forum, *[(f"t-{i}", f"acc{i}", f"t{i}@example.org") for i in range(10)])
    full = client.post("/api/v1/roster", data=roster_json(range(10)), headers={
        **auth, "Content-Type": "application/json"})
    assert full.status_code == 202
    work()
    preview = upload(admin_client, text_field=roster_json(range(5)), filename="")
    html = text(preview)
    assert 'data-valve="trips"' in html
    assert "исключит из клуба 5" in html
    assert count(html, "offboarded") == 5

    refused = apply(admin_client, html)
    assert refused.status_code == 409
    assert "Снять предохранитель" in text(refused)
    assert services.members.get("t-9").active

    forced = apply(admin_client, text(refused), force=True)
    assert "исключено — 5" in text(forced)
    work()
    assert forum.user("acc9")["groups"] == []
    assert "winners" in forum.user("acc0")["groups"]


def test_a_changed_state_is_previewed_again(admin_client, client, auth, forum, services):
    html = text(upload(admin_client, text_field=roster_json(range(3))))
    body = {"email": "t1@example.org", "roles": ["jury"]}
    assert client.put("/api/v1/members/t-1", json=body, headers=auth).status_code == 202
    stale = apply(admin_client, html)
    assert stale.status_code == 409
    assert "данные участников изменились" in text(stale)
    assert services.members.get("t-0") is None
    # t-1 would lose the jury group it gained meanwhile: the role valve asks too.
    assert "лишит групп форума 1" in text(stale)
    done = apply(admin_client, text(stale), force=True)
    assert "Список применён" in text(done)
    assert services.members.get("t-1").desired["roles"] == ["winner"]


def test_bad_rosters_are_shown_and_nothing_is_stored(admin_client, services):
    cases = [
        (upload(admin_client, csv="external_id,email\na,not-an-email\n"), 422,
         "В списке есть ошибки"),
        (upload(admin_client, csv="x,y\n1,2\n"), 400, "CSV-файл не удалось прочитать"),
        (upload(admin_client, text_field="[{"), 400, "JSON не удалось прочитать"),
        (upload(admin_client, text_field='{"a": 1}'), 422, "В списке есть ошибки"),
        (upload(admin_client, text_field='[{"external_id": "a", "email": "a@example.org",'
                                         ' "roles": ["pope"]}]'), 422, "unknown role code"),
        (upload(admin_client, text_field="  "), 400, "Выберите файл"),
    ]
    for response, status, phrase in cases:
        assert response.status_code == status, text(response)
        assert phrase in text(response)
    assert services.members.all_ids() == []
    assert services.redis.keys(ROSTER_PREFIX + "*") == []


def test_a_deeply_nested_json_upload_is_refused(admin_client, services):
    response = upload(admin_client, csv="[" * 100_000 + "]" * 100_000, filename="roster.json")
    assert response.status_code == 422
    assert "Список не принят" in text(response) or "JSON" in text(response)
    assert services.members.all_ids() == []
