"""The audit log, newest first."""

from __future__ import annotations

from flask import current_app, jsonify, request

from bridge.audit import entry_dict
from web.api import bp
from web.api.common import ApiError, require_token


@bp.get("/audit")
@require_token
def audit():
    try:
        limit = int(request.args.get("limit", 100))
    except ValueError:
        raise ApiError(422, "invalid_parameter", "limit must be a number") from None
    if not 1 <= limit <= 1000:
        raise ApiError(422, "invalid_parameter", "limit must be between 1 and 1000")
    before = request.args.get("before") or None
    if before is not None and not before.replace("-", "").isdigit():
        raise ApiError(422, "invalid_parameter", "before must be an entry id")
    entries = current_app.config["SERVICES"].audit.newest(
        limit=limit, before=before, subject=request.args.get("subject") or None
    )
    return jsonify({"entries": [entry_dict(e) for e in entries],
                    "next": entries[-1].id if len(entries) == limit else None})
