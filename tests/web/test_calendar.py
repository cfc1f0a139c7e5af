"""`GET /calendar.ics`: the club calendar teachers subscribe to, read back with icalendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest

from tests.support.events import event_body, put
from workers.events import setup_categories

MOSCOW = ZoneInfo("Europe/Moscow")


def at(days: float, hour: int = 15) -> str:
    """An ISO time `days` from now, at `hour` Moscow time."""
    moment = (datetime.now(UTC) + timedelta(days=days)).astimezone(MOSCOW)
    return moment.replace(hour=hour, minute=0, second=0, microsecond=0).isoformat()


def when(days: float) -> dict:
    return {"starts_at": at(days, 15), "ends_at": at(days, 17)}


@pytest.fixture
def club(client, auth, services, sandbox, work):
    """Events in every state the calendar tells apart, announced on the forum."""
    setup_categories(services)
    bodies = {
        "upcoming": event_body(**when(7), version=3,
                               description="Ведущая — Иванова Мария Петровна, тел. 123"),
        "cancelled": event_body(title="Отменённый семинар", status="cancelled", **when(9)),
        "recent": event_body(title="Недавний семинар", **when(-10)),
        "long-ago": event_body(title="Давний семинар", **when(-40)),
        "withdrawn": event_body(title="Снятый семинар", **when(5)),
        "online": event_body(title="Вебинар", kind="webinar", location=None,
                             url="https://vk.com/video-1", **when(3)),
    }
    for external_id, body in bodies.items():
        assert put(client, auth, external_id, body).status_code == 202
    work()
    assert client.delete("/api/v1/events/withdrawn", headers=auth).status_code == 202
    work()
    # Stored but not announced yet: its job has not run.
    assert put(client, auth, "queued", event_body(title="Ещё не анонсирован", **when(4))
               ).status_code == 202
    return services.events


def read(response) -> dict[str, icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(response.data)
    return {str(event["UID"]).split("@")[0]: event for event in calendar.walk("VEVENT")}


def test_announced_upcoming_and_recent_events_only(client, club, services):
    response = client.get("/calendar.ics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    events = read(response)
    assert set(events) == {"upcoming", "cancelled", "recent", "online"}

    upcoming, stored = events["upcoming"], club.get("upcoming")
    assert str(upcoming["UID"]) == "upcoming@127.0.0.1"
    assert upcoming["SEQUENCE"] == 3
    assert str(upcoming["SUMMARY"]) == "Семинар «Функциональная грамотность»"
    assert str(upcoming["LOCATION"]) == "Смоленск, ГАУ ДПО СОИРО, ауд. 12"
    forum_url = f"{services.settings.discourse_url}/t/{stored.topic_id}"
    assert str(upcoming["URL"]) == forum_url
    assert forum_url in str(upcoming["DESCRIPTION"])
    assert str(upcoming["STATUS"]) == "CONFIRMED"
    start = upcoming.decoded("DTSTART")
    assert start == datetime.fromisoformat(stored.desired["starts_at"])
    assert start.tzinfo.key == "Europe/Moscow"
    assert upcoming.decoded("DTEND") == datetime.fromisoformat(stored.desired["ends_at"])

    assert str(events["cancelled"]["STATUS"]) == "CANCELLED"
    assert "LOCATION" not in events["online"]


def test_no_personal_data(client, club):
    body = client.get("/calendar.ics").data.decode()
    assert "Иванова" not in body  # descriptions stay on the forum
    assert "vk.com/video-1" not in body  # so do links for participants
    assert "winner" not in body


def test_caching_headers_and_a_conditional_get(client, club, auth, work):
    first = client.get("/calendar.ics")
    assert "max-age" in first.headers["Cache-Control"]
    assert first.headers["Last-Modified"]
    etag = first.headers["ETag"]
    assert client.get("/calendar.ics", headers={"If-None-Match": etag}).status_code == 304
    assert put(client, auth, "upcoming", event_body(**when(8), version=4)).status_code == 202
    work()
    changed = client.get("/calendar.ics", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    upcoming = read(changed)["upcoming"]
    assert (str(upcoming["UID"]), upcoming["SEQUENCE"]) == ("upcoming@127.0.0.1", 4)


def test_sequence_stays_within_the_icalendar_integer(client, auth, services, sandbox, work):
    setup_categories(services)
    put(client, auth, "big", event_body(**when(2), version=2**53 - 1))
    work()
    assert read(client.get("/calendar.ics"))["big"]["SEQUENCE"] == 2**31 - 1


def test_each_announcement_links_to_the_calendar(club, sandbox, services):
    link = f"[Добавить в календарь]({services.settings.public_url}/calendar.ics)"
    topics = {t["id"]: t for t in sandbox.state()["topics"]}
    assert link in topics[club.get("upcoming").topic_id]["raw"]
    assert link not in topics[club.get("cancelled").topic_id]["raw"]


def test_no_token_needed_and_read_only(client, club):
    assert client.get("/calendar.ics").status_code == 200
    assert client.post("/calendar.ics").status_code == 405
