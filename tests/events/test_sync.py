"""Event announcements end to end: the API, real Redis, real RQ workers, the sandbox over HTTP."""

from __future__ import annotations

import threading

import pytest

from bridge.events import DIRTY as EVENTS_DIRTY
from bridge.events import topic_external_id
from bridge.rendering import render_event
from tests.support.events import drain, event_body, live_topics, put
from workers.events import event_job_id, report_topic_deleted, sweep_dirty_events, sync_event
from workers.queue import queue


def writes(sandbox) -> int:
    return sandbox.stats()["writes"]


def calls(sandbox) -> int:
    return sandbox.stats()["accepted"]


def only_topic(sandbox, external_id: str) -> dict:
    topics = live_topics(sandbox, external_id)
    assert len(topics) == 1, topics
    return topics[0]


def test_create_announces_one_topic_in_its_category(client, auth, forum, work, services):
    response = put(client, auth, "ev-1", event_body(version=1))
    assert response.status_code == 202
    assert response.json["job_id"] == "event-ev-1-v1"
    assert response.headers["Location"] == response.json["status_url"]
    work()

    topic = only_topic(forum, "ev-1")
    assert topic["external_id"] == topic_external_id("ev-1")
    assert topic["title"] == "Семинар «Функциональная грамотность» — 3 декабря 2026"
    category = next(c for c in forum.state()["categories"] if c["id"] == topic["category_id"])
    assert category["slug"] == "meropriyatiya"
    assert topic["tags"] == ["seminar"]
    assert topic["closed"] is False
    assert topic["visible"] is True
    assert "**Когда:** 3 декабря 2026, 15:00–17:00 (МСК)" in topic["raw"]
    assert topic["raw"].startswith('[event start="2026-12-03 15:00" end="2026-12-03 17:00"')

    state = client.get("/api/v1/events/ev-1", headers=auth).json
    assert state["version"] == 1
    assert state["last_error"] is None
    assert state["forum"]["topic_id"] == topic["id"]
    assert state["forum"]["post_id"] == topic["post_id"]
    assert state["forum"]["topic_external_id"] == topic["external_id"]
    assert state["forum"]["url"].endswith(f"/t/{topic['id']}")
    status = client.get(response.json["status_url"], headers=auth).json
    assert status["status"] == "finished"
    actions = [e.action for e in services.audit.newest(subject="event:ev-1")]
    assert actions == ["topic.create"]
    assert not services.redis.sismember(EVENTS_DIRTY, "ev-1")


def test_unchanged_repush_costs_no_call(client, auth, forum, work):
    put(client, auth, "ev-1", event_body(version=1))
    work()
    before = calls(forum)
    again = put(client, auth, "ev-1", event_body(version=2))  # newer version, same content
    assert again.status_code == 202
    work()
    assert calls(forum) == before  # not a write, not even a read
    same = put(client, auth, "ev-1", event_body(version=2))
    assert same.status_code == 200
    assert same.json == {"status": "ignored", "version": 2}


def test_description_change_is_one_edit_with_a_reason(client, auth, forum, work):
    put(client, auth, "ev-1", event_body(version=1))
    work()
    before = writes(forum)
    put(client, auth, "ev-1", event_body(description="Новый текст описания.", version=2))
    work()
    topic = only_topic(forum, "ev-1")
    assert writes(forum) - before == 1
    assert "Новый текст описания." in topic["raw"]
    assert topic["edit_reasons"] == ["Обновлено из системы института: изменилось описание"]
    assert topic["title"] == "Семинар «Функциональная грамотность» — 3 декабря 2026"


def test_reschedule_edits_text_and_title_in_one_call(client, auth, forum, work):
    put(client, auth, "ev-1", event_body(version=1))
    work()
    before = writes(forum)
    put(client, auth, "ev-1", event_body(starts_at="2026-12-10T11:00:00+03:00",
                                         ends_at="2026-12-11T12:30:00+03:00", version=2))
    work()
    topic = only_topic(forum, "ev-1")
    assert writes(forum) - before == 1
    assert topic["title"] == "Семинар «Функциональная грамотность» — 10 декабря 2026"
    assert "10 декабря 2026, 11:00 — 11 декабря 2026, 12:30 (МСК)" in topic["raw"]
    assert 'start="2026-12-10 11:00" end="2026-12-11 12:30"' in topic["raw"]
    assert topic["edit_reasons"] == ["Обновлено из системы института: изменились дата и время"]


def test_cancel_and_schedule_again(client, auth, forum, work):
    put(client, auth, "ev-1", event_body(version=1))
    work()
    put(client, auth, "ev-1", event_body(status="cancelled", version=2))
    work()
    topic = only_topic(forum, "ev-1")
    assert topic["title"] == "ОТМЕНЕНО: Семинар «Функциональная грамотность» — 3 декабря 2026"
    assert topic["closed"] is True
    assert topic["raw"].startswith("**Мероприятие отменено.**")
    assert "[event" not in topic["raw"]  # off the forum calendar
    assert topic["edit_reasons"][-1] == "Обновлено из системы института: мероприятие отменено"

    put(client, auth, "ev-1", event_body(version=3))
    work()
    topic = only_topic(forum, "ev-1")
    assert topic["title"] == "Семинар «Функциональная грамотность» — 3 декабря 2026"
    assert topic["closed"] is False
    assert "отменено" not in topic["raw"]
    assert topic["edit_reasons"][-1] == (
        "Обновлено из системы института: мероприятие снова в расписании"
    )


