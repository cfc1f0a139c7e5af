"""iCalendar feeds and files → events as the API would receive them.

Pure functions over bytes (plus one small fetcher): UID → an external_id in the
feed's own namespace, SEQUENCE → version, STATUS:CANCELLED → cancelled; all-day
and floating times are read in Europe/Moscow.

A feed is trusted less than the API: its ids never meet the API's or another
feed's (`feed_external_id`), so whatever it says about its UIDs and versions, it
can overwrite, cancel or outrank only its own events.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import icalendar
import requests

from bridge.rendering import MOSCOW
from bridge.versioned import MAX_VERSION
from config.mapping import KindSpec

MAX_FEED_BYTES = 5 * 1024 * 1024
FETCH_TIMEOUT = 20


class FetchError(Exception):
    pass


@dataclass
class IcsEvent:
    uid: str
    external_id: str
    version: int | None
    payload: dict[str, Any] = field(default_factory=dict)  # the fields of an API PUT
    problem: str | None = None  # why this entry cannot become an event


def feed_key(location: str) -> str:
    """A feed's short, stable, log-safe name (URLs may carry tokens).

    It is the namespace of the feed's event ids and the key of what it listed
    last. A URL is known by itself, a file by its absolute path, so the same file
    named from another folder is the same feed.
    """
    if urlsplit(location).scheme in ("http", "https"):
        identity = location
    else:
        identity = str(Path(location).resolve())
    return hashlib.sha256(identity.encode()).hexdigest()[:12]


def feed_external_id(feed: str, uid: str) -> str:
    """`ics-<feed key>-<hash of the UID>`: a feed's UID as an event id of its own.

    The UID is whatever the feed says, possibly an API event's id or another
    feed's UID; hashed under the feed's key it can name none of those. 41
    characters of [0-9a-f-], within the 1-64 of `[A-Za-z0-9._:-]` event ids.
    """
    return f"ics-{feed}-{hashlib.sha256(uid.encode()).hexdigest()[:24]}"


def split_feed_entry(entry: str) -> tuple[str | None, str]:
    """`webinar=https://…` → ("webinar", "https://…"); a plain URL has no kind."""
    kind, sep, rest = entry.partition("=")
    if sep and re.match(r"^[a-z][a-z0-9_]{0,63}$", kind) and "://" in rest:
        return kind, rest
    return None, entry


def fetch(location: str, *, session: requests.Session | None = None) -> bytes:
    """Read a feed from an http(s) URL or a local file, at most 5 MiB."""
    if urlsplit(location).scheme in ("http", "https"):
        session = session or requests.Session()
        try:
            with session.get(location, timeout=FETCH_TIMEOUT, stream=True) as response:
                if response.status_code != 200:
                    raise FetchError(f"HTTP {response.status_code}")
                chunks, size = [], 0
                for chunk in response.iter_content(65536):
                    size += len(chunk)
                    if size > MAX_FEED_BYTES:
                        raise FetchError(f"larger than {MAX_FEED_BYTES} bytes")
                    chunks.append(chunk)
                return b"".join(chunks)
        except requests.RequestException as error:
            raise FetchError(type(error).__name__) from None
    path = Path(location)
    try:
        if path.stat().st_size > MAX_FEED_BYTES:
            raise FetchError(f"larger than {MAX_FEED_BYTES} bytes")
        return path.read_bytes()
    except OSError as error:
        raise FetchError(f"cannot read {location}: {error.strerror}") from None


def _moment(value: Any, *, end: bool = False) -> datetime:
    """A DTSTART/DTEND value as an aware datetime; dates and floating times in Moscow."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=MOSCOW) if value.tzinfo is None else value
    if isinstance(value, date):
        moment = datetime.combine(value, time(0, 0), tzinfo=MOSCOW)
        # DTEND of an all-day event is exclusive: the day before, to its last minute.
        return moment - timedelta(minutes=1) if end else moment
    raise ValueError(f"not a date or date-time: {value!r}")


def _text(component: Any, name: str) -> str | None:
    value = component.get(name)
    if value is None:
        return None
    if isinstance(value, list):
        value = value[0]
    text = str(value).strip()
    return text or None


SEQUENCE_PROBLEM = "SEQUENCE must be an integer from 0 to 2^53-1"


