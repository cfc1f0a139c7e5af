"""The roster: the institute's whole member list, replacing the stored one.

Parse (JSON rows or CSV), validate every row, plan against the stored members
(the diff and the safety valve), apply (store durably; the caller queues the
sync). Shared by the API (`POST /api/v1/roster`) and the admin upload. A
refusal is a `RosterRefused` carrying a machine-readable code and details,
raised before anything is stored; the web layers turn it into their answers.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from bridge.members import EXTERNAL_ID, Member, MemberIn, MemberStore, RosterMemberIn, check_member
from bridge.rolesync import RosterDiff, roster_diff
from config.mapping import RolesConfig
from config.sources import Federation, Source

MEMBER_FIELDS = ("external_id", "email", "name", "username", "roles", "active", "version")
MAX_COLUMNS = 64
MAX_CELL = 1024  # characters; every field's own limit is lower
MAX_PROBLEMS = 200
_HEADER_LINE = re.compile(r"[^\r\n]*")
_BOOLEAN = {"true": True, "false": False, "1": True, "0": False, "": None}


class RosterRefused(Exception):
    """The roster (or one member) is refused as a whole: nothing was stored.

    `reason` says which kind of refusal it is: `malformed` (not parseable),
    `invalid` (breaks a rule), `unsafe` (the safety valve), `too_large`.
    """

    def __init__(self, reason: str, code: str, message: str, details: Any = None):
        super().__init__(message)
        self.reason = reason
        self.code = code
        self.message = message
        self.details = details


def member_problems(
    store: MemberStore, roles: RolesConfig, member: MemberIn, external_id: str, where: str = ""
) -> list[dict]:
    """Domain rules for one member: known role codes, a valid username no other member asked for."""
    problems = check_member(member, roles)
    if member.username:
        owner = store.requested_by(member.username)
        if owner is not None and owner != external_id:
            problems.append({"field": "username", "message": "username is taken by another member"})
    for problem in problems:
        problem["field"] = where + problem["field"]
    return problems


# -- CSV ------------------------------------------------------------------------------


def csv_rows(raw: bytes, roles: RolesConfig) -> list[dict]:
    """CSV with a header row: the member fields and the attributes `roles.yml` names.

    `roles` is split on ';' or '|'. Any other column is refused by name: a typo
    such as `role` for `roles` must never strip everyone's roles.
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RosterRefused("malformed", "malformed_csv", "The CSV must be UTF-8.") from None
    if _HEADER_LINE.match(text).group().count(",") >= MAX_COLUMNS:
        raise RosterRefused("invalid", "invalid_roster",
                            f"The CSV may have at most {MAX_COLUMNS} columns.")
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = [name.strip() for name in next(reader, [])]
        _check_header(header, roles)
        rows = [_csv_row(header, cells, reader.line_num) for cells in reader if any(cells)]
    except csv.Error as error:
        raise RosterRefused("malformed", "malformed_csv",
                            f"The CSV is malformed: {error}") from None
    return rows


def _check_header(header: list[str], roles: RolesConfig) -> None:
    if "external_id" not in header:
        raise RosterRefused("malformed", "malformed_csv",
                            "The CSV needs a header row with external_id.")
    allowed = set(MEMBER_FIELDS) | set(roles.attributes)
    unknown = [name for name in header if name not in allowed]
    if unknown:
        raise RosterRefused(
            "invalid", "unknown_columns",
            f"Unknown CSV column(s): {', '.join(repr(n[:40]) for n in unknown[:10])}. "
            f"Columns are the member fields ({', '.join(MEMBER_FIELDS)}) and the attributes "
            "roles.yml names.",
            [{"field": name[:80], "message": "unknown column"} for name in unknown[:MAX_PROBLEMS]],
        )
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise RosterRefused("invalid", "invalid_roster",
                            f"Column(s) appear twice: {', '.join(repeated)}.")


def _csv_row(header: list[str], cells: list[str], line: int) -> dict:
    if len(cells) > len(header):
        raise RosterRefused("malformed", "malformed_csv",
                            f"Line {line} has more cells than the header.")
    row: dict[str, Any] = {"attributes": {}}
    for key, value in zip(header, cells, strict=False):
        if len(value) > MAX_CELL:
            raise RosterRefused("invalid", "invalid_roster",
                                f"Line {line}: the {key} cell is over {MAX_CELL} characters.")
        value = value.strip()
        if key in ("external_id", "email", "name", "username"):
            if value:
                row[key] = value
        elif key == "roles":
            row["roles"] = [r.strip() for r in value.replace("|", ";").split(";") if r.strip()]
        elif key == "active":
            if value.lower() not in _BOOLEAN:
                raise RosterRefused("invalid", "invalid_roster",
                                    f"Line {line}: active must be true or false.")
            if _BOOLEAN[value.lower()] is not None:
                row["active"] = _BOOLEAN[value.lower()]
        elif key == "version":
            if value:
                if not (value.isascii() and value.isdigit()):
                    raise RosterRefused("invalid", "invalid_roster",
                                        f"Line {line}: version must be a number.")
                row["version"] = int(value)
        elif value:
            row["attributes"][key] = value
    return row


# -- validation, plan, apply -------------------------------------------------------------


