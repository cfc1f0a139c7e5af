"""`/api/v1/events/{external_id}`: upsert, withdraw and read one event announcement."""

from __future__ import annotations

from flask import g, jsonify
from pydantic import ValidationError

from bridge.events import EventIn, check_event
from bridge.versioned import MAX_VERSION
from web.api import bp
from web.api.common import (
    ApiError,
    accepted,
    check_external_id,
    json_body,
    query_number,
    require_token,
    validation_details,
)
from web.current import current_services
from workers.events import event_store, submit


def _ignored(version: int):
    return jsonify({"status": "ignored", "version": version}), 200


@bp.put("/events/<external_id>")
@require_token
def put_event(external_id: str):
    check_external_id(external_id)
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(422, "validation_failed", "The body must be a JSON object.")
    try:
        event = EventIn.model_validate(body)
    except ValidationError as error:
        raise ApiError(
            422, "validation_failed", "The event is not valid.", validation_details(error)
        ) from None
    services = current_services()
    problems = check_event(event, services.config.events, services.config.roles)
    if problems:
        raise ApiError(422, "validation_failed", "The event is not valid.", problems)
    result, job_id = submit(
        services, external_id, event.desired(), version=event.version, cause="api",
        source=g.source.code,
    )
    if job_id is None:
        return _ignored(result.version)
    return accepted(job_id, version=result.version)


@bp.delete("/events/<external_id>")
@require_token
def delete_event(external_id: str):
    check_external_id(external_id)
    version = query_number("version", low=0, high=MAX_VERSION)
    services = current_services()
    event = event_store(services).get(external_id)
    if event is None:
        raise ApiError(404, "not_found", "No such event.")
    result, job_id = submit(
        services, external_id, event.desired, version=version, removed=True, cause="api",
        source=g.source.code,
    )
    if job_id is None:
        return _ignored(result.version)
    return accepted(job_id, version=result.version)


@bp.get("/events/<external_id>")
@require_token
def get_event(external_id: str):
    check_external_id(external_id)
    services = current_services()
    event = event_store(services).get(external_id)
    if event is None:
        raise ApiError(404, "not_found", "No such event.")
    return jsonify(event.public(services.settings.discourse_url))
