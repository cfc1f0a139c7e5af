"""The club calendar: every announced club event as one iCalendar document.

Teachers subscribe to it from their phones (`GET /calendar.ics`), so it is public
and holds only what a forum topic's title already tells: title, time, place,
status and the topic's address. Descriptions (names of presenters) and the
events' own links (webinar rooms) stay on the forum.

A pure function of the stored events and the clock: the same events give the
same bytes, so the document's hash is a good ETag.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import icalendar

from bridge.events import Event
from bridge.rendering import CALENDAR_NAME, MOSCOW, calendar_description, one_line

#: Events that ended this long ago are still listed: a teacher looks one up afterwards.
RECENT = timedelta(days=30)
#: How often subscribed calendars should fetch the document again.
REFRESH = timedelta(hours=1)
#: SEQUENCE is an RFC 5545 INTEGER (at most 2^31−1); versions may go up to 2^53−1.
MAX_SEQUENCE = 2**31 - 1
PRODUCT_ID = "-//Teacher Club bridge//Club calendar//RU"


@dataclass(frozen=True)
class ClubCalendar:
    body: bytes
    last_modified: datetime | None  # the newest change of a listed event

    @property
    def etag(self) -> str:
        return hashlib.sha256(self.body).hexdigest()[:32]


def listed(event: Event, *, now: datetime) -> bool:
    """Announced on the forum, not withdrawn, and not over for more than RECENT."""
    if event.removed or event.topic_id is None:
        return False
    return datetime.fromisoformat(event.desired["ends_at"]) >= now - RECENT


def club_calendar(
    events: Iterable[Event], *, forum_url: str, public_url: str, now: datetime
) -> ClubCalendar:
    """The document, events in order of their start (stable for equal input)."""
    shown = sorted(
        (event for event in events if listed(event, now=now)),
        key=lambda event: (datetime.fromisoformat(event.desired["starts_at"]),
                           event.external_id),
    )
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", CALENDAR_NAME)
    calendar.add("x-wr-timezone", "Europe/Moscow")
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", REFRESH)
    uid_host = urlsplit(public_url).hostname or "teacher-club-bridge"
    for event in shown:
        calendar.add_component(_vevent(event, forum_url=forum_url, uid_host=uid_host))
    calendar.add_missing_timezones()
    last_modified = max((_changed(event) for event in shown), default=None)
    return ClubCalendar(body=calendar.to_ical(), last_modified=last_modified)


def _vevent(event: Event, *, forum_url: str, uid_host: str) -> icalendar.Event:
    desired = event.desired
    topic_url = event.topic_url(forum_url)
    vevent = icalendar.Event()
    vevent.add("uid", f"{event.external_id}@{uid_host}")  # the event's, whatever its topic
    vevent.add("sequence", min(event.version, MAX_SEQUENCE))  # never goes backwards
    vevent.add("dtstamp", _changed(event))
    vevent.add("dtstart", datetime.fromisoformat(desired["starts_at"]).astimezone(MOSCOW))
    vevent.add("dtend", datetime.fromisoformat(desired["ends_at"]).astimezone(MOSCOW))
    vevent.add("summary", one_line(desired["title"]))
    if desired.get("location"):
        vevent.add("location", one_line(desired["location"]))
    vevent.add("url", topic_url)
    vevent.add("description", calendar_description(topic_url))
    vevent.add("status", "CANCELLED" if desired.get("status") == "cancelled" else "CONFIRMED")
    return vevent


def _changed(event: Event) -> datetime:
    """When the event last changed (whole seconds, as HTTP dates have them)."""
    return datetime.fromtimestamp(int(event.accepted_at or 0), tz=UTC)
