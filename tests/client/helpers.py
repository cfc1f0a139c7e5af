"""Helpers of the Discourse client tests: a plain client, a clock moved by hand."""

from __future__ import annotations

import threading

import requests

from bridge.discourse import DiscourseClient
from tests.conftest import API_KEY, CONNECT_SECRET


def make_client(base_url: str, *, api_key: str = API_KEY, timeout: float = 5.0, **kwargs):
    """A client without a budget (unless given), as the bridge builds it otherwise."""
    return DiscourseClient(
        base_url=base_url,
        api_key=api_key,
        connect_secret=CONNECT_SECRET,
        session=requests.Session(),
        timeout=timeout,
        **kwargs,
    )


def assert_spec_clean(sandbox) -> None:
    """The sandbox checked every request against Discourse's OpenAPI document."""
    assert sandbox.stats()["spec_violations"] == []


class FakeClock:
    """A clock the test moves by hand (thread-safe enough for one sandbox)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
