"""Counters of API-key traffic, exposed at GET /_sandbox/stats."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from .ratelimit import max_in_any_window

MAX_VIOLATIONS_KEPT = 500


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with getattr(self, "_lock", threading.Lock()):
            self.requests = 0
            self.accepted = 0
            self.rate_limited = 0
            self.rate_limited_injected = 0
            self.faulted = 0
            self.delayed = 0
            self.auth_failed = 0
            self.reads = 0
            self.writes = 0
            self.by_endpoint: Counter[str] = Counter()
            self.by_status: Counter[str] = Counter()
            self.timestamps: list[float] = []
            self.accepted_calls: list[tuple[float, str, str]] = []
            self.spec_violations: list[dict[str, Any]] = []
            self.response_spec_violations: list[dict[str, Any]] = []

    def record_request(self) -> None:
        with self._lock:
            self.requests += 1

    def record_accepted(self, when: float, method: str, endpoint: str) -> None:
        with self._lock:
            self.accepted += 1
            self.timestamps.append(when)
            self.accepted_calls.append((when, method, endpoint))
            if method in ("GET", "HEAD"):
                self.reads += 1
            else:
                self.writes += 1
            self.by_endpoint[f"{method} {endpoint}"] += 1

    def incr(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def record_status(self, status: int) -> None:
        with self._lock:
            self.by_status[str(status)] += 1

    def add_violation(self, kind: str, entry: dict[str, Any]) -> None:
        with self._lock:
            target = getattr(self, kind)
            if len(target) < MAX_VIOLATIONS_KEPT:
                target.append(entry)

    def snapshot(self, since: float | None = None) -> dict[str, Any]:
        with self._lock:
            calls = [c for c in self.accepted_calls if since is None or c[0] >= since]
            by_endpoint: Counter[str] = Counter(f"{m} {e}" for _, m, e in calls)
            stamps = [c[0] for c in calls]
            return {
                "requests": self.requests,
                "accepted": len(calls) if since is not None else self.accepted,
                "rate_limited": self.rate_limited,
                "rate_limited_injected": self.rate_limited_injected,
                "faulted": self.faulted,
                "delayed": self.delayed,
                "auth_failed": self.auth_failed,
                "reads": sum(1 for _, m, _e in calls if m in ("GET", "HEAD")),
                "writes": sum(1 for _, m, _e in calls if m not in ("GET", "HEAD")),
                "by_endpoint": dict(by_endpoint),
                "by_status": dict(self.by_status),
                "max_in_any_window": max_in_any_window(stamps),
                "timestamps": stamps,
                "spec_violations": list(self.spec_violations),
                "response_spec_violations": list(self.response_spec_violations),
            }
