"""Housekeeping jobs: what keeps Redis from growing with uptime."""

from __future__ import annotations

from rq.registry import BaseRegistry, clean_registries
from rq.worker_registration import clean_worker_registry

from workers import runtime
from workers.queue import queue
from workers.runtime import job


@job
def trim_audit() -> dict:
    return {"trimmed": runtime.services().audit.trim()}


@job
def clean_queue() -> dict:
    """RQ's registry cleaning, on a schedule of ours, and what it leaves behind.

    A worker cleans the registries itself at most every 15 minutes, and only
    while one runs; entries whose job is gone (deleted by hand, or deferred
    jobs, which RQ never cleans) would stay for ever. Here: expired entries of
    the finished, started, failed and deferred registries go (abandoned started
    jobs move to the failed registry, as RQ does), dead workers leave the worker
    registry, and entries of jobs that no longer exist are dropped.
    """
    q = queue(runtime.services().redis_raw)
    clean_registries(q)
    clean_worker_registry(q)
    registries = (q.finished_job_registry, q.failed_job_registry, q.deferred_job_registry,
                  q.canceled_job_registry, q.scheduled_job_registry)
    return {"dangling": sum(drop_dangling_entries(registry) for registry in registries)}


def drop_dangling_entries(registry: BaseRegistry) -> int:
    """Remove the registry's entries whose job hash is gone; returns how many."""
    connection = registry.connection
    job_ids = [registry.parse_job_id(entry) for entry, _score in
               connection.zscan_iter(registry.key)]
    if not job_ids:
        return 0
    pipe = connection.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.exists(registry.job_class.key_for(job_id))
    gone = [job_id for job_id, exists in zip(job_ids, pipe.execute(), strict=True) if not exists]
    if gone:
        connection.zrem(registry.key, *gone)
    return len(gone)