def parse_roster(
    store: MemberStore, source: Source, rows: Iterable[Any], federation: Federation
) -> dict[str, RosterMemberIn]:
    """Validate every row; all problems at once (the first 200) or the members by forum id.

    Rows carry the source's own ids; the result is keyed by the forum external
    ids the store knows the members by (`Source.forum_id`).
    """
    roles = source.roles
    members: dict[str, RosterMemberIn] = {}
    problems: list[dict] = []
    for index, row in enumerate(rows):
        where = f"[{index}]."
        try:
            member = RosterMemberIn.model_validate(row)
        except ValidationError as error:
            problems += [{"field": where + ".".join(str(p) for p in item["loc"]),
                          "message": item["msg"]}
                         for item in error.errors(include_url=False, include_input=False)]
            continue
        if not EXTERNAL_ID.match(member.external_id):
            problems.append({"field": where + "external_id",
                             "message": "must be 1-64 characters of A-Z a-z 0-9 . _ : -"})
            continue
        if source.legacy_ids and federation.legacy_conflict(member.external_id):
            problems.append({"field": where + "external_id",
                             "message": "may not begin with another source's code and a colon"})
            continue
        key = source.forum_id(member.external_id)
        if key in members:
            problems.append({"field": where + "external_id", "message": "appears twice"})
        problems += member_problems(store, roles, member, key, where)
        members[key] = member
    if problems:
        raise RosterRefused("invalid", "invalid_roster",
                            f"The roster has {len(problems)} problem(s).", problems[:MAX_PROBLEMS])
    return members


@dataclass
class RosterPlan:
    """A validated roster against the stored members: the diff and the safety valves."""

    members: dict[str, RosterMemberIn]
    desired: dict[str, dict]
    stored: dict[str, Member]
    diff: RosterDiff
    active: int  # active members stored now
    max_share: float
    source: Source | None = None  # whose roster it is

    @property
    def losing_groups(self) -> dict[str, list[str]]:
        """Members who stay active but lose managed groups: external id -> the groups."""
        lost: dict[str, list[str]] = {}
        offboarded = set(self.diff.offboarded)
        for group, ids in self.diff.leaves.items():
            for external_id in ids:
                if external_id not in offboarded:
                    lost.setdefault(external_id, []).append(group)
        return {external_id: sorted(groups) for external_id, groups in sorted(lost.items())}

    @property
    def too_many_offboarded(self) -> bool:
        return self._over_share(len(self.diff.offboarded))

    @property
    def too_many_lose_groups(self) -> bool:
        return self._over_share(len(self.losing_groups))

    @property
    def unsafe(self) -> bool:
        return self.too_many_offboarded or self.too_many_lose_groups

    def _over_share(self, count: int) -> bool:
        return bool(self.active) and count > self.max_share * self.active

    def refusal(self) -> RosterRefused:
        active, limit = self.active, self.max_share
        offboarded, losing = self.diff.offboarded, self.losing_groups
        details = {
            "active": active,
            "max_share": limit,
            "offboarded": len(offboarded),
            "offboarded_ids": sorted(offboarded)[:MAX_PROBLEMS],
            "losing_groups": len(losing),
            "losses": dict(list(losing.items())[:MAX_PROBLEMS]),
        }
        if self.too_many_offboarded:
            return RosterRefused(
                "unsafe", "too_many_offboarded",
                f"The roster would offboard {len(offboarded)} of {active} active members "
                f"(more than {limit:.0%}). Check it, or send it again with ?force=true.",
                details,
            )
        return RosterRefused(
            "unsafe", "too_many_lose_groups",
            f"The roster would take managed groups away from {len(losing)} of {active} active "
            f"members (more than {limit:.0%}). Check it, or send it again with ?force=true.",
            details,
        )


def plan_roster(
    store: MemberStore, roles: RolesConfig, members: dict[str, RosterMemberIn],
    federation: Federation, source: Source, *, max_share: float,
) -> RosterPlan:
    """The roster against the stored members of its own source: a roster replaces only
    its source's members, and the safety valve counts only them."""
    stored = {m.external_id: m for m in store.all()
              if federation.source_of(m.external_id).code == source.code}
    desired = {ext: m.model_dump(exclude={"version", "external_id"}, mode="json")
               for ext, m in members.items()}
    return RosterPlan(
        members=members,
        desired=desired,
        stored=stored,
        diff=roster_diff(stored, desired, roles),
        active=sum(1 for m in stored.values() if m.active),
        max_share=max_share,
        source=source,
    )


def apply_roster(store: MemberStore, plan: RosterPlan, *, force: bool = False) -> list[str]:
    """Store the roster; returns the external ids whose desired state changed.

    Refuses (nothing stored) when a safety valve trips and `force` is not given.
    """
    if plan.unsafe and not force:
        raise plan.refusal()
    listed = [(external_id, plan.desired[external_id], member.version, False)
              for external_id, member in plan.members.items()]
    leaving = [(external_id, dict(plan.stored[external_id].desired, active=False), None, True)
               for external_id in plan.diff.offboarded]
    results = store.accept_many(listed + leaving)
    changed = [change[0] for change, result in zip(listed, results, strict=False)
               if result.stored]
    return changed + [change[0] for change in leaving]
