"""The audit log, newest first."""

from __future__ import annotations

from flask import jsonify

from bridge.audit import ENTRY_ID, SUBJECT, entry_dict
from web.api import bp
from web.api.common import query_number, query_text, require_token
from web.current import current_services


@bp.get("/audit")
@require_token
def audit():
    limit = query_number("limit", low=1, high=1000, default=100)
    before = query_text("before", ENTRY_ID, hint="an entry id: the `next` of a previous page")
    subject = query_text("subject", SUBJECT, hint="like member:t-1 or group:club "
                         "(1-100 characters of A-Z a-z 0-9 . _ : -)")
    entries = current_services().audit.newest(
        limit=limit, before=before, subject=subject
    )
    return jsonify({"entries": [entry_dict(e) for e in entries],
                    "next": entries[-1].id if len(entries) == limit else None})
