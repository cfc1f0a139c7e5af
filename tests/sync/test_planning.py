"""The planning of role sync, as pure functions: no Redis, no Discourse."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bridge.members import Member
from bridge.rolesync import plan_sync, roster_diff
from config import load_mappings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def roles():
    return load_mappings(ROOT / "config")[0]


def member(external_id, roles_, *, account="bound", user_id=None, active=True,
           district="Вяземский район"):
    return Member(
        external_id=external_id,
        desired={"email": f"{external_id}@example.org", "roles": roles_, "active": active,
                 "attributes": {"district": district}},
        version=1, account=account, user_id=user_id,
    )


def no_groups(roles) -> dict:
    return {name: [] for name in roles.managed}


def test_adds_and_removes_are_batched_per_group(roles):
    members = [member(f"m{i}", ["winner"], user_id=i) for i in range(2500)]
    current = no_groups(roles)
    current["jury"] = [0]
    plan = plan_sync(members, roles, current, staff={})
    assert len(plan.groups["club"].add) == 2500
    assert plan.groups["jury"].remove == [0]
    # 2500 adds to each of club, winners, r-vyazma: 3 calls each; 1 removal call.
    assert plan.write_calls() == 3 * 3 + 1


def test_members_without_a_bound_account_cost_nothing(roles):
    members = [member("a", ["winner"], account="none"), member("b", ["winner"], account="pending")]
    plan = plan_sync(members, roles, no_groups(roles), staff={})
    assert plan.write_calls() == 0


def test_unconfirmed_accounts_are_left_alone(roles):
    """An account no member is bound to may be a member's whose id is not learned yet."""
    current = no_groups(roles)
    current["club"] = [99]
    plan = plan_sync([member("t-1", ["winner"], account="pending")], roles, current, staff={})
    assert plan.write_calls() == 0


def test_confirmed_outsiders_leave_exclusive_groups_only(roles):
    current = no_groups(roles)
    current["club"] = [99]
    plan = plan_sync([], roles, current, outsiders={99}, staff={})
    assert plan.groups["club"].outsiders == [99]
    relaxed = dataclasses.replace(roles, groups={
        name: dataclasses.replace(spec, exclusive=name != "club")
        for name, spec in roles.groups.items()})
    plan = plan_sync([], relaxed, current, outsiders={99}, staff={})
    assert plan.write_calls() == 0
    assert plan.kept_outsiders == {"club": [99]}


def test_a_bound_account_is_never_an_outsider(roles):
    current = no_groups(roles)
    current["club"] = [5]
    plan = plan_sync([member("t-1", ["winner"], user_id=5)], roles, current, outsiders={5},
                     staff={})
    assert plan.groups["club"].outsiders == []
    assert plan.groups["club"].remove == []


def test_staff_flags_follow_roles_both_ways(roles):
    members = [member("mod", ["moderator"], user_id=1), member("ex", ["participant"], user_id=2)]
    staff = {2: (False, True)}  # "ex" is still a moderator on the forum
    plan = plan_sync(members, roles, no_groups(roles), staff=staff)
    assert sorted(plan.staff) == ["ex", "mod"]


def test_accounts_are_matched_by_id_only(roles):
    """Names play no part: a renamed account is still the member's, another is not."""
    members = [member("t-1", ["winner"], user_id=5)]
    current = no_groups(roles)
    current["club"] = [5]
    plan = plan_sync(members, roles, current, staff={})
    assert plan.groups["club"].add == []
    assert plan.groups["winners"].add == [5]
    assert plan.report()["groups"]["winners"]["add"] == ["t-1"]


def test_roster_diff(roles):
    stored = {"a": member("a", ["winner"]), "b": member("b", ["moderator"]),
              "c": member("c", ["participant"])}
    roster = {
        "a": {"email": "a@example.org", "roles": ["jury"], "attributes": {}},
        "c": dict(stored["c"].desired),
        "d": {"email": "d@example.org", "roles": ["participant"], "attributes": {}},
    }
    diff = roster_diff(stored, roster, roles).as_dict()
    assert diff["offboarded"] == ["b"]
    assert diff["new_members"] == ["d"]
    assert diff["changed"] == ["a"]
    assert diff["joins"]["jury"] == ["a"]
    assert sorted(diff["leaves"]["club-mods"]) == ["b"]
    assert diff["staff"] == {"b": {"admin": False, "moderator": False}}
