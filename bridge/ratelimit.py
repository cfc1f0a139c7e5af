"""One Discourse admin API budget shared by every bridge process.

Discourse allows `max_admin_api_reqs_per_minute` admin API calls per site in
a sliding 60 s window (one bucket for all keys, REFERENCE §8). The budget keeps
the same kind of window in Redis, so web, workers and `flask` commands together
never exceed it: each call takes a slot before it is sent. The window is kept a
little longer than Discourse's, so network jitter between our clock reading
and Discourse's cannot push a call into the previous minute.

Several sources share the one budget fairly (`reserve`): each call is made
in a *lane* (a source, or the forum's own periodic work), and the last
`reserve` slots of the window go only to lanes that hold fewer than `reserve`
of its slots. A source applying a large roster can never leave another
without a slot for its single change. The worker is shared the same way: a
job in a `Turn.resumable` stretch that must wait for a slot, or has had the
worker for `TURN_SECONDS`, gives way (`GiveWay`) when a queued job of another
lane could take a slot now; it is queued again behind that job.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import redis

WINDOW_SECONDS = 60.0
SAFETY_SECONDS = 1.0

# KEYS[1] = window zset, KEYS[2] = pause-until time, KEYS[3] = the lane's window zset;
# ARGV = limit, window, member, reserve (0: lanes are not counted), take (0: only look).
# Returns 0 when a slot was (or could be) taken, else the seconds to wait for one.
_TAKE_SLOT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local paused_until = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused_until > now then
  return tostring(paused_until - now)
end
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local reserve = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if used >= limit then
  return tostring(tonumber(oldest[2]) + window - now)
end
if reserve > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - window)
  if used >= limit - reserve and redis.call('ZCARD', KEYS[3]) >= reserve then
    return tostring(tonumber(oldest[2]) + window - now)
  end
end
if ARGV[5] == '1' then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('EXPIRE', KEYS[1], math.ceil(window) + 1)
  if reserve > 0 then
    redis.call('ZADD', KEYS[3], now, ARGV[3])
    redis.call('EXPIRE', KEYS[3], math.ceil(window) + 1)
  end
end
return '0'
"""

# KEYS[1] = pause-until time; ARGV[1] = seconds. Only ever lengthens the pause.
_PAUSE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local until_ = now + tonumber(ARGV[1])
if until_ > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], tostring(until_), 'PX', math.ceil(tonumber(ARGV[1]) * 1000) + 1000)
end
return 1
"""

#: How often a job that may give way looks at the queue.
GIVE_WAY_POLL = 0.5
#: How long a job may keep the worker while another lane's job waits (at a call's start).
TURN_SECONDS = 2.0


def fair_reserve(per_minute: int) -> int:
    """The slots kept for the lanes that hold few: a tenth of the window, at least two
    (a member change costs one call, two when its account is looked up first)."""
    return max(2, per_minute // 10)


class BudgetExhausted(Exception):
    """No slot within the caller's patience; retry after `retry_after` seconds."""

    def __init__(self, retry_after: float):
        self.retry_after = retry_after
        super().__init__(f"Discourse API budget exhausted, retry in {retry_after:.1f} s")


class GiveWay(Exception):  # noqa: N818 - a decision, not a failure
    """A job of another lane waits in the queue and could have a slot now: let it go first."""

    def __init__(self, lane: str):
        super().__init__(f"giving way to the queued work of {lane}")
        self.lane = lane


class Turn:
    """The job this context runs: the lane it spends, and where it may stop.

    `waiting` names the lanes of the queued jobs. A job may give way only
    inside `resumable()`: where stopping loses nothing, because a new run
    picks up what this one did. The jobs of `patient` lanes (the forum's own
    housekeeping) go first only while this one waits for a slot anyway.
    """

    def __init__(self, lane: str, waiting: Callable[[], Iterable[str]],
                 patient: Iterable[str] = ()):
        self.lane = lane
        self.waiting = waiting
        self.patient = frozenset(patient)
        self._resumable = 0
        self.started = time.monotonic()
        self.looked = 0.0  # when it last looked at the queue

    @property
    def can_give_way(self) -> bool:
        return self._resumable > 0

    @property
    def over(self) -> bool:
        """The job has had the worker for its turn."""
        return time.monotonic() - self.started >= TURN_SECONDS

    @contextmanager
    def resumable(self) -> Iterator[None]:
        self._resumable += 1
        try:
            yield
        finally:
            self._resumable -= 1


