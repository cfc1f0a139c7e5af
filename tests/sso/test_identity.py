"""Identity you can prove: a member's forum account is the one Discourse keys on them.

Through the public API and a real login (forum -> bridge -> identity provider ->
bridge -> forum): an outsider who holds the username the bridge derived (or was
given) never gets the teacher's groups and is never logged out or anonymized;
offboarding and erasure reach exactly the teacher's account, or fail loudly.
"""

from __future__ import annotations

import pytest
import requests

from bridge.members import PREFIX as MEMBER_PREFIX
from tests.conftest import API_KEY
from tests.support.flow import log_in
from workers.queue import queue

pytestmark = pytest.mark.usefixtures("bridge")

OUTSIDER = {"username": "ivanova_mp", "email": "someone.else@example.org",
            "name": "Иванова Маргарита Павловна"}


def user_by(forum, **match) -> dict:
    found = [u for u in forum.state()["users"]
             if all(u[key] == value for key, value in match.items())]
    assert len(found) == 1, (match, forum.state()["users"])
    return found[0]


def member_state(client, auth, external_id) -> dict:
    response = client.get(f"/api/v1/members/{external_id}", headers=auth)
    assert response.status_code == 200
    return response.json


def job_status(client, auth, response) -> dict:
    return client.get(response.json["status_url"], headers=auth).json


def put_teacher(client, auth, version, **fields):
    body = {"email": "ivanova.mp@teachers.example.org", "name": "Иванова Мария Петровна",
            "roles": ["participant"], "attributes": {"district": "Вяземский район"},
            "version": version, **fields}
    response = client.put("/api/v1/members/t-1001", json=body, headers=auth)
    assert response.status_code == 202, response.json
    return response


@pytest.mark.parametrize("explicit", [False, True], ids=["derived-username", "api-username"])
def test_an_outsider_with_the_teachers_username_is_never_touched(
    forum, client, auth, browser, services, work, explicit
):
    forum.seed(users=[OUTSIDER])
    extra = {"username": "ivanova_mp"} if explicit else {}
    put_teacher(client, auth, 1, **extra)
    work()
    assert member_state(client, auth, "t-1001")["forum"] is None

    log_in(browser, forum.url, "t-1001")  # Discourse gives the teacher another name
    work()
    teacher = user_by(forum, external_id="t-1001")
    assert teacher["username"] != "ivanova_mp"
    state = member_state(client, auth, "t-1001")
    assert state["account"] == "bound"
    assert state["forum"] == {"user_id": teacher["id"], "username": teacher["username"]}

    put_teacher(client, auth, 2, roles=["winner", "jury"], **extra)
    work()
    services.member_sync().group_pass(cause="reconcile")
    teacher = user_by(forum, external_id="t-1001")
    assert set(teacher["groups"]) == {"club", "winners", "jury", "r-vyazma"}
    assert user_by(forum, username="ivanova_mp")["groups"] == []

    erased = client.delete("/api/v1/members/t-1001?erase=true", headers=auth)
    assert erased.status_code == 202
    work()
    assert job_status(client, auth, erased)["status"] == "finished"
    outsider = user_by(forum, username="ivanova_mp")
    assert (outsider["anonymized"], outsider["logged_out_count"]) == (False, 0)
    assert outsider["email"] == OUTSIDER["email"]
    anonymized = user_by(forum, id=teacher["id"])
    assert anonymized["anonymized"] is True
    assert anonymized["logged_out_count"] >= 1
    assert member_state(client, auth, "t-1001")["account"] == "erased"


