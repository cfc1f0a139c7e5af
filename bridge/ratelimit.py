"""One Discourse admin API budget shared by every bridge process.

Discourse allows `max_admin_api_reqs_per_minute` admin API calls per site in
a sliding 60 s window (one bucket for all keys, REFERENCE §8). The budget keeps
the same kind of window in Redis, so web, workers and `flask` commands together
never exceed it: each call takes a slot before it is sent. The window is kept a
little longer than Discourse's, so network jitter between our clock reading
and Discourse's cannot push a call into the previous minute.
"""

from __future__ import annotations

import time
import uuid

import redis

WINDOW_SECONDS = 60.0
SAFETY_SECONDS = 1.0

# KEYS[1] = window zset, KEYS[2] = pause-until time; ARGV = limit, window, member.
# Returns 0 when a slot was taken, else the seconds to wait for one.
_TAKE_SLOT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local paused_until = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused_until > now then
  return tostring(paused_until - now)
end
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
if used < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('EXPIRE', KEYS[1], math.ceil(window) + 1)
  return '0'
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tostring(tonumber(oldest[2]) + window - now)
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

class BudgetExhausted(Exception):
    """No slot within the caller's patience; retry after `retry_after` seconds."""

    def __init__(self, retry_after: float):
        self.retry_after = retry_after
        super().__init__(f"Discourse API budget exhausted, retry in {retry_after:.1f} s")


class ApiBudget:
    def __init__(
        self,
        connection: redis.Redis,
        *,
        per_minute: int,
        key: str = "bridge:discourse:budget",
        window: float = WINDOW_SECONDS + SAFETY_SECONDS,
    ):
        self.connection = connection
        self.per_minute = per_minute
        self.key = key
        self.window = window
        self._script = connection.register_script(_TAKE_SLOT)
        self._pause = connection.register_script(_PAUSE)

    def try_acquire(self) -> float:
        """Take a slot: 0.0 on success, else the seconds to wait for one."""
        member = uuid.uuid4().hex
        wait = float(self._script(keys=[self.key, self.key + ":paused-until"],
                                  args=[self.per_minute, self.window, member]))
        return max(wait, 0.0)

    def acquire(self, *, max_wait: float = 70.0) -> None:
        """Block until a slot is free; give up with BudgetExhausted after `max_wait`."""
        deadline = time.monotonic() + max_wait
        while True:
            wait = self.try_acquire()
            if wait == 0.0:
                return
            remaining = deadline - time.monotonic()
            if wait > remaining:
                raise BudgetExhausted(wait)
            time.sleep(min(wait + 0.005, remaining))

    def used(self) -> int:
        """Slots taken in the current window (for metrics and the admin page)."""
        now = time.time()
        return int(self.connection.zcount(self.key, now - self.window, "+inf"))

    def push_back(self, seconds: float) -> None:
        """After a 429, nobody calls before Discourse allows it again."""
        self._pause(keys=[self.key + ":paused-until"], args=[max(seconds, 0.0)])