def checked_version(value: Any) -> int:
    """The API's version rule (`bridge.versioned.Version`) for a feed's SEQUENCE."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_VERSION:
        raise ValueError(SEQUENCE_PROBLEM)
    return value


def _version(component: Any) -> int | None:
    """SEQUENCE, the revision number RFC 5545 gives each change of an event.

    Without one the feed gives no order: the event's content decides, as for an
    API change without `version`. LAST-MODIFIED is no version: its seconds since
    1970 would outrank every version before it and any the feed sends later.
    """
    sequence = component.get("SEQUENCE")
    if sequence is None:
        return None
    try:
        number = int(str(sequence).strip())
    except ValueError:
        raise ValueError(SEQUENCE_PROBLEM) from None
    return checked_version(number)


def _categories(component: Any) -> list[str]:
    found: list[str] = []
    values = component.get("CATEGORIES")
    if values is None:
        return found
    for item in values if isinstance(values, list) else [values]:
        cats = getattr(item, "cats", None)
        if cats is None:
            cats = str(item).split(",")
        found.extend(str(c).strip() for c in cats if str(c).strip())
    return found


def _kind(
    component: Any, kinds: Mapping[str, KindSpec], default_kind: str | None
) -> str | None:
    if default_kind:
        return default_kind
    for category in _categories(component):
        for key, spec in kinds.items():
            if category.lower() in (key.lower(), spec.label.lower()):
                return key
    return next(iter(kinds), None)  # the first kind of events.yml


def parse_calendar(
    data: bytes, *, feed: str, kinds: Mapping[str, KindSpec], default_kind: str | None = None
) -> list[IcsEvent]:
    """Every VEVENT of the feed (`feed_key`); entries that cannot be events carry a `problem`.

    Recurring events are announced once, by their first occurrence; overridden
    occurrences (RECURRENCE-ID) are skipped, as one topic per UID is the rule.
    """
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except ValueError as error:
        raise ValueError(f"not an iCalendar document: {error}") from None
    events: list[IcsEvent] = []
    seen: set[str] = set()
    for component in calendar.walk("VEVENT"):
        uid = _text(component, "UID") or ""
        if not uid:
            events.append(IcsEvent(uid="(no UID)", external_id="", version=None,
                                   problem="no UID"))
            continue
        if component.get("RECURRENCE-ID") is not None or uid in seen:
            continue
        seen.add(uid)
        item = IcsEvent(uid=uid[:80], external_id=feed_external_id(feed, uid), version=None)
        try:
            item.version = _version(component)
            item.payload = _payload(component, kinds, default_kind)
        except (ValueError, TypeError) as error:
            item.problem = str(error)
        events.append(item)
    return events


def _payload(
    component: Any, kinds: Mapping[str, KindSpec], default_kind: str | None
) -> dict[str, Any]:
    start_prop = component.get("DTSTART")
    if start_prop is None:
        raise ValueError("no DTSTART")
    start = _moment(start_prop.dt)
    end_prop = component.get("DTEND")
    if end_prop is not None:
        end = _moment(end_prop.dt, end=True)
    elif component.get("DURATION") is not None:
        end = start + component.get("DURATION").dt
    elif isinstance(start_prop.dt, datetime):
        end = start
    else:  # an all-day event without DTEND lasts that day
        end = start + timedelta(days=1) - timedelta(minutes=1)
    if end < start:
        end = start
    kind = _kind(component, kinds, default_kind)
    if kind is None:
        raise ValueError("no kind of event (use --kind)")
    title = _text(component, "SUMMARY") or "Без названия"
    payload: dict[str, Any] = {
        "title": title[:255],
        "kind": kind,
        "starts_at": start.isoformat(),
        "ends_at": end.isoformat(),
        "description": (_text(component, "DESCRIPTION") or "")[:30000],
        "status": "cancelled"
        if (_text(component, "STATUS") or "").upper() == "CANCELLED"
        else "scheduled",
    }
    location = _text(component, "LOCATION")
    if location:
        payload["location"] = location[:500]
    url = _text(component, "URL")
    if url and re.match(r"^https?://", url, re.IGNORECASE):
        payload["url"] = url[:2000]
    return payload