def test_an_outsider_is_removed_from_exclusive_groups_a_pending_member_is_not(
    forum, client, auth, browser, services, work
):
    forum.seed(users=[OUTSIDER], memberships={"club": ["ivanova_mp"]})
    put_teacher(client, auth, 1)
    work()
    log_in(browser, forum.url, "t-1001")
    queue(services.redis_raw).empty()  # the account is not learned yet
    teacher = user_by(forum, external_id="t-1001")
    assert member_state(client, auth, "t-1001")["account"] == "pending"

    report = services.member_sync().group_pass(cause="reconcile")
    outsider = user_by(forum, username="ivanova_mp")
    assert report["groups"]["club"]["outsiders"] == [f"account:{outsider['id']}"]
    assert outsider["groups"] == []
    # The teacher's account was confirmed by one read and bound, never removed.
    assert set(user_by(forum, external_id="t-1001")["groups"]) == set(teacher["groups"])
    assert "club" in teacher["groups"]
    assert member_state(client, auth, "t-1001")["forum"]["user_id"] == teacher["id"]


@pytest.mark.parametrize("erase", [False, True])
def test_delete_right_after_a_first_login_reaches_the_new_account(
    forum, client, auth, browser, services, work, erase
):
    put_teacher(client, auth, 1)
    work()
    log_in(browser, forum.url, "t-1001")
    queue(services.redis_raw).empty()  # before anything learned the user id
    response = client.delete(f"/api/v1/members/t-1001?erase={str(erase).lower()}", headers=auth)
    work()
    status = job_status(client, auth, response)
    assert status == {"id": response.json["job_id"], "status": "finished", "error": None}
    teacher = [u for u in forum.state()["users"] if u["logged_out_count"]]
    assert len(teacher) == 1
    assert teacher[0]["groups"] == []
    assert teacher[0]["anonymized"] is erase
    actions = [e.action for e in services.audit.newest(limit=10, subject="member:t-1001")]
    assert "logout" in actions
    assert ("anonymize" in actions) is erase


def test_offboarding_without_a_forum_account_says_so(forum, client, auth, services, work):
    put_teacher(client, auth, 1)
    work()
    response = client.delete("/api/v1/members/t-1001?erase=true", headers=auth)
    work()
    assert job_status(client, auth, response)["status"] == "finished"
    assert member_state(client, auth, "t-1001")["account"] == "none"
    entry = services.audit.newest(limit=1, subject="member:t-1001")[0]
    assert (entry.action, entry.result) == ("offboard", "no forum account")
    assert forum.state()["users"] == []


def test_offboarding_fails_loudly_when_the_bound_account_is_gone(
    forum, client, auth, browser, services, work
):
    put_teacher(client, auth, 1)
    work()
    log_in(browser, forum.url, "t-1001")
    work()
    teacher = user_by(forum, external_id="t-1001")
    deleted = requests.delete(f"{forum.url}/admin/users/{teacher['id']}.json", timeout=5,
                              headers={"Api-Key": API_KEY, "Api-Username": "system"})
    assert deleted.json() == {"deleted": True}

    response = client.delete("/api/v1/members/t-1001?erase=true", headers=auth)
    work()
    status = job_status(client, auth, response)
    assert status["status"] == "failed"
    assert "no longer exists" in status["error"]
    assert "no longer exists" in member_state(client, auth, "t-1001")["last_error"]
    actions = [e.action for e in services.audit.newest(limit=10, subject="member:t-1001")]
    assert "logout" not in actions
    assert "anonymize" not in actions


def test_an_erased_member_leaves_no_personal_data_behind(
    forum, client, auth, browser, services, work
):
    put_teacher(client, auth, 1)
    work()
    log_in(browser, forum.url, "t-1001")
    work()
    response = client.delete("/api/v1/members/t-1001?erase=true", headers=auth)
    work()
    assert job_status(client, auth, response)["status"] == "finished"
    state = member_state(client, auth, "t-1001")
    assert state["desired"] == {"active": False, "erase": True}
    assert state["account"] == "erased"
    stored = services.redis.hgetall(MEMBER_PREFIX + "t-1001")
    assert not any("ivanova" in value.lower() for value in stored.values())
    assert services.members.requested_by("ivanova_mp") is None  # the name is free again
    # A replay of the old change is still acknowledged and ignored.
    again = client.put("/api/v1/members/t-1001", headers=auth, json={
        "email": "ivanova.mp@teachers.example.org", "roles": ["participant"], "version": 1})
    assert (again.status_code, again.json["status"]) == (200, "ignored")
