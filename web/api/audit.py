"""The audit log, newest first."""

from __future__ import annotations

from flask import current_app, jsonify, request

from bridge.audit import ENTRY_ID, entry_dict
from web.api import bp
from web.api.common import ApiError, query_number, require_token


@bp.get("/audit")
@require_token
def audit():
    limit = query_number("limit", low=1, high=1000, default=100)
    before = request.args.get("before") or None
    if before is not None and not ENTRY_ID.match(before):
        raise ApiError(422, "invalid_parameter", "before must be an entry id (the `next` of a "
                       "previous page)", [{"field": "before", "message": "must be an entry id"}])
    entries = current_app.config["SERVICES"].audit.newest(
        limit=limit, before=before, subject=request.args.get("subject") or None
    )
    return jsonify({"entries": [entry_dict(e) for e in entries],
                    "next": entries[-1].id if len(entries) == limit else None})