def test_withdraw_unlists_and_a_new_version_lists_again(client, auth, forum, work, services):
    put(client, auth, "ev-1", event_body(version=1))
    work()
    response = client.delete("/api/v1/events/ev-1", headers=auth)
    assert response.status_code == 202
    work()
    topic = only_topic(forum, "ev-1")
    assert topic["visible"] is False
    before = writes(forum)
    client.delete("/api/v1/events/ev-1", headers=auth)
    work()
    assert writes(forum) == before  # already unlisted

    put(client, auth, "ev-1", event_body(version=10))
    work()
    assert only_topic(forum, "ev-1")["visible"] is True
    actions = [e.action for e in services.audit.newest(subject="event:ev-1")]
    assert actions == ["topic.list", "topic.unlist", "topic.create"]


def test_withdraw_deletes_in_delete_mode_and_returns_under_a_new_id(
    client, auth, forum, work, delete_mode
):
    put(client, auth, "ev-1", event_body(version=1))
    work()
    assert client.delete("/api/v1/events/ev-1", headers=auth).status_code == 202
    work()
    assert live_topics(forum, "ev-1") == []
    state = client.get("/api/v1/events/ev-1", headers=auth).json
    assert state["forum"] is None

    put(client, auth, "ev-1", event_body(version=10))
    work()
    topic = only_topic(forum, "ev-1")
    assert topic["external_id"] == topic_external_id("ev-1", 2)


@pytest.mark.parametrize("mode", ["unlist", "delete"])
def test_withdrawing_a_topic_deleted_by_hand_lets_it_go(
    client, auth, forum, work, services, request, mode
):
    """The forum refuses to unlist or delete a topic deleted by hand: the withdrawal
    is done all the same, and the next version announces under a new id."""
    if mode == "delete":
        request.getfixturevalue("delete_mode")
    put(client, auth, "ev-1", event_body(version=1))
    work()
    services.discourse.delete_topic(only_topic(forum, "ev-1")["id"])
    assert client.delete("/api/v1/events/ev-1", headers=auth).status_code == 202
    work()
    state = client.get("/api/v1/events/ev-1", headers=auth).json
    assert (state["forum"], state["last_error"]) == (None, None)
    assert "ev-1" not in services.events.dirty_ids()

    put(client, auth, "ev-1", event_body(version=10))
    work()
    assert only_topic(forum, "ev-1")["external_id"] == topic_external_id("ev-1", 2)


