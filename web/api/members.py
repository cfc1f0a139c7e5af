"""Members and the roster: the institute's system tells the bridge who is who."""

from __future__ import annotations

import csv
import io

from flask import current_app, jsonify, request
from pydantic import ValidationError

from bridge.members import EXTERNAL_ID, MemberIn, RosterMemberIn, check_member
from bridge.rolesync import roster_diff
from web.api import bp
from web.api.common import (
    MAX_ROSTER_BODY,
    ApiError,
    accepted,
    check_external_id,
    json_body,
    require_token,
    validation_details,
)
from workers.members import enqueue_group_pass, enqueue_member

_BOOLEAN = {"true": True, "false": False, "1": True, "0": False, "": None}


def _services():
    return current_app.config["SERVICES"]


def _flag(name: str) -> bool:
    value = request.args.get(name, "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise ApiError(422, "invalid_parameter", f"{name} must be true or false")
    return value in ("true", "1")


def _check(member: MemberIn, external_id: str, where: str = "") -> list[dict]:
    svc = _services()
    problems = check_member(member, svc.config.roles)
    if member.username:
        owner = svc.members.external_id_for_username(member.username)
        if owner is not None and owner != external_id:
            problems.append({"field": "username", "message": "username is taken by another member"})
    for problem in problems:
        problem["field"] = where + problem["field"]
    return problems


@bp.put("/members/<external_id>")
@require_token
def put_member(external_id: str):
    check_external_id(external_id)
    try:
        member = MemberIn.model_validate(json_body())
    except ValidationError as error:
        raise ApiError(422, "invalid_member", "The member is not valid.",
                       validation_details(error)) from None
    problems = _check(member, external_id)
    if problems:
        raise ApiError(422, "invalid_member", "The member is not valid.", problems)
    svc = _services()
    desired = member.model_dump(exclude={"version"}, mode="json")
    result = svc.members.accept(external_id, desired, version=member.version)
    if not result.applied:
        return jsonify({"status": "ignored", "version": result.version,
                        "message": "An equal or newer version is already stored."}), 200
    job_id = enqueue_member(svc, external_id, result.version)
    return accepted(job_id, version=result.version)


@bp.delete("/members/<external_id>")
@require_token
def delete_member(external_id: str):
    check_external_id(external_id)
    erase = _flag("erase")
    svc = _services()
    member = svc.members.get(external_id)
    if member is None:
        raise ApiError(404, "not_found", "No such member.")
    desired = dict(member.desired, active=False)
    if erase:
        desired["erase"] = True
    result = svc.members.accept(external_id, desired, version=None, removed=True)
    job_id = enqueue_member(svc, external_id, result.version)
    return accepted(job_id, version=result.version, erase=erase)


@bp.get("/members/<external_id>")
@require_token
def get_member(external_id: str):
    if not EXTERNAL_ID.match(external_id):
        raise ApiError(404, "not_found", "No such member.")
    member = _services().members.get(external_id)
    if member is None:
        raise ApiError(404, "not_found", "No such member.")
    return jsonify(member.public())


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
        return _csv_rows(raw)
    raise ApiError(415, "unsupported_media_type", "Send application/json or text/csv.")


def _csv_rows(raw: bytes) -> list[dict]:
    """CSV with a header row; `roles` split on ';' or '|'; unknown columns are attributes."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(400, "malformed_csv", "The CSV must be UTF-8.") from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "external_id" not in reader.fieldnames:
        raise ApiError(400, "malformed_csv", "The CSV needs a header row with external_id.")
    rows = []
    try:
        for line in reader:
            if None in line:
                raise ApiError(400, "malformed_csv",
                               f"Line {reader.line_num} has more cells than the header.")
            row: dict = {"attributes": {}}
            for key, value in line.items():
                value = (value or "").strip()
                if key in ("external_id", "email", "name", "username"):
                    if value:
                        row[key] = value
                elif key == "roles":
                    row["roles"] = [r.strip() for r in value.replace("|", ";").split(";")
                                    if r.strip()]
                elif key == "active":
                    if value.lower() not in _BOOLEAN:
                        raise ApiError(422, "invalid_roster",
                                       f"Line {reader.line_num}: active must be true or false.")
                    if _BOOLEAN[value.lower()] is not None:
                        row["active"] = _BOOLEAN[value.lower()]
                elif key == "version":
                    if value:
                        if not value.isdigit():
                            raise ApiError(422, "invalid_roster",
                                           f"Line {reader.line_num}: version must be a number.")
                        row["version"] = int(value)
                elif value:
                    row["attributes"][key] = value
            rows.append(row)
    except csv.Error as error:
        raise ApiError(400, "malformed_csv", f"The CSV is malformed: {error}") from None
    return rows


@bp.post("/roster")
@require_token
def post_roster():
    dry_run, force = _flag("dry_run"), _flag("force")
    rows = _roster_rows()
    svc = _services()
    members: dict[str, RosterMemberIn] = {}
    problems: list[dict] = []
    for index, row in enumerate(rows):
        where = f"[{index}]."
        try:
            member = RosterMemberIn.model_validate(row)
        except ValidationError as error:
            problems += [{"field": where + d["field"], "message": d["message"]}
                         for d in validation_details(error)]
            continue
        if not EXTERNAL_ID.match(member.external_id):
            problems.append({"field": where + "external_id",
                             "message": "must be 1-64 characters of A-Z a-z 0-9 . _ : -"})
        elif member.external_id in members:
            problems.append({"field": where + "external_id", "message": "appears twice"})
        problems += _check(member, member.external_id, where)
        members[member.external_id] = member
    if problems:
        raise ApiError(422, "invalid_roster", f"The roster has {len(problems)} problem(s).",
                       problems[:200])

    stored = {m.external_id: m for m in svc.members.all()}
    desired = {ext: m.model_dump(exclude={"version", "external_id"}, mode="json")
               for ext, m in members.items()}
    diff = roster_diff(stored, desired, svc.config.roles)
    active = sum(1 for m in stored.values() if m.active)
    limit = svc.settings.offboard_max_share
    if active and len(diff.offboarded) > limit * active and not force and not dry_run:
        raise ApiError(
            409, "too_many_offboarded",
            f"The roster would offboard {len(diff.offboarded)} of {active} active members "
            f"(more than {limit:.0%}). Check it, or send it again with ?force=true.",
            {"offboarded": len(diff.offboarded), "active": active, "max_share": limit},
        )
    if dry_run:
        return jsonify({"dry_run": True, "diff": diff.as_dict()})

    changed = 0
    for external_id, member in members.items():
        result = svc.members.accept(external_id, desired[external_id], version=member.version)
        changed += result.applied
    for external_id in diff.offboarded:
        before = stored[external_id]
        svc.members.accept(external_id, dict(before.desired, active=False), version=None,
                           removed=True)
        changed += 1
    job_id = enqueue_group_pass(svc, "roster") if changed else None
    summary = {"members": len(members), "changed": changed, "offboarded": len(diff.offboarded)}
    if job_id is None:
        return jsonify({"status": "unchanged", **summary}), 200
    return accepted(job_id, **summary)
