"""`/api/v1/events/{external_id}`: upsert, withdraw and read one event announcement.

An event belongs to the source that sent it: its id is stored (and its topic's
external id derived) as the forum id of the source's local id, and its kind,
category and audience come from that source's events.yml and roles.
"""

from __future__ import annotations

from flask import g, jsonify
from pydantic import ValidationError

from bridge.events import EventIn, check_event
from bridge.versioned import MAX_VERSION, Accepted
from web.api.common import (
    ApiError,
    accepted,
    forum_id,
    json_body,
    query_number,
    require_token,
    scoped,
    sourced,
    validation_details,
)
from web.current import current_services
from workers.events import submit


def _answer(submitted: tuple[Accepted, str | None]):
    """202 with the job when the change was stored; 200 `ignored` when it was not newer."""
    result, job_id = submitted
    if job_id is None:
        return jsonify({"status": "ignored", "version": result.version}), 200
    return accepted(job_id, version=result.version)


def present(event) -> dict:
    """A stored event as the API shows it: its id within the source, and the source."""
    return sourced(event.public(current_services().settings.discourse_url), event.external_id)


@scoped("/events/<external_id>", methods=["PUT"])
@require_token
def put_event(external_id: str):
    external_id = forum_id(external_id)
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_event", "The body must be a JSON object.")
    try:
        event = EventIn.model_validate(body)
    except ValidationError as error:
        raise ApiError(
            422, "invalid_event", "The event is not valid.", validation_details(error)
        ) from None
    problems = check_event(event, g.source.events, g.source.roles)
    if problems:
        raise ApiError(422, "invalid_event", "The event is not valid.", problems)
    return _answer(submit(
        current_services(), external_id, event.desired(), version=event.version, cause="api",
        source=g.source.code,
    ))


@scoped("/events/<external_id>", methods=["DELETE"])
@require_token
def delete_event(external_id: str):
    external_id = forum_id(external_id)
    version = query_number("version", low=0, high=MAX_VERSION)
    services = current_services()
    event = services.events.get(external_id)
    if event is None:
        raise ApiError(404, "not_found", "No such event.")
    return _answer(submit(
        services, external_id, event.desired, version=version, removed=True, cause="api",
        source=g.source.code,
    ))


@scoped("/events/<external_id>", methods=["GET"])
@require_token
def get_event(external_id: str):
    event = current_services().events.get(forum_id(external_id))
    if event is None:
        raise ApiError(404, "not_found", "No such event.")
    return jsonify(present(event))
