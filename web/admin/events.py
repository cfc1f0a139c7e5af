"""Events with links to their topics."""

from __future__ import annotations

from flask import render_template

from web.admin.access import (
    PAGE,
    bp,
    page_number,
)
from web.admin.scope import scope, source_code
from web.current import current_services

_EVENT_STATUS = {"scheduled": "запланировано", "cancelled": "отменено"}


@bp.get("/events")
def events():
    services = current_services()
    within = scope()
    federation = services.config.sources
    dirty = set(services.events.dirty_ids())
    found = sorted((e for e in services.events.all()
                    if within.everything or within.has(e.external_id)),
                   key=lambda e: str(e.desired.get("starts_at") or ""), reverse=True)
    page = page_number()
    shown = found[(page - 1) * PAGE : page * PAGE]
    forum_url = services.settings.discourse_url.rstrip("/")
    rows = []
    for event in shown:
        desired = event.desired
        kind = desired.get("kind") or ""
        code = source_code(event.external_id)
        # Each source announces with its own kinds (sources.yml `events:`).
        kinds = federation[code].events.kinds if code else services.config.events.kinds
        rows.append({
            "external_id": event.external_id,
            "source": code,
            "title": desired.get("title") or "—",
            "kind": getattr(kinds.get(kind), "label", None) or kind or "—",
            "starts_at": desired.get("starts_at"),
            "status": "снято с публикации" if event.removed
            else _EVENT_STATUS.get(desired.get("status") or "scheduled", desired.get("status")),
            "topic_url": event.topic_url(forum_url),
            "topic_id": event.topic_id,
            "pending": event.external_id in dirty,
            "last_error": event.last_error,
        })
    return render_template("admin/events.html", events=rows, page=page,
                           more=page * PAGE < len(found), total=len(found))
