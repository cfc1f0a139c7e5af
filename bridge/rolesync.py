"""Planning role sync: from desired members and the forum's groups to API calls.

Pure functions, no I/O. The plan spends Discourse's admin budget the way the
API allows it to be spent least: members with a forum account are added to
and removed from a group in batches of 1000 by username, and only staff flag
changes need a call per member (`sync_sso`). Members without an account are
left to their first login, which carries their groups.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bridge.members import Member
from config.mapping import RolesConfig


@dataclass
class GroupPlan:
    group: str
    add_usernames: list[str] = field(default_factory=list)
    remove_usernames: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.add_usernames or self.remove_usernames)


@dataclass
class SyncPlan:
    groups: dict[str, GroupPlan]
    staff: list[str]  # external ids whose admin/moderator flags must change
    seen: dict[str, tuple[int, str]]  # external_id -> (user_id, username) found in groups
    unknown_accounts: dict[str, list[str]]  # group -> usernames of accounts not in the roster

    def write_calls(self, batch: int = 1000) -> int:
        calls = len(self.staff)
        for plan in self.groups.values():
            calls += -(-len(plan.add_usernames) // batch)
            calls += -(-len(plan.remove_usernames) // batch)
        return calls

    def report(self) -> dict:
        return {
            "groups": {
                name: {
                    "add": sorted(plan.add_usernames),
                    "remove": sorted(plan.remove_usernames),
                }
                for name, plan in sorted(self.groups.items())
                if not plan.empty
            },
            "staff": sorted(self.staff),
            "unknown_accounts": {g: sorted(u) for g, u in self.unknown_accounts.items() if u},
        }


def plan_sync(
    members: Iterable[Member],
    roles: RolesConfig,
    current: Mapping[str, list[dict]],
    *,
    usernames: Mapping[str, str],
    staff: Mapping[str, tuple[bool, bool]] | None = None,
) -> SyncPlan:
    """What to change so that the forum's managed groups match the members.

    `current` maps each managed group to its members as Discourse lists them
    (`id`, `username`); `usernames` maps lower-case usernames to external ids;
    `staff` maps forum user ids to their (admin, moderator) flags.
    """
    members = list(members)
    by_id = {m.external_id: m for m in members}
    user_ids = {m.user_id: m.external_id for m in members if m.user_id is not None}
    seen: dict[str, tuple[int, str]] = {}
    in_group: dict[str, set[str]] = defaultdict(set)
    unknown: dict[str, list[str]] = defaultdict(list)

    for group, listed in current.items():
        for user in listed:
            external_id = user_ids.get(user.get("id")) or usernames.get(
                str(user.get("username", "")).lower()
            )
            if external_id is None or external_id not in by_id:
                unknown[group].append(user.get("username", ""))
                continue
            seen[external_id] = (user.get("id"), user.get("username"))
            in_group[external_id].add(group)

    plans = {group: GroupPlan(group) for group in roles.managed}
    staff_changes = []
    for member in members:
        wanted = member.grants(roles)
        present = in_group.get(member.external_id, set())
        has_account = member.account == "exists" or member.external_id in seen
        username = seen.get(member.external_id, (None, member.username))[1]
        for group in sorted(wanted.groups - present):
            if has_account and username:
                plans[group].add_usernames.append(username)
        for group in sorted(present - wanted.groups):
            plans[group].remove_usernames.append(username)
        if staff is not None and has_account:
            user_id = seen.get(member.external_id, (member.user_id, None))[0]
            flags = staff.get(user_id, (False, False)) if user_id is not None else None
            if flags is not None and flags != (wanted.admin, wanted.moderator):
                staff_changes.append(member.external_id)
    return SyncPlan(groups=plans, staff=staff_changes, seen=seen, unknown_accounts=unknown)


@dataclass
class RosterDiff:
    joins: dict[str, list[str]]  # group -> external ids
    leaves: dict[str, list[str]]
    staff: dict[str, dict[str, bool]]  # external id -> new flags
    offboarded: list[str]
    new_members: list[str]
    changed: list[str]

    def as_dict(self) -> dict:
        return {
            "joins": {g: sorted(ids) for g, ids in sorted(self.joins.items()) if ids},
            "leaves": {g: sorted(ids) for g, ids in sorted(self.leaves.items()) if ids},
            "staff": dict(sorted(self.staff.items())),
            "offboarded": sorted(self.offboarded),
            "new_members": sorted(self.new_members),
            "changed": sorted(self.changed),
        }


def roster_diff(
    stored: Mapping[str, Member], roster: Mapping[str, dict], roles: RolesConfig
) -> RosterDiff:
    """How the desired state changes if `roster` (external id -> desired) replaces it."""
    joins: dict[str, list[str]] = defaultdict(list)
    leaves: dict[str, list[str]] = defaultdict(list)
    staff: dict[str, dict[str, bool]] = {}
    changed, new_members = [], []
    empty = roles.grants([], {})
    for external_id, desired in roster.items():
        before = stored.get(external_id)
        old = before.grants(roles) if before else empty
        new_member = Member(external_id=external_id, desired=desired, version=0)
        new = new_member.grants(roles)
        if before is None:
            new_members.append(external_id)
        elif _comparable(before.desired) != _comparable(desired) or before.removed:
            changed.append(external_id)
        for group in new.groups - old.groups:
            joins[group].append(external_id)
        for group in old.groups - new.groups:
            leaves[group].append(external_id)
        if (old.admin, old.moderator) != (new.admin, new.moderator):
            staff[external_id] = {"admin": new.admin, "moderator": new.moderator}
    offboarded = [
        external_id
        for external_id, member in stored.items()
        if external_id not in roster and member.active
    ]
    for external_id in offboarded:
        old = stored[external_id].grants(roles)
        for group in old.groups:
            leaves[group].append(external_id)
        if old.admin or old.moderator:
            staff[external_id] = {"admin": False, "moderator": False}
    return RosterDiff(joins, leaves, staff, offboarded, new_members, changed)


def _comparable(desired: Mapping) -> dict:
    return {k: v for k, v in desired.items() if k != "version"}
