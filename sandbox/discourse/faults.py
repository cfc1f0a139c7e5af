"""Run-time fault injection for API-key requests (never for /_sandbox or HTML)."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

ALLOWED_ERROR_STATUSES = (500, 502, 503)


class FaultConfigError(ValueError):
    pass


@dataclass
class FaultDecision:
    latency_s: float = 0.0
    sleep_s: float = 0.0  # injected "timeout" (answer comes late)
    error_status: int | None = None
    rate_limited: bool = False


@dataclass
class Faults:
    latency_ms: int = 0
    error_rate: float = 0.0
    error_status: int = 503
    rate_limit_burst: int = 0
    timeout_rate: float = 0.0
    timeout_sleep_s: float = 5.0
    seed: int | None = None
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def configure(self, data: dict[str, Any]) -> None:
        known = {
            "latency_ms",
            "error_rate",
            "error_status",
            "rate_limit_burst",
            "timeout_rate",
            "timeout_sleep_s",
            "seed",
        }
        unknown = set(data) - known
        if unknown:
            raise FaultConfigError(f"unknown fault keys: {sorted(unknown)}")
        with self._lock:
            self.latency_ms = _num(data, "latency_ms", self.latency_ms, int, 0, 600_000)
            self.error_rate = _num(data, "error_rate", self.error_rate, float, 0.0, 1.0)
            self.timeout_rate = _num(data, "timeout_rate", self.timeout_rate, float, 0.0, 1.0)
            self.timeout_sleep_s = _num(
                data, "timeout_sleep_s", self.timeout_sleep_s, float, 0.0, 600.0
            )
            self.rate_limit_burst = _num(
                data, "rate_limit_burst", self.rate_limit_burst, int, 0, 10**9
            )
            status = _num(data, "error_status", self.error_status, int, 100, 599)
            if status not in ALLOWED_ERROR_STATUSES:
                raise FaultConfigError(f"error_status must be one of {ALLOWED_ERROR_STATUSES}")
            self.error_status = status
            if "seed" in data:
                self.seed = None if data["seed"] is None else int(data["seed"])
                self._rng = random.Random(self.seed)

    def clear(self) -> None:
        with self._lock:
            self.latency_ms = 0
            self.error_rate = 0.0
            self.error_status = 503
            self.rate_limit_burst = 0
            self.timeout_rate = 0.0
            self.timeout_sleep_s = 5.0
            self.seed = None
            self._rng = random.Random()

    def decide(self) -> FaultDecision:
        with self._lock:
            decision = FaultDecision(latency_s=self.latency_ms / 1000.0)
            if self.timeout_rate and self._rng.random() < self.timeout_rate:
                decision.sleep_s = self.timeout_sleep_s
            if self.rate_limit_burst > 0:
                self.rate_limit_burst -= 1
                decision.rate_limited = True
            elif self.error_rate and self._rng.random() < self.error_rate:
                decision.error_status = self.error_status
            return decision

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "latency_ms": self.latency_ms,
                "error_rate": self.error_rate,
                "error_status": self.error_status,
                "rate_limit_burst": self.rate_limit_burst,
                "timeout_rate": self.timeout_rate,
                "timeout_sleep_s": self.timeout_sleep_s,
                "seed": self.seed,
            }


def _num(data: dict[str, Any], key: str, default: Any, kind: type, low: Any, high: Any) -> Any:
    if key not in data:
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FaultConfigError(f"{key} must be a number")
    value = kind(value)
    if not low <= value <= high:
        raise FaultConfigError(f"{key} must be between {low} and {high}")
    return value
