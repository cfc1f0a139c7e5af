"""The roster's core, shared by the API (`POST /api/v1/roster`) and the admin pages.

Parsing, validation, the diff with its offboarding safety valve, and applying
it. Problems are raised as `ApiError` (status, machine-readable code, message,
details): the API answers them as they are, the admin pages show them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from bridge.members import EXTERNAL_ID, Member, MemberIn, RosterMemberIn, check_member
from bridge.rolesync import RosterDiff, roster_diff
from bridge.services import Services
from web.api.common import ApiError, validation_details
from workers.members import enqueue_changes

_BOOLEAN = {"true": True, "false": False, "1": True, "0": False, "": None}


def member_problems(
    svc: Services, member: MemberIn, external_id: str, where: str = ""
) -> list[dict]:
    """Domain rules for one member: known role codes, a valid username not taken by another."""
    problems = check_member(member, svc.config.roles)
    if member.username:
        owner = svc.members.external_id_for_username(member.username)
        if owner is not None and owner != external_id:
            problems.append({"field": "username", "message": "username is taken by another member"})
    for problem in problems:
        problem["field"] = where + problem["field"]
    return problems


def csv_rows(raw: bytes) -> list[dict]:
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


def parse_roster(svc: Services, rows: list[Any]) -> dict[str, RosterMemberIn]:
    """Validate every row; all problems at once (the first 200) or the members by id."""
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
        problems += member_problems(svc, member, member.external_id, where)
        members[member.external_id] = member
    if problems:
        raise ApiError(422, "invalid_roster", f"The roster has {len(problems)} problem(s).",
                       problems[:200])
    return members


@dataclass
class RosterPlan:
    """A validated roster against the stored members: the diff and the safety valve."""

    members: dict[str, RosterMemberIn]
    desired: dict[str, dict]
    stored: dict[str, Member]
    diff: RosterDiff
    active: int  # active members stored now
    max_share: float

    @property
    def too_many_offboarded(self) -> bool:
        return bool(self.active) and len(self.diff.offboarded) > self.max_share * self.active

    def refusal(self) -> ApiError:
        offboarded, active, limit = len(self.diff.offboarded), self.active, self.max_share
        return ApiError(
            409, "too_many_offboarded",
            f"The roster would offboard {offboarded} of {active} active members "
            f"(more than {limit:.0%}). Check it, or send it again with ?force=true.",
            {"offboarded": offboarded, "active": active, "max_share": limit},
        )


def plan_roster(svc: Services, members: dict[str, RosterMemberIn]) -> RosterPlan:
    stored = {m.external_id: m for m in svc.members.all()}
    desired = {ext: m.model_dump(exclude={"version", "external_id"}, mode="json")
               for ext, m in members.items()}
    return RosterPlan(
        members=members,
        desired=desired,
        stored=stored,
        diff=roster_diff(stored, desired, svc.config.roles),
        active=sum(1 for m in stored.values() if m.active),
        max_share=svc.settings.offboard_max_share,
    )


def apply_roster(
    svc: Services, plan: RosterPlan, *, force: bool = False, cause: str = "roster"
) -> tuple[str | None, dict[str, int]]:
    """Store the roster and queue its sync; (job id or None when unchanged, summary).

    Refuses with 409 when the safety valve trips and `force` is not given.
    """
    if plan.too_many_offboarded and not force:
        raise plan.refusal()
    changed = []
    for external_id, member in plan.members.items():
        result = svc.members.accept(external_id, plan.desired[external_id],
                                    version=member.version)
        if result.applied:
            changed.append(external_id)
    for external_id in plan.diff.offboarded:
        before = plan.stored[external_id]
        svc.members.accept(external_id, dict(before.desired, active=False), version=None,
                           removed=True)
        changed.append(external_id)
    job_id = enqueue_changes(svc, changed, cause) if changed else None
    summary = {"members": len(plan.members), "changed": len(changed),
               "offboarded": len(plan.diff.offboarded)}
    return job_id, summary
