"""The admin overview's minute samples: queue depth and failed jobs.

Taken by the periodic thread of whichever worker comes first in each minute,
not queued as a job: a sample must be on time when the queue is long (that is
when it matters), and it costs a few Redis commands and no Discourse call.
"""

from __future__ import annotations

import redis

from bridge import timeseries
from workers.queue import job_counts

CLAIM_PREFIX = "bridge:samples:taken:"  # one key per minute: the first worker takes it
CLAIM_TTL = 120


def take(connection: redis.Redis, *, now: float) -> dict[str, int]:
    """Record the queue's depth and failed jobs for `now`'s minute."""
    counts = job_counts(connection)
    values = {timeseries.QUEUED: counts["queued"], timeseries.FAILED: counts["failed"]}
    pipe = connection.pipeline(transaction=False)
    for name, value in values.items():
        timeseries.record(pipe, name, value, now=now)
    pipe.execute()
    return values


def take_once_a_minute(connection: redis.Redis, *, now: float) -> bool:
    """Take the minute's samples unless another worker already has; True if taken here."""
    minute = timeseries.minute_of(now)
    if not connection.set(f"{CLAIM_PREFIX}{minute}", 1, nx=True, ex=CLAIM_TTL):
        return False
    take(connection, now=now)
    return True
