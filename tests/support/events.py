"""Events as the institute sends them, the topics they become, and running their jobs."""

from __future__ import annotations

from rq import SimpleWorker
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from bridge.events import topic_external_id
from workers.events import setup_categories, submit
from workers.queue import queue


def event_body(**overrides) -> dict:
    body = {
        "title": "Семинар «Функциональная грамотность»",
        "kind": "seminar",
        "starts_at": "2026-12-03T15:00:00+03:00",
        "ends_at": "2026-12-03T17:00:00+03:00",
        "location": "Смоленск, ГАУ ДПО СОИРО, ауд. 12",
        "description": "Разбираем задания PISA. Возьмите с собой **ноутбук**.",
        "audience": ["winner", "participant"],
    }
    body.update(overrides)
    return body


def put(client, auth, external_id, body):
    return client.put(f"/api/v1/events/{external_id}", json=body, headers=auth)


def live_topics(sandbox, external_id: str | None = None) -> list[dict]:
    """Topics not deleted; with `external_id`, those of that event (any generation)."""
    topics = [t for t in sandbox.state()["topics"] if not t["deleted"]]
    if external_id is not None:
        base = topic_external_id(external_id)
        topics = [t for t in topics if (t["external_id"] or "").startswith(base)]
    return topics


def drain(services, *, rounds: int = 60) -> None:
    """Run every job, moving retries scheduled for later to the queue at once."""
    q = queue(services.redis_raw)
    registry = ScheduledJobRegistry(queue=q)
    for _ in range(rounds):
        SimpleWorker([q], connection=services.redis_raw, serializer=JSONSerializer).work(
            burst=True, with_scheduler=False
        )
        scheduled = registry.get_job_ids()
        if not scheduled and q.count == 0:
            return
        for job_id in scheduled:
            registry.remove(job_id)
            q.enqueue_job(Job.fetch(job_id, connection=services.redis_raw,
                                    serializer=JSONSerializer))
    raise AssertionError("jobs did not settle")


SEMINAR = {
    "title": "Семинар «Цифровая школа: первые шаги»",
    "kind": "seminar",
    "starts_at": "2026-12-10T12:00:00+00:00",
    "ends_at": "2026-12-10T14:00:00+00:00",
    "location": "Смоленск, ул. Октябрьской революции, 20а",
    "url": None,
    "description": "**Повестка:** итоги года.\nВторая строка.",
    "audience": [],
    "status": "scheduled",
}


def announce(services, work) -> int:
    """The seminar announced through the bridge's own job; returns its topic id."""
    setup_categories(services)
    submit(services, "seminar-1", SEMINAR, version=1)
    work()
    return services.events.get("seminar-1").topic_id
