"""The inbound HTTP API for the institute's system (`/api/v1`)."""

from __future__ import annotations

import logging

import redis
from flask import Blueprint, g, jsonify, request
from werkzeug.exceptions import HTTPException

from web.api.common import ApiError, require_token, scoped
from web.current import current_services

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.errorhandler(ApiError)
def _api_error(error: ApiError):
    return error.response()


@bp.errorhandler(redis.RedisError)
def _storage_down(error: redis.RedisError):
    """Nothing was stored: the caller must send the change again (a 5xx says so)."""
    log.error("Redis unavailable: %s", type(error).__name__)
    response = ApiError(503, "unavailable", "The bridge cannot store changes right now; "
                        "nothing was stored. Send the request again shortly.").response()
    response.headers["Retry-After"] = "5"
    return response


@bp.app_errorhandler(404)
@bp.app_errorhandler(405)
def _unrouted(error: HTTPException):
    """Under /api/, even a path no route matches answers in the API's error format."""
    if request.path.startswith("/api/"):
        return _http_error(error)
    return error


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    """The error in the API's JSON shape, keeping werkzeug's headers (a 405's `Allow`)."""
    codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
    response = ApiError(
        error.code or 500, codes.get(error.code, "http_error"), error.description or ""
    ).response()
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


@scoped("/jobs/<job_id>", methods=["GET"])
@require_token
def job_status(job_id: str):
    from workers.queue import job_state

    state = job_state(current_services().redis_raw, job_id)
    # Another source's job is not this token's to see: as unknown as any other id.
    # A job done for no source in particular (the whole forum's) is answered as its own.
    if state is not None and state["source"] is None:
        state["source"] = g.source.code
    if state is None or state["source"] != g.source.code:
        raise ApiError(404, "not_found",
                       "No such job (a finished job is kept an hour, a failed one 30 days).")
    return jsonify(state)


from web.api import audit, events, members, openapi  # noqa: E402,F401  (routes register themselves)
