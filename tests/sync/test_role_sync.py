"""Role sync end to end: the API, real Redis, real RQ workers, the sandbox over HTTP."""

from __future__ import annotations

from tests.support.forum import seed_accounts, writes
from tests.support.members import member_body


def put(client, auth, external_id, body):
    return client.put(f"/api/v1/members/{external_id}", json=body, headers=auth)


def test_member_with_account_gets_groups_without_logging_in(client, auth, forum, work):
    seed_accounts(forum, ("t-1", "ivanova_mp", "ivanova@example.org"))
    response = put(client, auth, "t-1", member_body(version=1))
    assert response.status_code == 202
    assert response.headers["Location"] == response.json["status_url"]
    before = writes(forum)
    work()
    user = forum.user("ivanova_mp")
    assert set(user["groups"]) == {"club", "winners", "r-vyazma"}
    assert writes(forum) - before == 1  # one sync_sso carries all groups and flags
    status = client.get(response.json["status_url"], headers=auth).json
    assert status == {"id": response.json["job_id"], "status": "finished", "error": None}
    state = client.get("/api/v1/members/t-1", headers=auth).json
    assert state["forum"]["username"] == "ivanova_mp"
    assert state["version"] == 1


def test_member_without_account_waits_for_first_login(client, auth, forum, work):
    assert put(client, auth, "t-2", member_body(version=1)).status_code == 202
    work()
    assert forum.state()["users"] == []
    assert client.get("/api/v1/members/t-2", headers=auth).json["forum"] is None


def test_role_change_and_staff_flag_follow(client, auth, forum, work):
    seed_accounts(forum, ("t-1", "ivanova_mp", "ivanova@example.org"))
    put(client, auth, "t-1", member_body(roles=["winner"], version=1))
    work()
    put(client, auth, "t-1", member_body(roles=["participant", "moderator"], version=2))
    work()
    user = forum.user("ivanova_mp")
    assert set(user["groups"]) == {"club", "participants", "club-mods", "r-vyazma"}
    assert user["moderator"] is True
    put(client, auth, "t-1", member_body(roles=["participant"], version=3))
    work()
    user = forum.user("ivanova_mp")
    assert user["moderator"] is False
    assert "club-mods" not in user["groups"]


def test_versions_out_of_order_end_in_the_newest(client, auth, forum, work):
    seed_accounts(forum, ("t-1", "ivanova_mp", "ivanova@example.org"))
    assert put(client, auth, "t-1", member_body(roles=["jury"], version=5)).status_code == 202
    stale = put(client, auth, "t-1", member_body(roles=["winner"], version=4))
    assert stale.status_code == 200
    assert stale.json["status"] == "ignored"
    assert put(client, auth, "t-1", member_body(roles=["jury"], version=5)).status_code == 200
    work()
    assert set(forum.user("ivanova_mp")["groups"]) == {"club", "jury", "r-vyazma"}


def test_unmanaged_groups_are_never_touched(client, auth, forum, work, services):
    seed_accounts(forum, ("t-1", "ivanova_mp", "ivanova@example.org"))
    forum.seed(groups=[{"name": "book-club"}], memberships={"book-club": ["ivanova_mp"]})
    put(client, auth, "t-1", member_body(version=1))
    work()
    client.delete("/api/v1/members/t-1", headers=auth)
    work()
    services.member_sync().group_pass(cause="reconcile")
    assert forum.user("ivanova_mp")["groups"] == ["book-club"]


def test_offboarding_removes_groups_flags_and_session(client, auth, forum, work):
    seed_accounts(forum, ("t-1", "ivanova_mp", "ivanova@example.org"))
    put(client, auth, "t-1", member_body(roles=["moderator"], version=1))
    work()
    response = client.delete("/api/v1/members/t-1", headers=auth)
    assert response.status_code == 202
    work()
    user = forum.user("ivanova_mp")
    assert user["groups"] == []
    assert user["moderator"] is False
    assert user["logged_out_count"] >= 1
    assert client.get("/api/v1/members/t-1", headers=auth).json["desired"]["active"] is False


def test_erase_anonymizes_the_account(client, auth, forum, work):
    seed_accounts(forum, ("t-1", "ivanova_mp", "ivanova@example.org"))
    put(client, auth, "t-1", member_body(version=1))
    work()
    assert client.delete("/api/v1/members/t-1?erase=true", headers=auth).status_code == 202
    work()
    users = forum.state()["users"]
    assert len(users) == 1
    assert users[0]["anonymized"] is True
    assert users[0]["email"] != "ivanova@example.org"
    assert users[0]["groups"] == []


def test_unknown_member_is_404(client, auth, forum):
    assert client.delete("/api/v1/members/nobody", headers=auth).status_code == 404
    assert client.get("/api/v1/members/nobody", headers=auth).status_code == 404


def test_bad_member_input_is_refused_and_changes_nothing(client, auth, services):
    good = member_body(version=1)
    cases = [
        ({"json": good, "headers": {}}, 401),
        ({"json": good, "headers": {"Authorization": "Bearer wrong-token-0123456789"}}, 401),
        ({"data": "x", "headers": {**auth, "Content-Type": "text/plain"}}, 415),
        ({"data": b'{"email": "' + b"a" * (1024 * 1024) + b'"}',
          "headers": {**auth, "Content-Type": "application/json"}}, 413),
        ({"data": b"{", "headers": {**auth, "Content-Type": "application/json"}}, 400),
        ({"json": {**good, "name": "Я" * 256}, "headers": auth}, 422),
        ({"json": {**good, "active": "true"}, "headers": auth}, 422),
        ({"json": {**good, "version": -1}, "headers": auth}, 422),
        ({"json": {**good, "version": "2"}, "headers": auth}, 422),
        ({"json": {**good, "email": "ivanova@"}, "headers": auth}, 422),
        ({"json": {**good, "roles": ["pope"]}, "headers": auth}, 422),
        ({"json": {**good, "username": "admin"}, "headers": auth}, 422),
        ({"json": {**good, "nickname": "x"}, "headers": auth}, 422),
    ]
    for kwargs, status in cases:
        response = client.put("/api/v1/members/t-1", **kwargs)
        assert response.status_code == status, (kwargs.get("json"), response.json)
        assert set(response.json) == {"error", "message", "details"}
    assert client.put("/api/v1/members/t%201", json=good, headers=auth).status_code == 422
    assert client.put("/api/v1/members/" + "x" * 65, json=good, headers=auth).status_code == 422
    assert services.members.all_ids() == []
    assert len(services.redis_raw.keys("rq:job:*")) == 0
