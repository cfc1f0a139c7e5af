"""The last 24 hours, minute by minute, for the admin overview's charts.

One small hash per series and hour (`bridge:series:<name>:<hour>`, a field per
minute of that hour), expiring 25 hours after its last write: whatever the
uptime, a series holds at most 26 hashes of 60 fields, and nothing has to be
trimmed. A write is one pipelined round trip, cheap enough for the Discourse
client's `on_call` hook; reading a whole day is one more.

Counters (`count`: Discourse calls, counted as each is made) read 0 for a
minute nobody counted in; gauges (`record`: queue depth, failed jobs, sampled
once a minute) read None where no sample was taken, so a stopped worker shows
as a gap rather than as an empty queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import redis

PREFIX = "bridge:series:"
DAY_MINUTES = 24 * 60
KEY_TTL = 25 * 3600  # an hour's hash outlives the window it can appear in

CALLS = "discourse-calls"  # Discourse admin API calls made in the minute, by every process
QUEUED = "queue-depth"  # jobs waiting in the queue at the minute's sample
FAILED = "failed-jobs"  # jobs in the failed registry at the minute's sample
COUNTERS = frozenset({CALLS})


class Commands(Protocol):
    """A Redis connection or a pipeline: the commands a series writes with."""

    def hincrby(self, name: str, key: str, amount: int = 1): ...
    def hset(self, name: str, key: str, value: int): ...
    def expire(self, name: str, time: int): ...


def minute_of(moment: float) -> int:
    """Minutes since the epoch: the series' clock."""
    return int(moment // 60)


def _key(name: str, minute: int) -> str:
    return f"{PREFIX}{name}:{minute // 60}"


def count(commands: Commands, name: str, *, now: float, amount: int = 1) -> None:
    """Add to a counter's current minute (queued, when `commands` is a pipeline)."""
    minute = minute_of(now)
    commands.hincrby(_key(name, minute), str(minute % 60), amount)
    commands.expire(_key(name, minute), KEY_TTL)


def record(commands: Commands, name: str, value: int, *, now: float) -> None:
    """Set a gauge's value for the current minute."""
    minute = minute_of(now)
    commands.hset(_key(name, minute), str(minute % 60), int(value))
    commands.expire(_key(name, minute), KEY_TTL)


@dataclass(frozen=True)
class Day:
    """One series over the 24 hours before `end_minute` (exclusive), oldest first."""

    name: str
    end_minute: int
    values: list[int | None]

    @property
    def start_minute(self) -> int:
        return self.end_minute - len(self.values)


def last_day(connection: redis.Redis, name: str, *, now: float) -> Day:
    """The 1440 complete minutes before `now`'s minute (the current one is still filling)."""
    end = minute_of(now)
    start = end - DAY_MINUTES
    hours = range(start // 60, (end - 1) // 60 + 1)
    pipe = connection.pipeline(transaction=False)
    for hour in hours:
        pipe.hgetall(_key(name, hour * 60))
    by_minute: dict[int, int] = {}
    for hour, fields in zip(hours, pipe.execute(), strict=True):
        for field, value in fields.items():
            by_minute[hour * 60 + int(field)] = int(value)
    missing = 0 if name in COUNTERS else None
    return Day(name, end, [by_minute.get(m, missing) for m in range(start, end)])
