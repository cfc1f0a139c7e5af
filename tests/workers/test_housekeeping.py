"""Bounded state: job results kept only as long as someone may ask, registries cleaned,
the audit log trimmed to its retention."""

from __future__ import annotations

import time

from rq.job import Job
from rq.serializers import JSONSerializer

from bridge.audit import AUDIT_KEY
from tests.support.members import member_body
from workers import queue as jobs
from workers.__main__ import enqueue_due, periodic_jobs
from workers.periodic import clean_queue, trim_audit


def ttl(services, job_id: str) -> int:
    return services.redis_raw.ttl(Job.key_for(job_id))


def test_periodic_results_are_kept_minutes_api_results_an_hour(services, client, auth, work):
    schedule = [s for s in periodic_jobs(services.settings) if s[0] == "sweep-events"]
    now = time.time()
    assert enqueue_due(services.redis_raw, schedule, now=now) == []  # the first slot is set
    [periodic] = enqueue_due(services.redis_raw, schedule, now=now + 15)
    put = client.put("/api/v1/members/t-1", json=member_body(), headers=auth)
    work()

    assert jobs.job_state(services.redis_raw, periodic)["status"] == "finished"
    assert 590 <= ttl(services, periodic) <= jobs.PERIODIC_RESULT_TTL
    job_id = put.json["job_id"]
    assert jobs.job_state(services.redis_raw, job_id)["status"] == "finished"
    assert 3590 <= ttl(services, job_id) <= 3600  # the status API promises an hour
    finished = jobs.queue(services.redis_raw).finished_job_registry
    assert finished.get_expiration_time(Job.fetch(periodic, connection=services.redis_raw,
                                                  serializer=JSONSerializer)).timestamp() \
        <= time.time() + jobs.PERIODIC_RESULT_TTL + 1


def test_the_queue_cleaning_drops_expired_and_dangling_registry_entries(services):
    q = jobs.queue(services.redis_raw)
    raw = services.redis_raw
    raw.zadd(q.finished_job_registry.key, {"expired-long-ago": time.time() - 60})
    raw.zadd(q.finished_job_registry.key, {"hash-deleted": time.time() + 600})
    raw.zadd(q.deferred_job_registry.key, {"deferred-gone": time.time()})
    kept = jobs.enqueue(raw, "workers.events.sweep_events", job_id="kept")
    raw.zadd(q.failed_job_registry.key, {kept: time.time() + 600})

    assert clean_queue() == {"dangling": 2}
    assert raw.zrange(q.finished_job_registry.key, 0, -1) == []
    assert raw.zrange(q.deferred_job_registry.key, 0, -1) == []
    assert raw.zrange(q.failed_job_registry.key, 0, -1) == [b"kept"]


def test_the_audit_trim_keeps_the_retention(services):
    days = services.settings.audit_retention_days
    old_ms = int((time.time() - (days + 1) * 86400) * 1000)
    for n in range(3):
        services.redis.xadd(AUDIT_KEY, {"e": "{}"}, id=f"{old_ms}-{n}")
    services.audit.record(subject="member:t-1", action="group.add", target="club", cause="api")

    assert trim_audit() == {"trimmed": 3}
    assert [e.subject for e in services.audit.newest()] == ["member:t-1"]