#: The job being run in this context; None outside jobs (the web process, commands).
CURRENT_TURN: ContextVar[Turn | None] = ContextVar("budget_turn", default=None)


class ApiBudget:
    def __init__(
        self,
        connection: redis.Redis,
        *,
        per_minute: int,
        key: str = "bridge:discourse:budget",
        window: float = WINDOW_SECONDS + SAFETY_SECONDS,
        reserve: int = 0,
    ):
        self.connection = connection
        self.per_minute = per_minute
        self.key = key
        self.window = window
        self.reserve = min(max(reserve, 0), per_minute - 1)
        self._script = connection.register_script(_TAKE_SLOT)
        self._pause = connection.register_script(_PAUSE)

    def _run(self, lane: str | None, *, take: bool) -> float:
        reserve = self.reserve if lane is not None else 0
        wait = float(self._script(
            keys=[self.key, self.key + ":paused-until", f"{self.key}:lane:{lane or ''}"],
            args=[self.per_minute, self.window, uuid.uuid4().hex, reserve, int(take)]))
        return max(wait, 0.0)

    def try_acquire(self, lane: str | None = None) -> float:
        """Take a slot for `lane`: 0.0 on success, else the seconds to wait for one."""
        return self._run(lane, take=True)

    def could_take(self, lane: str) -> bool:
        """Whether `lane` would get a slot now (nothing is taken)."""
        return self._run(lane, take=False) == 0.0

    def acquire(self, *, max_wait: float = 70.0) -> None:
        """Block until a slot is free; give up with BudgetExhausted after `max_wait`.

        In a job (`CURRENT_TURN`), the slot is taken in the job's lane, and a
        resumable job raises `GiveWay` rather than wait, or go on after its
        turn, while another lane's queued job could go now.
        """
        turn = CURRENT_TURN.get()
        lane = turn.lane if turn is not None and self.reserve else None
        deadline = time.monotonic() + max_wait
        waiting = False
        while True:
            may_give_way = lane is not None and turn.can_give_way
            if may_give_way and (waiting or turn.over):
                self._give_way_if_another_can_go(turn, waiting=waiting)
            wait = self.try_acquire(lane)
            if wait == 0.0:
                return
            if may_give_way and not waiting:
                waiting = True
                continue  # look at the queue first: the worker would idle until a slot
            remaining = deadline - time.monotonic()
            if wait > remaining:
                raise BudgetExhausted(wait)
            # A job that may give way looks at the queue again soon: someone may come.
            time.sleep(min((min(wait, GIVE_WAY_POLL) if may_give_way else wait) + 0.005,
                           remaining))
            waiting = True

    def _give_way_if_another_can_go(self, turn: Turn, *, waiting: bool) -> None:
        now = time.monotonic()
        if now - turn.looked < GIVE_WAY_POLL:
            return
        turn.looked = now
        others = set(turn.waiting()) - {turn.lane} - (set() if waiting else turn.patient)
        ready = next((other for other in others if self.could_take(other)), None)
        if ready is not None:
            raise GiveWay(ready)

    def used(self) -> int:
        """Slots taken in the current window (for metrics and the admin page)."""
        now = time.time()
        return int(self.connection.zcount(self.key, now - self.window, "+inf"))

    def push_back(self, seconds: float) -> None:
        """After a 429, nobody calls before Discourse allows it again."""
        self._pause(keys=[self.key + ":paused-until"], args=[max(seconds, 0.0)])
