"""The roster endpoint: bulk sync, dry run, the offboarding safety valve, CSV."""

from __future__ import annotations

import dataclasses

from tests.support.forum import seed_accounts, writes
from tests.support.members import roster


def with_accounts(forum, client, auth, work, n=30, accounts=range(0, 30, 3)):
    seed_accounts(forum, *[(f"t-{i}", f"acc{i}", f"teacher{i}@example.org") for i in accounts])
    response = client.post("/api/v1/roster", json=roster(n), headers=auth)
    assert response.status_code == 202, response.json
    work()
    return response


def test_roster_reaches_groups_in_bulk(client, auth, forum, work):
    before = forum.stats()
    with_accounts(forum, client, auth, work)
    after = forum.stats()
    assert forum.user("acc0")["groups"] == ["club", "r-vyazma", "winners"]
    assert sorted(forum.user("acc3")["groups"]) == ["club", "jury", "r-vyazma"]
    club = forum.group_members("club")
    assert club == {f"acc{i}" for i in range(0, 30, 3)}
    # Bulk calls only: no per-member look-ups or writes.
    per_member = [k for k in after["by_endpoint"] if "by-external" in k or "sync_sso" in k]
    assert per_member == [] or all(
        after["by_endpoint"][k] == before["by_endpoint"].get(k, 0) for k in per_member
    )


def test_identical_roster_costs_no_write(client, auth, forum, work):
    with_accounts(forum, client, auth, work)
    before = writes(forum)
    again = client.post("/api/v1/roster", json=roster(30), headers=auth)
    assert again.status_code == 200
    assert again.json["status"] == "unchanged"
    work()
    assert writes(forum) == before


def test_role_change_in_roster_moves_groups(client, auth, forum, work):
    with_accounts(forum, client, auth, work)
    changed = roster(30, role_of={0: "jury"})
    assert client.post("/api/v1/roster", json=changed, headers=auth).status_code == 202
    before, reads_before = writes(forum), forum.stats()["reads"]
    work()
    assert sorted(forum.user("acc0")["groups"]) == ["club", "jury", "r-vyazma"]
    # One member changed: one sync_sso moves them (cheaper than reading 33 groups).
    assert writes(forum) - before == 1
    assert forum.stats()["reads"] == reads_before


def test_dry_run_changes_nothing(client, auth, forum, work, services):
    with_accounts(forum, client, auth, work)
    before = forum.state()
    response = client.post("/api/v1/roster?dry_run=true", json=roster(30, role_of={0: "jury"}),
                           headers=auth)
    assert response.status_code == 200
    diff = response.json["diff"]
    assert diff["joins"] == {"jury": ["t-0"]}
    assert diff["offboarded"] == []
    work()
    assert forum.state()["users"] == before["users"]
    assert services.members.get("t-0").desired["roles"] == ["winner"]


def test_safety_valve_refuses_mass_offboarding(client, auth, forum, work):
    with_accounts(forum, client, auth, work)
    shrunk = roster(30, skip=range(20))
    response = client.post("/api/v1/roster", json=shrunk, headers=auth)
    assert response.status_code == 409
    assert response.json["error"] == "too_many_offboarded"
    assert forum.user("acc0")["groups"]  # nothing happened
    forced = client.post("/api/v1/roster?force=true", json=shrunk, headers=auth)
    assert forced.status_code == 202
    work()
    assert forum.user("acc0")["groups"] == []
    assert forum.user("acc0")["logged_out_count"] == 1
    assert forum.user("acc21")["groups"]


def test_reconciliation_repairs_hand_made_changes(client, auth, forum, work, services):
    with_accounts(forum, client, auth, work)
    state = forum.state()
    club = next(g for g in state["groups"] if g["name"] == "club")
    jury = next(g for g in state["groups"] if g["name"] == "jury")
    api = services.discourse
    api.remove_members(club["id"], usernames=["acc0"])
    api.add_members(jury["id"], usernames=["acc0"])
    dry = services.member_sync().group_pass(cause="reconcile", dry_run=True)
    assert dry["groups"]["club"]["add"] == ["t-0"]
    assert dry["groups"]["jury"]["remove"] == ["t-0"]
    assert "club" not in forum.user("acc0")["groups"]
    report = services.member_sync().group_pass(cause="reconcile")
    assert report["write_calls"] == 2
    assert sorted(forum.user("acc0")["groups"]) == ["club", "r-vyazma", "winners"]


def test_reconcile_removes_outsiders_from_exclusive_groups_only(
    client, auth, forum, work, services
):
    with_accounts(forum, client, auth, work)
    forum.seed(users=[{"username": "outsider", "email": "o@example.org", "external_id": "x-1"}],
               memberships={"club": ["outsider"], "jury": ["outsider"]})
    roles = services.config.roles
    relaxed = dataclasses.replace(roles, groups={
        **roles.groups, "jury": dataclasses.replace(roles.groups["jury"], exclusive=False)})
    sync = services.member_sync()
    sync.roles = relaxed
    report = sync.group_pass(cause="reconcile")
    outsider_id = forum.user("outsider")["id"]
    assert report["groups"]["club"]["outsiders"] == [f"account:{outsider_id}"]
    assert report["kept_outsiders"] == {"jury": [f"account:{outsider_id}"]}
    assert forum.user("outsider")["groups"] == ["jury"]
    entries = services.audit.newest(limit=5, subject=f"account:{outsider_id}")
    assert [(e.action, e.target) for e in entries] == [("group.remove_outsider", "club")]


