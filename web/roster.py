"""The roster in the web process: `bridge.roster` refusals as API errors, and queueing.

Shared by the API (`POST /api/v1/roster`) and the admin upload, so both parse,
validate, plan and apply a roster the same way.
"""

from __future__ import annotations

from typing import Any

from bridge.roster import (
    RosterPlan,
    RosterRefused,
    apply_roster,
    csv_rows,
    parse_roster,
    plan_roster,
)
from bridge.services import Services
from config import Source
from web.api.common import ApiError
from workers import enqueue

#: How each kind of refusal is answered over HTTP.
STATUS = {"malformed": 400, "invalid": 422, "unsafe": 409, "too_large": 413}


def api_error(refusal: RosterRefused, source: Source | None = None) -> ApiError:
    details = refusal.details
    if source is not None and isinstance(details, dict) and "offboarded_ids" in details:
        details = {**details,
                   "offboarded_ids": [source.local_id(i) for i in details["offboarded_ids"]],
                   "losses": {source.local_id(i): g for i, g in details["losses"].items()}}
    return ApiError(STATUS[refusal.reason], refusal.code, refusal.message, details)


def local_diff(diff: dict, source: Source) -> dict:
    """A roster diff (`RosterDiff.as_dict`) in the source's own ids."""
    local = source.local_id
    return {
        "joins": {g: [local(i) for i in ids] for g, ids in diff["joins"].items()},
        "leaves": {g: [local(i) for i in ids] for g, ids in diff["leaves"].items()},
        "staff": {local(i): flags for i, flags in diff["staff"].items()},
        **{key: [local(i) for i in diff[key]] for key in ("offboarded", "new_members",
                                                          "changed")},
    }


def rows_from_csv(source: Source, raw: bytes) -> list[dict]:
    try:
        return csv_rows(raw, source.roles)
    except RosterRefused as refusal:
        raise api_error(refusal) from None


def plan(services: Services, source: Source, rows: list[Any]) -> RosterPlan:
    """Validate every row and compare with the source's stored members; nothing is stored."""
    try:
        members = parse_roster(services.members, source, rows, services.config.sources)
    except RosterRefused as refusal:
        raise api_error(refusal) from None
    return plan_roster(services.members, services.config.roles, members,
                       services.config.sources, source,
                       max_share=services.settings.offboard_max_share)


def apply(
    services: Services, roster_plan: RosterPlan, *, force: bool = False, cause: str = "roster"
) -> tuple[str | None, dict[str, int]]:
    """Store the roster and queue its sync; (job id or None when unchanged, summary)."""
    try:
        changed = apply_roster(services.members, roster_plan, force=force)
    except RosterRefused as refusal:
        raise api_error(refusal, roster_plan.source) from None
    job_id = enqueue.changes(services, changed, cause, force=force) if changed else None
    summary = {"members": len(roster_plan.members), "changed": len(changed),
               "offboarded": len(roster_plan.diff.offboarded)}
    return job_id, summary
