"""The planning of role sync, as pure functions: no Redis, no Discourse."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.members import Member
from bridge.rolesync import plan_sync, roster_diff
from config import load_mappings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def roles():
    return load_mappings(ROOT / "config")[0]


def member(external_id, roles_, *, account="exists", user_id=None, username=None,
           active=True, district="Вяземский район"):
    return Member(
        external_id=external_id,
        desired={"email": f"{external_id}@example.org", "roles": roles_, "active": active,
                 "attributes": {"district": district}},
        version=1, account=account, user_id=user_id, username=username or external_id,
    )


def test_adds_and_removes_are_batched_per_group(roles):
    members = [member(f"m{i}", ["winner"], user_id=i) for i in range(2500)]
    current = {name: [] for name in roles.managed}
    current["jury"] = [{"id": 0, "username": "m0"}]
    plan = plan_sync(members, roles, current, usernames={}, staff={})
    assert len(plan.groups["club"].add_usernames) == 2500
    assert plan.groups["jury"].remove_usernames == ["m0"]
    # 2500 adds to each of club, winners, r-vyazma: 3 calls each; 1 removal call.
    assert plan.write_calls() == 3 * 3 + 1


def test_members_without_an_account_cost_nothing(roles):
    members = [member("a", ["winner"], account="none"), member("b", ["winner"], account="none")]
    plan = plan_sync(members, roles, {name: [] for name in roles.managed}, usernames={},
                     staff={})
    assert plan.write_calls() == 0


def test_accounts_outside_the_roster_are_reported_not_touched(roles):
    current = {name: [] for name in roles.managed}
    current["club"] = [{"id": 99, "username": "stranger"}]
    plan = plan_sync([], roles, current, usernames={}, staff={})
    assert plan.unknown_accounts == {"club": ["stranger"]}
    assert plan.write_calls() == 0


def test_staff_flags_follow_roles_both_ways(roles):
    members = [member("mod", ["moderator"], user_id=1), member("ex", ["participant"], user_id=2)]
    staff = {2: (False, True)}  # "ex" is still a moderator on the forum
    plan = plan_sync(members, roles, {name: [] for name in roles.managed}, usernames={},
                     staff=staff)
    assert sorted(plan.staff) == ["ex", "mod"]


def test_accounts_are_recognised_by_id_even_after_a_rename(roles):
    members = [member("t-1", ["winner"], user_id=5, username="old_name")]
    current = {name: [] for name in roles.managed}
    current["club"] = [{"id": 5, "username": "new_name"}]
    plan = plan_sync(members, roles, current, usernames={}, staff={})
    assert plan.seen == {"t-1": (5, "new_name")}
    assert "new_name" in plan.groups["winners"].add_usernames


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
