"""`GET /calendar.ics`: the club calendar teachers subscribe to (public, read-only).

Every announced, upcoming or recent club event (`bridge/club_calendar.py`), with
an ETag and a Last-Modified, so calendar apps polling it cost one small answer
when nothing changed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, request

from bridge.club_calendar import club_calendar
from web.current import current_services

bp = Blueprint("calendar", __name__)

MAX_AGE = 300  # seconds a client or proxy may reuse the document without asking


@bp.get("/calendar.ics")
def calendar_feed() -> Response:
    services = current_services()
    document = club_calendar(
        services.events.all(),
        forum_url=services.settings.discourse_url,
        public_url=services.settings.public_url,
        now=datetime.now(UTC),
    )
    response = Response(document.body, content_type="text/calendar; charset=utf-8")
    response.headers["Content-Disposition"] = 'inline; filename="club-calendar.ics"'
    response.cache_control.public = True
    response.cache_control.max_age = MAX_AGE
    response.set_etag(document.etag)
    if document.last_modified is not None:
        response.last_modified = document.last_modified
    return response.make_conditional(request)
