"""Planning role sync: from desired members and the forum's groups to API calls.

Pure functions, no I/O. The plan spends Discourse's admin budget the way the
API allows it to be spent least: members bound to a forum account are added to
and removed from a group in batches of 1000 by user id, and only staff flag
changes need a call per member (`sync_sso`). Members without an account are
left to their first login, which carries their groups.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bridge.members import Member, union
from config.mapping import Grants, RolesConfig


@dataclass
class GroupPlan:
    group: str
    add: list[int] = field(default_factory=list)  # forum user ids of members
    remove: list[int] = field(default_factory=list)  # forum user ids of members
    outsiders: list[int] = field(default_factory=list)  # accounts no roster member is bound to

    @property
    def empty(self) -> bool:
        return not (self.add or self.remove or self.outsiders)


@dataclass
class SyncPlan:
    groups: dict[str, GroupPlan]
    staff: list[str]  # external ids whose admin/moderator flags must change
    members_by_user: dict[int, str]  # forum user id -> external id, for the audit
    kept_outsiders: dict[str, list[int]]  # group -> outsiders a non-exclusive group keeps
    wanted: dict[int, Grants] = field(default_factory=dict)  # forum user id -> its grants

    @property
    def outsider_accounts(self) -> set[int]:
        return {uid for plan in self.groups.values() for uid in plan.outsiders}

    def write_calls(self, batch: int = 1000) -> int:
        calls = len(self.staff)
        for plan in self.groups.values():
            calls += -(-len(plan.add) // batch)
            calls += -(-(len(plan.remove) + len(plan.outsiders)) // batch)
        return calls

    def report(self) -> dict:
        def names(ids: Iterable[int]) -> list[str]:
            return sorted(self.members_by_user.get(uid, f"account:{uid}") for uid in ids)

        return {
            "groups": {
                name: {"add": names(plan.add), "remove": names(plan.remove),
                       "outsiders": names(plan.outsiders)}
                for name, plan in sorted(self.groups.items())
                if not plan.empty
            },
            "staff": sorted(self.staff),
            "kept_outsiders": {g: names(ids) for g, ids in sorted(self.kept_outsiders.items())
                               if ids},
        }


def plan_sync(
    members: Iterable[Member],
    roles: RolesConfig,
    current: Mapping[str, Iterable[int]],
    *,
    outsiders: Iterable[int] = (),
    staff: Mapping[int, tuple[bool, bool]] | None = None,
) -> SyncPlan:
    """What to change so that the forum's managed groups match the members.

    `current` maps each managed group to plan (all of them, or those a repair
    looks at) to the forum user ids Discourse lists in it. Members are matched
    to accounts by the user id bound to them, never by name. `outsiders` are the
    listed accounts confirmed to belong to no roster member: removed from
    exclusive groups, kept in the others. An account neither bound nor
    confirmed is left alone (it may be a member whose account is still being
    learned). `staff` maps user ids to their (admin, moderator).
    """
    members = list(members)
    bound = {m.user_id: m for m in members if m.bound}
    # An account's grants are what all its listings grant (one person, several sources).
    wanted_by_user = {uid: m.grants(roles) for uid, m in bound.items()}
    anchors = {m.external_id: uid for uid, m in bound.items()}
    for member in members:
        uid = anchors.get(member.linked_to) if member.linked_to else None
        if uid is not None:
            wanted_by_user[uid] = union([wanted_by_user[uid], member.grants(roles)])
    outsiders = set(outsiders) - set(bound)
    plans = {group: GroupPlan(group) for group in current}
    kept: dict[str, list[int]] = defaultdict(list)
    present: dict[int, set[str]] = defaultdict(set)
    for group, user_ids in current.items():
        for user_id in user_ids:
            if user_id in bound:
                present[user_id].add(group)
            elif user_id in outsiders:
                target = plans[group].outsiders if group in roles.exclusive else kept[group]
                target.append(user_id)

    staff_changes = []
    for user_id, member in sorted(bound.items()):
        wanted = wanted_by_user[user_id]
        have = present.get(user_id, set())
        for group in sorted((wanted.groups - have) & plans.keys()):
            plans[group].add.append(user_id)
        for group in sorted(have - wanted.groups):
            plans[group].remove.append(user_id)
        if staff is not None and staff.get(user_id, (False, False)) != (wanted.admin,
                                                                       wanted.moderator):
            staff_changes.append(member.external_id)
    return SyncPlan(
        groups=plans,
        staff=staff_changes,
        members_by_user={uid: m.external_id for uid, m in bound.items()},
        kept_outsiders=dict(kept),
        wanted=wanted_by_user,
    )


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
