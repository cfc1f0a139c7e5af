"""Members and the roster: the institute's system tells the bridge who is who."""

from __future__ import annotations

from flask import g, jsonify, request
from pydantic import ValidationError

from bridge.members import EXTERNAL_ID, MemberIn
from bridge.roster import member_problems
from web import roster  # the roster's core, shared with the admin pages
from web.api.common import (
    MAX_ROSTER_BODY,
    ApiError,
    accepted,
    forum_id,
    json_body,
    require_token,
    scoped,
    sourced,
    validation_details,
)
from web.current import current_services
from workers import enqueue


def _flag(name: str) -> bool:
    value = request.args.get(name, "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise ApiError(422, "invalid_parameter", f"{name} must be true or false")
    return value in ("true", "1")


def present(member) -> dict:
    """A stored member as the API shows it: its id within the source, and the source."""
    public = sourced(member.public(), member.external_id)
    if member.linked_to:  # the account is the one of this listing in another source
        anchor_source, anchor_id = current_services().config.sources.split(member.linked_to)
        public["linked_to"] = {"source": anchor_source.code, "external_id": anchor_id}
    return public


@scoped("/members/<external_id>", methods=["PUT"])
@require_token
def put_member(external_id: str):
    external_id = forum_id(external_id)
    try:
        member = MemberIn.model_validate(json_body())
    except ValidationError as error:
        raise ApiError(422, "invalid_member", "The member is not valid.",
                       validation_details(error)) from None
    services = current_services()
    problems = member_problems(services.members, g.source.roles, member, external_id)
    if problems:
        raise ApiError(422, "invalid_member", "The member is not valid.", problems)
    desired = member.model_dump(exclude={"version"}, mode="json")
    result = services.members.accept(external_id, desired, version=member.version)
    if not result.stored:
        return jsonify({"status": "ignored", "version": result.version,
                        "message": "An equal or newer version is already stored."}), 200
    job_id = enqueue.member(services, external_id, result.version)
    return accepted(job_id, version=result.version)


@scoped("/members/<external_id>", methods=["DELETE"])
@require_token
def delete_member(external_id: str):
    external_id = forum_id(external_id)
    erase, force = _flag("erase"), _flag("force")
    services = current_services()
    member = services.members.get(external_id)
    if member is None:
        raise ApiError(404, "not_found", "No such member.")
    desired = dict(member.desired, active=False)
    if erase:
        # The account is the person's in every source that lists them: one source
        # alone may not anonymize it unless it insists (then every link is dropped).
        elsewhere = services.member_sync().listed_elsewhere(member)
        if elsewhere and not force:
            raise ApiError(409, "listed_elsewhere",
                           "Other sources still list this person; their forum account stays. "
                           "Send ?force=true to anonymize it anyway (every link is dropped).",
                           {"sources": elsewhere})
        desired["erase"] = True
        if elsewhere:
            desired["unlink"] = True
    result = services.members.accept(external_id, desired, version=None, removed=True)
    job_id = enqueue.member(services, external_id, result.version)
    return accepted(job_id, version=result.version, erase=erase)


@scoped("/members/<external_id>", methods=["GET"])
@require_token
def get_member(external_id: str):
    if not EXTERNAL_ID.match(external_id):
        raise ApiError(404, "not_found", "No such member.")
    try:
        external_id = forum_id(external_id)
    except ApiError:
        raise ApiError(404, "not_found", "No such member.") from None
    member = current_services().members.get(external_id)
    if member is None:
        raise ApiError(404, "not_found", "No such member.")
    return jsonify(present(member))


def _roster_rows() -> list:
    if (request.content_length or 0) > MAX_ROSTER_BODY:
        raise ApiError(413, "payload_too_large", "A roster must be at most 20 MiB.")
    if request.mimetype == "application/json":
        rows = json_body(limit=MAX_ROSTER_BODY)
        if not isinstance(rows, list):
            raise ApiError(422, "invalid_roster", "The roster must be a JSON array of members.")
        return rows
    if request.mimetype == "text/csv":
        raw = request.get_data(cache=True)
        if len(raw) > MAX_ROSTER_BODY:
            raise ApiError(413, "payload_too_large", "A roster must be at most 20 MiB.")
        return roster.rows_from_csv(g.source, raw)
    raise ApiError(415, "unsupported_media_type", "Send application/json or text/csv.")


@scoped("/roster", methods=["POST"])
@require_token
def post_roster():
    dry_run, force = _flag("dry_run"), _flag("force")
    rows = _roster_rows()
    services = current_services()
    plan = roster.plan(services, g.source, rows)
    if dry_run:
        diff = plan.diff.as_dict()
        if services.config.federated:
            diff = roster.local_diff(diff, g.source)
        return jsonify({"dry_run": True, "diff": diff, "safety_valve": {
            "trips": plan.unsafe, "active": plan.active, "max_share": plan.max_share,
            "offboarded": len(plan.diff.offboarded), "losing_groups": len(plan.losing_groups),
        }})
    job_id, summary = roster.apply(services, plan, force=force)
    if job_id is None:
        return jsonify({"status": "unchanged", **summary}), 200
    return accepted(job_id, **summary)
