"""Webhooks end to end: the sandbox forum sends them signed, as Discourse does, to the
bridge over real HTTP; a hand-made change in a managed group is read back and repaired."""

from __future__ import annotations

import time

import pytest
import requests

from tests.conftest import API_KEY
from tests.support.flow import log_in
from workers.queue import queue

pytestmark = pytest.mark.usefixtures("bridge")

SECRET = "webhook-secret-0123456789"
ADMIN = {"Api-Key": API_KEY, "Api-Username": "system"}


@pytest.fixture
def environ(environ):
    return {**environ, "DISCOURSE_WEBHOOK_SECRET": SECRET}


def by_hand(forum, method: str, group_id: int, user_id: int) -> None:
    """An administrator changes a group in the forum's own UI (the same endpoint)."""
    response = requests.request(method, f"{forum.url}/groups/{group_id}/members.json",
                                json={"user_ids": str(user_id)}, headers=ADMIN, timeout=5)
    assert response.status_code == 200, response.text


def flush(forum) -> list[dict]:
    response = forum.control.post(forum.url + "/_sandbox/webhooks/flush", timeout=30)
    return response.json()["deliveries"]


def test_hand_made_drift_is_repaired_from_the_webhook(
    runner, forum, client, auth, browser, services, work
):
    setup = runner.invoke(args=["discourse", "setup", "--webhooks"])
    assert setup.exit_code == 0, setup.output
    assert "webhook created" in setup.output
    doctor = runner.invoke(args=["doctor"])
    assert "[ok] the forum's webhook to" in doctor.output
    assert "webhook updated" in runner.invoke(args=["discourse", "webhook"]).output

    body = {"email": "ivanova.mp@teachers.example.org", "name": "Иванова Мария Петровна",
            "roles": ["participant"], "attributes": {}, "version": 1}
    assert client.put("/api/v1/members/t-1001", json=body, headers=auth).status_code == 202
    work()
    log_in(browser, forum.url, "t-1001")
    flush(forum)
    work()
    teacher = next(u for u in forum.state()["users"] if u["external_id"] == "t-1001")
    assert services.members.get("t-1001").user_id == teacher["id"]
    forum.seed(users=[{"username": "stranger", "email": "s@example.org"}])
    stranger = next(u for u in forum.state()["users"] if u["username"] == "stranger")
    club = services.discourse.group("club")

    before = forum.stats()["by_endpoint"].copy()
    started = time.monotonic()
    by_hand(forum, "PUT", club["id"], stranger["id"])
    by_hand(forum, "DELETE", club["id"], teacher["id"])
    delivered = flush(forum)
    assert {d["status"] for d in delivered} == {200}
    assert len(queue(services.redis_raw)) == 2  # one read-back per account
    work()
    repaired = time.monotonic() - started

    state = {u["username"]: u for u in forum.state()["users"]}
    assert state["stranger"]["groups"] == []
    assert "club" in state[teacher["username"]]["groups"]
    assert repaired < 60
    after = forum.stats()["by_endpoint"]
    spent = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    # Read back by id, then one write each; no group was read in full.
    assert spent == {
        "GET /admin/users/{user_id}.json": 2,
        "PUT /groups/{group_id}/members.json": 1,  # by hand
        "DELETE /groups/{group_id}/members.json": 2,  # by hand, and the outsider's removal
        "POST /admin/users/sync_sso": 1,  # the teacher's groups put back
    }
    entries = services.audit.newest(limit=5, subject=f"account:{stranger['id']}")
    assert [(e.action, e.target, e.cause) for e in entries] == [
        ("group.remove_outsider", "club", "webhook")]

    # The bridge's own changes come back as webhooks too: they cost nothing.
    flush(forum)
    assert len(queue(services.redis_raw)) == 0