def test_csv_roster(client, auth, forum, work):
    seed_accounts(forum, ("c-1", "petrov", "petrov@example.org"))
    body = ("external_id,email,name,roles,district,school\n"
            "c-1,petrov@example.org,Петров Иван,winner;jury,Гагаринский район,Школа №1\n"
            "c-2,sidorova@example.org,Сидорова Анна,participant,,\n")
    response = client.post("/api/v1/roster", data=body.encode(), headers={
        **auth, "Content-Type": "text/csv"})
    assert response.status_code == 202, response.json
    work()
    assert sorted(forum.user("petrov")["groups"]) == ["club", "jury", "r-gagarin", "winners"]


def test_bad_rosters_are_refused_and_change_nothing(client, auth, forum, services):
    cases = [
        ({"json": {"not": "a list"}}, 422),
        ({"json": [{"external_id": "a", "email": "not-an-email"}]}, 422),
        ({"json": [{"external_id": "a b", "email": "a@example.org"}]}, 422),
        ({"json": [{"external_id": "a", "email": "a@example.org", "roles": ["pope"]}]}, 422),
        ({"json": [{"external_id": "a", "email": "a@example.org"}] * 2}, 422),
        ({"data": b"[", "headers": {"Content-Type": "application/json"}}, 400),
        ({"data": b"x,y\n1,2\n", "headers": {"Content-Type": "text/csv"}}, 400),
        ({"data": b"external_id,email\n", "headers": {"Content-Type": "text/plain"}}, 415),
    ]
    for kwargs, status in cases:
        headers = {**auth, **kwargs.pop("headers", {})}
        response = client.post("/api/v1/roster", headers=headers, **kwargs)
        assert response.status_code == status, (kwargs, response.json)
        assert set(response.json) == {"error", "message", "details"}
    assert services.members.all_ids() == []


def test_the_valve_guards_roles_too(client, auth, forum, work, services):
    """A roster that strips many active members of managed groups is refused until forced."""
    with_accounts(forum, client, auth, work)
    stored = {m.external_id: m.version for m in services.members.all()}
    demoted = roster(30, role_of={i: "participant" for i in range(0, 30, 4)})  # 8 winners
    refused = client.post("/api/v1/roster", json=demoted, headers=auth)
    assert refused.status_code == 409
    assert refused.json["error"] == "too_many_lose_groups"
    details = refused.json["details"]
    assert (details["losing_groups"], details["active"], details["offboarded"]) == (8, 30, 0)
    assert details["losses"]["t-0"] == ["winners"]
    assert {m.external_id: m.version for m in services.members.all()} == stored
    assert not services.members.dirty_ids()

    dry = client.post("/api/v1/roster?dry_run=true", json=demoted, headers=auth)
    assert dry.status_code == 200
    assert dry.json["safety_valve"]["trips"] is True

    forced = client.post("/api/v1/roster?force=true", json=demoted, headers=auth)
    assert forced.status_code == 202
    work()
    assert forum.user("acc0")["groups"] == ["club", "participants", "r-vyazma"]


def test_an_unknown_csv_column_is_refused_by_name(client, auth, forum, services):
    body = ("external_id,email,role\n"
            "c-1,petrov@example.org,winner\n")
    response = client.post("/api/v1/roster", data=body.encode(), headers={
        **auth, "Content-Type": "text/csv"})
    assert response.status_code == 422
    assert response.json["error"] == "unknown_columns"
    assert "'role'" in response.json["message"]
    assert response.json["details"] == [{"field": "role", "message": "unknown column"}]
    assert services.members.all_ids() == []


def test_a_csv_header_with_a_bare_carriage_return_is_a_clear_refusal(client, auth, services):
    for body in (b"external_id,em\rail\nc-1,a@example.org\n", b"external_id,\"em\rail\"\n"):
        response = client.post("/api/v1/roster", data=body, headers={
            **auth, "Content-Type": "text/csv"})
        assert 400 <= response.status_code < 500, response.json
    assert services.members.all_ids() == []


def test_a_csv_with_too_many_columns_is_refused_before_parsing(client, auth, services):
    body = ("external_id," + ",".join(f"c{i}" for i in range(1_000_000)) + "\n").encode()
    response = client.post("/api/v1/roster", data=body, headers={
        **auth, "Content-Type": "text/csv"})
    assert response.status_code == 422
    assert "at most 64 columns" in response.json["message"]


def test_with_webhooks_reconciliation_checks_sizes_and_reads_every_group_daily(
    client, auth, forum, work, services
):
    from workers.members import reconcile

    with_accounts(forum, client, auth, work)
    settings = dataclasses.replace(services.config.settings, discourse_webhook_secret="s" * 16)
    services.config = dataclasses.replace(services.config, settings=settings)

    full = reconcile()  # no full pass yet: every group is read
    assert "mode" not in full
    before = forum.stats()["accepted"]
    quick = reconcile()
    assert (quick["mode"], quick["differing"]) == ("quick", [])
    assert forum.stats()["accepted"] - before == 1  # the group index: 36 groups a call

    club = services.discourse.group("club")
    acc0 = forum.user("acc0")["id"]
    services.discourse.remove_members(club["id"], user_ids=[acc0])  # by hand
    repaired = reconcile()
    assert repaired["differing"] == ["club"]
    assert repaired["groups"]["club"]["add"] == ["t-0"]
    assert "club" in forum.user("acc0")["groups"]
