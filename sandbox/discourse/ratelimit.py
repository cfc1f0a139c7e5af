"""Sliding-window limiter with Discourse's RateLimiter semantics.

Discourse keeps the timestamps of the last N accepted calls for a key
(``admin_api_min`` is one key per site, REFERENCE §8) and refuses a call when N
calls were already accepted within the last ``window`` seconds. Refused calls
are not recorded. The clock is injectable so tests need not sleep.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable


class SlidingWindowLimiter:
    def __init__(
        self,
        limit: int,
        window: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._hits: deque[float] = deque()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self._hits and now - self._hits[0] >= self.window:
            self._hits.popleft()

    def try_acquire(self) -> tuple[bool, int]:
        """Record a call if allowed. Returns (accepted, wait_seconds)."""
        with self._lock:
            now = self.clock()
            self._expire(now)
            if len(self._hits) < self.limit:
                self._hits.append(now)
                return True, 0
            if self.limit <= 0:
                return False, int(self.window)
            oldest = self._hits[-self.limit]
            wait = max(1, math.ceil(oldest + self.window - now))
            return False, wait

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()

    def set_limit(self, limit: int) -> None:
        with self._lock:
            self.limit = limit


def time_left_text(seconds: int) -> str:
    """RateLimiter::LimitExceeded#time_left (locale rate_limiter.seconds/minutes/hours)."""
    if seconds < 60:
        return f"{seconds} second" if seconds == 1 else f"{seconds} seconds"
    if seconds < 3600:
        minutes = seconds // 60
        return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"
    hours = seconds // 3600
    return f"{hours} hour" if hours == 1 else f"{hours} hours"


def rate_limit_body(wait_seconds: int) -> dict:
    left = time_left_text(wait_seconds)
    return {
        "errors": [
            f"You\u2019ve performed this action too many times. "
            f"Please wait {left} before trying again."
        ],
        "error_type": "rate_limit",
        "extras": {"wait_seconds": wait_seconds, "time_left": left},
    }


ADMIN_API_ERROR_CODE = "admin_api_key_rate_limit"


def rate_limit_headers(wait_seconds: int) -> dict[str, str]:
    return {
        "Retry-After": str(wait_seconds),
        "Discourse-Rate-Limit-Error-Code": ADMIN_API_ERROR_CODE,
    }


def max_in_any_window(timestamps: list[float], window: float = 60.0) -> int:
    """Largest number of timestamps t_i..t_j with t_j - t_i < window."""
    ordered = sorted(timestamps)
    best = 0
    start = 0
    for end, value in enumerate(ordered):
        while value - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best
