"""The events API refuses bad input with a clear 4xx, and then stores and queues nothing."""

from __future__ import annotations

import pytest

from bridge.events import PREFIX as EVENT_PREFIX
from tests.support.events import event_body, put
from workers.queue import queue


def nothing_stored(services) -> bool:
    return (
        services.redis.keys(EVENT_PREFIX + "*") == []
        and queue(services.redis_raw).count == 0
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"ends_at": "2026-12-03T14:00:00+03:00"}, ""),
        ({"kind": "concert"}, "kind"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "я" * 256}, "title"),
        ({"starts_at": "2026-12-03T15:00:00"}, "starts_at"),  # no offset
        ({"starts_at": 1796310000}, "starts_at"),  # epoch seconds are not ISO 8601
        ({"starts_at": "3 декабря"}, "starts_at"),
        ({"colour": "red"}, "colour"),
        ({"version": -1}, "version"),
        ({"version": "3"}, "version"),
        ({"version": 2.5}, "version"),
        ({"status": "postponed"}, "status"),
        ({"audience": ["winner", "astronaut"]}, "audience"),
        ({"audience": "winner"}, "audience"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"description": 5}, "description"),
    ],
)
def test_invalid_events_are_422(client, auth, services, overrides, field):
    response = put(client, auth, "ev-1", event_body(**overrides))
    assert response.status_code == 422, response.json
    body = response.json
    assert body["error"] == "invalid_event"
    assert body["message"]
    assert any(d["field"].startswith(field) for d in body["details"]), body["details"]
    assert nothing_stored(services)


def test_missing_required_fields_are_422(client, auth, services):
    response = put(client, auth, "ev-1", {"kind": "seminar"})
    assert response.status_code == 422
    fields = {d["field"] for d in response.json["details"]}
    assert {"title", "starts_at"} <= fields
    assert nothing_stored(services)


def test_body_must_be_a_json_object(client, auth, services):
    response = client.put("/api/v1/events/ev-1", data="title=x", headers=auth,
                          content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json["error"] == "unsupported_media_type"
    response = client.put("/api/v1/events/ev-1", data="{oops", headers=auth,
                          content_type="application/json")
    assert response.status_code == 400
    response = put(client, auth, "ev-1", [event_body()])
    assert response.status_code == 422
    response = client.put("/api/v1/events/ev-1", data=b"{" + b" " * (1024 * 1024 + 1) + b"}",
                          headers=auth, content_type="application/json")
    assert response.status_code == 413
    assert nothing_stored(services)


def test_token_is_required(client, services):
    assert put(client, {}, "ev-1", event_body()).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token-at-all"}
    response = put(client, wrong, "ev-1", event_body())
    assert response.status_code == 401
    assert response.json["error"] == "unauthorized"
    assert client.get("/api/v1/events/ev-1").status_code == 401
    assert client.delete("/api/v1/events/ev-1").status_code == 401
    assert nothing_stored(services)


def test_bad_external_ids(client, auth, services):
    assert put(client, auth, "ev%201", event_body()).status_code == 422
    assert put(client, auth, "x" * 65, event_body()).status_code == 422
    assert client.get("/api/v1/events/" + "x" * 65, headers=auth).status_code in (404, 422)
    assert nothing_stored(services)


def test_unknown_events_are_404(client, auth, services):
    response = client.get("/api/v1/events/nope", headers=auth)
    assert response.status_code == 404
    assert response.json["error"] == "not_found"
    assert client.delete("/api/v1/events/nope", headers=auth).status_code == 404
    assert nothing_stored(services)


def test_versions_older_or_equal_are_acknowledged_and_ignored(client, auth, services):
    first = put(client, auth, "ev.2026:1", event_body(version=5))
    assert first.status_code == 202
    assert first.json["job_id"] == "event-ev_d2026_c1-v5"
    for version in (5, 4, 0):
        response = put(client, auth, "ev.2026:1", event_body(title="Старое", version=version))
        assert response.status_code == 200
        assert response.json == {"status": "ignored", "version": 5}
    state = client.get("/api/v1/events/ev.2026:1", headers=auth).json
    assert state == {
        "external_id": "ev.2026:1",
        "desired": {**event_body(), "url": None, "status": "scheduled"},
        "version": 5,
        "forum": None,
        "last_error": None,
    }
    # Without a version each change counts as the next one.
    response = put(client, auth, "ev.2026:1", event_body(title="Новое"))
    assert response.status_code == 202
    assert response.json["version"] == 6
    assert queue(services.redis_raw).count == 2


def test_same_version_twice_is_one_job(client, auth, services):
    put(client, auth, "ev-1", event_body(version=1))
    put(client, auth, "ev-1", event_body(version=1))
    q = queue(services.redis_raw)
    assert q.job_ids == ["event-ev-1-v1"]
    job = q.fetch_job("event-ev-1-v1")
    assert list(job.args) == ["ev-1", "api"]


def test_delete_with_an_old_version_is_ignored(client, auth):
    put(client, auth, "ev-1", event_body(version=3))
    response = client.delete("/api/v1/events/ev-1?version=2", headers=auth)
    assert response.status_code == 200
    assert response.json["status"] == "ignored"
    assert client.delete("/api/v1/events/ev-1?version=x", headers=auth).status_code == 422
    response = client.delete("/api/v1/events/ev-1", headers=auth)
    assert response.status_code == 202
    assert response.json["version"] == 4


def test_a_date_outside_the_calendar_is_refused(client, auth, services):
    """Year 1 at +23:59 cannot be converted to Moscow time: refused, never a failed job."""
    body = {"title": "Семинар", "kind": "seminar", "version": 1,
            "starts_at": "0001-01-01T00:00:00+23:59"}
    response = client.put("/api/v1/events/far-1", json=body, headers=auth)
    assert response.status_code == 422
    assert "between the years 1900 and 2200" in response.json["details"][0]["message"]


def test_an_address_with_a_user_name_before_the_host_is_refused(client, auth):
    body = {"title": "Вебинар", "kind": "seminar", "version": 1,
            "starts_at": "2026-12-03T15:00:00+03:00",
            "url": "https://soiro.example@evil.example/login"}
    response = client.put("/api/v1/events/web-1", json=body, headers=auth)
    assert response.status_code == 422
    assert "user name or password" in response.json["details"][0]["message"]
