"""Discourse webhooks: signed, and they save calls or repair a deleted announcement."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import io
import itertools
import json

import pytest

from tests.support.events import live_topics
from tests.support.members import member_body
from web.webhooks import DELIVERY_PREFIX
from workers.events import event_job_id, setup_categories, sweep_dirty_events
from workers.queue import queue

SECRET = "webhook-secret-0123456789"
EVENT = {"title": "Семинар по наставничеству", "kind": "seminar",
         "starts_at": "2026-12-03T15:00:00+03:00", "ends_at": "2026-12-03T17:00:00+03:00",
         "location": "СОИРО", "description": "Разговор о наставничестве.", "version": 1}


@pytest.fixture
def hooks(services):
    from web import create_app

    settings = dataclasses.replace(services.config.settings, discourse_webhook_secret=SECRET)
    services.config = dataclasses.replace(services.config, settings=settings)
    return create_app(services=services).test_client()


_deliveries = itertools.count(1)


def deliver(client, event: str, payload: dict, *, secret: str = SECRET,
            delivery: int | None = None):
    body = json.dumps(payload).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post("/webhooks/discourse", data=body, headers={
        "Content-Type": "application/json", "X-Discourse-Event": event,
        "X-Discourse-Event-Type": event.split("_")[0], "X-Discourse-Instance": "http://forum",
        "X-Discourse-Event-Id": str(delivery or next(_deliveries)),
        "X-Discourse-Event-Signature": f"sha256={signature}"})


def test_disabled_without_a_secret(client):
    assert client.post("/webhooks/discourse", json={"ping": "OK"}).status_code == 404


def test_bad_signatures_are_refused(hooks, client, auth, services):
    client.put("/api/v1/members/t-1", json=member_body(version=1), headers=auth)
    user = {"user": {"id": 7, "username": "ivanova_mp", "external_id": "t-1"}}
    assert deliver(hooks, "user_logged_in", user, secret="another-secret-000").status_code == 403
    assert services.members.get("t-1").user_id is None
    unsigned = hooks.post("/webhooks/discourse", json=user,
                          headers={"X-Discourse-Event": "user_logged_in"})
    assert unsigned.status_code == 403


def test_user_events_record_the_forum_account(hooks, client, auth, services):
    client.put("/api/v1/members/t-1", json=member_body(version=1), headers=auth)
    response = deliver(hooks, "user_logged_in", {"user": {
        "id": 7, "username": "ivanova_mp", "external_id": "t-1", "email": "i@example.org"}})
    assert response.json["outcome"] == "account recorded"
    member = services.members.get("t-1")
    assert (member.account, member.user_id, member.username) == ("bound", 7, "ivanova_mp")
    assert deliver(hooks, "ping", {"ping": "OK"}).json["outcome"] == "ignored"


@pytest.fixture
def announced(client, auth, services, sandbox, work):
    """Event ev-1, announced on the forum."""
    setup_categories(services)
    assert client.put("/api/v1/events/ev-1", json=EVENT, headers=auth).status_code == 202
    work()
    return services.events.get("ev-1")


def test_a_topic_deleted_by_hand_is_recreated(hooks, announced, services, sandbox, work):
    first = announced
    services.discourse.delete_topic(first.topic_id)
    response = deliver(hooks, "topic_destroyed", {"topic": {"id": first.topic_id}})
    assert response.json["outcome"] == "topic will be checked"
    work()
    second = services.events.get("ev-1")
    assert second.topic_id != first.topic_id
    assert second.topic_external_id.endswith("-g2")
    live = [t for t in sandbox.state()["topics"] if not t["deleted"]]
    assert [t["id"] for t in live] == [second.topic_id]


def test_staff_see_a_deleted_topic_and_the_bridge_treats_it_as_gone(announced, services,
                                                                    sandbox):
    """Discourse answers 404 for a deleted topic to everyone but staff, who see it with
    `deleted_at` (TopicView with_deleted + Guardian#can_see_deleted_topics?); the API
    user is staff."""
    services.discourse.delete_topic(announced.topic_id)
    seen = sandbox.control.get(f"{sandbox.url}/t/{announced.topic_id}.json", headers={
        "Api-Key": services.settings.discourse_api_key, "Api-Username": "system"})
    assert seen.status_code == 200
    assert seen.json()["deleted_at"]
    assert sandbox.control.get(f"{sandbox.url}/t/{announced.topic_id}.json").status_code == 404
    assert services.discourse.topic(announced.topic_id) is None


def test_a_destroyed_webhook_for_a_topic_that_is_there_recreates_nothing(
        hooks, announced, services, sandbox, work):
    """A moderator deleted and recovered the topic before the job ran (or the
    delivery is a replay): the job reads the topic back and leaves it."""
    response = deliver(hooks, "topic_destroyed", {"topic": {"id": announced.topic_id}})
    assert response.json["outcome"] == "topic will be checked"
    work()
    assert [t["id"] for t in live_topics(sandbox)] == [announced.topic_id]
    event = services.events.get("ev-1")
    assert (event.topic_id, event.generation) == (announced.topic_id, 1)
    assert "ev-1" not in services.events.dirty_ids()


def test_topic_recovered_creates_nothing(hooks, announced, services, sandbox, work):
    services.discourse.delete_topic(announced.topic_id)
    response = deliver(hooks, "topic_recovered", {"topic": {"id": announced.topic_id}})
    assert response.json["outcome"] == "ignored"
    assert len(queue(services.redis_raw)) == 0


def test_a_delivery_is_acted_on_once(hooks, announced, services):
    """Discourse retries a delivery, and a replay repeats it, under the same event id."""
    services.discourse.delete_topic(announced.topic_id)
    payload = {"topic": {"id": announced.topic_id}}
    assert deliver(hooks, "topic_destroyed", payload, delivery=4711).json["outcome"] == (
        "topic will be checked")
    again = deliver(hooks, "topic_destroyed", payload, delivery=4711)
    assert (again.status_code, again.json["outcome"]) == (200, "duplicate delivery")
    key = next(services.redis.scan_iter(DELIVERY_PREFIX + "*"))
    assert 86000 < services.redis.ttl(key) <= 86400


def test_the_webhook_queues_the_job_the_sweep_looks_for(hooks, announced, services, sandbox,
                                                        work):
    """If the webhook's job is lost (a Redis hiccup, a killed worker), the periodic
    sweep finds the event dirty and queues the same job again."""
    services.discourse.delete_topic(announced.topic_id)
    deliver(hooks, "topic_destroyed", {"topic": {"id": announced.topic_id}})
    job_id = event_job_id("ev-1", 1)
    assert queue(services.redis_raw).job_ids == [job_id]
    queue(services.redis_raw).empty()  # lost
    assert sweep_dirty_events(services) == [job_id]
    work()
    event = services.events.get("ev-1")
    assert event.topic_id != announced.topic_id
    assert [t["id"] for t in live_topics(sandbox)] == [event.topic_id]


class CountingStream(io.BytesIO):
    """A request body that remembers how much of it was read."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.consumed = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.consumed += len(chunk)
        return chunk


def test_a_chunked_body_is_read_only_up_to_the_limit(hooks):
    """Without Content-Length (chunked), the limit applies to the stream itself."""
    from web.webhooks import MAX_BODY

    body = json.dumps({"ping": "x" * (MAX_BODY * 4)}).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    stream = CountingStream(body)
    response = hooks.post("/webhooks/discourse", input_stream=stream, headers={
        "Content-Type": "application/json", "Transfer-Encoding": "chunked",
        "X-Discourse-Event": "ping", "X-Discourse-Event-Signature": f"sha256={signature}"},
        environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413
    assert stream.consumed <= MAX_BODY + 64 * 1024


def test_a_body_over_the_limit_is_refused_and_one_at_the_limit_is_read(hooks):
    from web.webhooks import MAX_BODY

    padding = MAX_BODY - len(json.dumps({"ping": ""}))
    at_limit = {"ping": "x" * padding}
    assert len(json.dumps(at_limit)) == MAX_BODY
    assert deliver(hooks, "ping", at_limit).status_code == 200
    assert deliver(hooks, "ping", {"ping": "x" * (padding + 1)}).status_code == 413