def test_two_jobs_at_once_make_one_topic(client, auth, forum, services):
    put(client, auth, "ev-1", event_body(version=1))
    put(client, auth, "ev-1", event_body(description="Вторая редакция.", version=2))
    results = []
    threads = [threading.Thread(target=lambda: results.append(sync_event("ev-1")))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2
    topic = only_topic(forum, "ev-1")
    assert "Вторая редакция." in topic["raw"]


def test_replay_after_a_crash_between_create_and_record(
    client, auth, forum, work, services, store
):
    """The topic exists on the forum, the bridge never recorded it: no second topic."""
    put(client, auth, "ev-1", event_body(version=1))
    event = store.get("ev-1")
    rendered = render_event(event.desired, external_id="ev-1", config=services.config.events,
                            roles=services.config.roles, calendar_url=services.calendar_url)
    category_id = next(c["id"] for c in forum.state()["categories"]
                       if c["slug"] == "meropriyatiya")
    created = services.discourse.create_topic(
        title=rendered.title, raw=rendered.raw, category_id=category_id,
        external_id=topic_external_id("ev-1"), tags=rendered.tags,
    )
    before = writes(forum)
    work()
    topic = only_topic(forum, "ev-1")
    assert topic["id"] == created["topic_id"]
    assert writes(forum) == before  # found, compared, nothing to change
    assert store.get("ev-1").topic_id == created["topic_id"]

    put(client, auth, "ev-1", event_body(status="cancelled", version=2))
    work()
    assert only_topic(forum, "ev-1")["closed"] is True


def test_topic_deleted_by_hand_is_recreated_once(client, auth, forum, work, services):
    put(client, auth, "ev-1", event_body(version=1))
    work()
    first = only_topic(forum, "ev-1")
    services.discourse.delete_topic(first["id"])  # a moderator deletes it by hand

    put(client, auth, "ev-1", event_body(description="Уточнённое описание.", version=2))
    work()
    topic = only_topic(forum, "ev-1")
    assert topic["id"] != first["id"]
    assert topic["external_id"] == topic_external_id("ev-1", 2)
    assert "Уточнённое описание." in topic["raw"]

    put(client, auth, "ev-1", event_body(description="Ещё раз.", version=3))
    work()
    assert only_topic(forum, "ev-1")["id"] == topic["id"]  # edited, not created again
    actions = [e.action for e in services.audit.newest(subject="event:ev-1")]
    assert actions.count("topic.create") == 2
    assert "topic.gone" in actions


def test_same_title_same_day_gets_distinct_titles(client, auth, forum, work):
    put(client, auth, "ev-1", event_body(version=1))
    put(client, auth, "ev-2", event_body(version=1))
    put(client, auth, "ev-3", event_body(starts_at="2026-12-03T18:00:00+03:00",
                                         ends_at="2026-12-03T19:00:00+03:00", version=1))
    work()
    titles = sorted(t["title"] for t in live_topics(forum))
    assert len(titles) == len(set(titles)) == 3
    assert any(t.endswith("— 3 декабря 2026, 18:00") for t in titles)


def test_stored_but_not_queued_is_swept(forum, services, store, work):
    """A crash between store and enqueue: the dirty mark brings the event back."""
    store.accept("ev-9", event_body(), version=1)
    assert sweep_dirty_events(services) == ["event-ev-9-v1"]
    work()
    assert len(live_topics(forum, "ev-9")) == 1
    assert sweep_dirty_events(services) == []


def test_the_api_a_deletion_report_and_the_sweep_queue_one_job_id(
    client, auth, forum, services, store, work
):
    """Whoever queues an event's job names it alike. A webhook's report once queued
    a `-g<n>` job the sweep never looked for: lost, it stayed lost."""
    external_id = "ev.2026:7"  # escaped in job ids
    assert put(client, auth, external_id, event_body(version=1)).json["job_id"] == (
        event_job_id(external_id, 1))
    work()
    services.discourse.delete_topic(store.get(external_id).topic_id)  # by hand
    response = put(client, auth, external_id, event_body(description="Уточнено.", version=2))
    assert response.json["job_id"] == event_job_id(external_id, 2)
    work()
    event = store.get(external_id)
    assert event.generation == 2  # the topic's generation is no part of the job id
    services.discourse.delete_topic(event.topic_id)  # by hand again, and the webhook says so
    assert report_topic_deleted(services, event.topic_id) == "topic will be checked"
    q = queue(services.redis_raw)
    assert q.job_ids == [event_job_id(external_id, 2)]
    q.empty()  # the report's job is lost
    assert sweep_dirty_events(services) == [event_job_id(external_id, 2)]
    work()
    assert store.get(external_id).generation == 3
    assert len(live_topics(forum, external_id)) == 1
    assert sweep_dirty_events(services) == []


def test_faults_and_rate_limits_end_in_the_desired_state(client, auth, forum, services, store):
    forum.faults(error_rate=0.3, error_status=503, rate_limit_burst=4, seed=11)
    ids = [f"f-{n}" for n in range(6)]
    for n, external_id in enumerate(ids):
        put(client, auth, external_id, event_body(title=f"Встреча клуба №{n}", version=1))
    drain(services)
    for n, external_id in enumerate(ids):
        status = "cancelled" if n % 2 else "scheduled"
        put(client, auth, external_id, event_body(
            title=f"Встреча клуба №{n}", status=status, location="Онлайн", version=2))
    drain(services)
    forum.clear_faults()
    assert forum.stats()["faulted"] > 0
    for n, external_id in enumerate(ids):
        topic = only_topic(forum, external_id)
        event = store.get(external_id)
        rendered = render_event(event.desired, external_id=external_id,
                                config=services.config.events, roles=services.config.roles,
                                calendar_url=services.calendar_url)
        assert topic["title"] == rendered.title
        assert topic["raw"] == rendered.raw
        assert topic["closed"] is bool(n % 2)
        assert event.last_error is None
    assert services.redis.scard(EVENTS_DIRTY) == 0


def test_a_withdrawn_event_keeps_only_what_the_lists_need(client, auth, forum, services, work):
    """No garbage behind withdrawn events: description and snapshot go, replays stay ignored."""
    body = {"title": "Семинар о наставничестве", "kind": "seminar", "version": 1,
            "starts_at": "2026-12-03T15:00:00+03:00", "location": "СОИРО, ауд. 12",
            "description": "Длинное описание " * 200}
    assert client.put("/api/v1/events/ev-9", json=body, headers=auth).status_code == 202
    work()
    assert client.delete("/api/v1/events/ev-9", headers=auth).status_code == 202
    work()
    event = services.events.get("ev-9")
    assert set(event.desired) <= {"title", "kind", "starts_at", "ends_at", "status"}
    assert event.desired["title"] == "Семинар о наставничестве"
    assert "snapshot" not in event.forum
    replay = client.put("/api/v1/events/ev-9", json=body, headers=auth)
    assert (replay.status_code, replay.json["status"]) == (200, "ignored")
