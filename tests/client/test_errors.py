"""Every failure of a Discourse call becomes one typed error, and none of them sleeps."""

from __future__ import annotations

import json
import time

import pytest
import redis
from werkzeug.wrappers import Request, Response

from bridge.discourse import (
    ClientError,
    InvalidCredentials,
    NotFound,
    RateLimited,
    ServerError,
)
from bridge.ratelimit import ApiBudget
from sandbox.discourse import create_app
from tests.conftest import API_KEY, CONNECT_SECRET
from tests.support.servers import ThreadedServer, free_port

from .helpers import FakeClock, make_client

FAST = 1.0  # seconds: a call that fails "at once" answers well within this


# --- 429 -------------------------------------------------------------------------------
def test_injected_429_raises_rate_limited_with_wait_seconds(sandbox):
    client = make_client(sandbox.url)
    sandbox.faults(rate_limit_burst=1)

    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        client.categories()
    assert time.monotonic() - started < FAST  # no sleeping on a 429

    error = caught.value
    assert error.status == 429
    assert error.transient is True
    assert error.retry_after == error.body["extras"]["wait_seconds"] == 1
    client.categories()  # the burst is spent: the next call goes through
    assert sandbox.stats()["rate_limited_injected"] == 1


@pytest.fixture(scope="module")
def limited_forum():
    """A sandbox of its own with Discourse's real limiter at 3 calls a minute."""
    clock = FakeClock()
    app = create_app(
        api_key=API_KEY,
        connect_secret=CONNECT_SECRET,
        max_admin_api_reqs_per_minute=3,
        clock=clock,
    )
    server = ThreadedServer(app).start()
    yield server, clock
    server.stop()


def test_real_rate_limit_retry_after_is_discourse_wait_seconds(limited_forum):
    server, clock = limited_forum
    client = make_client(server.url)
    for _ in range(3):
        client.categories()

    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        client.categories()
    assert time.monotonic() - started < FAST

    # the clock stands still: the oldest of the 3 calls leaves the window in 60 s
    assert caught.value.body["extras"]["wait_seconds"] == 60
    assert caught.value.retry_after == 60

    clock.advance(45)
    with pytest.raises(RateLimited) as later:
        client.site_settings("title")
    assert later.value.retry_after == later.value.body["extras"]["wait_seconds"] == 15

    clock.advance(15)
    assert [c["name"] for c in client.categories()] == ["Uncategorized"]  # window moved on


class _Answer429:
    """A tiny WSGI app answering every request with one fixed 429."""

    def __init__(self, *, body: str = "", content_type: str = "text/plain", headers=None):
        self.body, self.content_type, self.headers = body, content_type, headers or {}

    def __call__(self, environ, start_response):
        Request(environ).get_data()
        response = Response(
            self.body, status=429, content_type=self.content_type, headers=self.headers
        )
        return response(environ, start_response)


class _Switch:
    answer = None

    def __call__(self, environ, start_response):
        return self.answer(environ, start_response)


@pytest.fixture(scope="module")
def answer_server():
    switch = _Switch()
    server = ThreadedServer(switch).start()
    server.app = switch
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        # per-IP limit (request_tracker.rb): plain text, only the header
        (
            _Answer429(
                body="Slow down, too many requests from this IP address",
                headers={"Retry-After": "12"},
            ),
            12.0,
        ),
        # empty body, only the header
        (_Answer429(headers={"Retry-After": "40"}), 40.0),
        # JSON errors without extras: the header still counts
        (
            _Answer429(
                body=json.dumps({"errors": ["too many"]}),
                content_type="application/json",
                headers={"Retry-After": "7"},
            ),
            7.0,
        ),
        # both: Discourse's extras.wait_seconds wins over the header
        (
            _Answer429(
                body=json.dumps({"errors": ["x"], "extras": {"wait_seconds": 3}}),
                content_type="application/json",
                headers={"Retry-After": "30"},
            ),
            3.0,
        ),
        # neither: a default, never zero
        (_Answer429(), 5.0),
    ],
)
def test_retry_after_header_fallback(answer_server, answer, expected):
    answer_server.app.answer = answer
    client = make_client(answer_server.url)
    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        client.log_out(7)
    assert time.monotonic() - started < FAST
    assert caught.value.retry_after == expected


def test_exhausted_shared_budget_raises_rate_limited_without_a_call(sandbox, redis_server):
    connection = redis.Redis.from_url(redis_server.url)
    budget = ApiBudget(connection, per_minute=1, key="test:client:exhausted", window=30)
    connection.delete(budget.key)
    client = make_client(sandbox.url, budget=budget, budget_wait=0.2)
    client.categories()

    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        client.categories()
    assert time.monotonic() - started < FAST
    assert caught.value.status is None  # nothing was sent
    assert 25 < caught.value.retry_after <= 30
    assert sandbox.stats()["requests"] == 1


# --- 5xx, timeouts, refused connections ------------------------------------------------
@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_raises_server_error(sandbox, status):
    client = make_client(sandbox.url)
    sandbox.faults(error_rate=1.0, error_status=status)
    with pytest.raises(ServerError) as caught:
        client.categories()
    assert caught.value.status == status
    assert caught.value.transient is True
    assert sandbox.stats()["faulted"] == 1


def test_timeout_raises_server_error(sandbox):
    client = make_client(sandbox.url, timeout=0.5)
    sandbox.faults(timeout_rate=1.0, timeout_sleep_s=2)

    started = time.monotonic()
    with pytest.raises(ServerError) as caught:
        client.categories()
    elapsed = time.monotonic() - started

    assert 0.4 < elapsed < 1.5
    assert caught.value.status is None
    assert caught.value.transient is True
    assert "timed out" in str(caught.value)
    # let the sandbox finish the late answer, so it does not land in the next test's stats
    deadline = time.monotonic() + 5
    while not sandbox.stats()["by_status"] and time.monotonic() < deadline:
        time.sleep(0.1)


def test_connection_refused_raises_server_error():
    client = make_client(f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(ServerError) as caught:
        client.categories()
    assert time.monotonic() - started < FAST
    assert caught.value.status is None
    assert caught.value.transient is True


# --- 4xx -------------------------------------------------------------------------------
def test_wrong_api_key_raises_invalid_credentials(sandbox):
    client = make_client(sandbox.url, api_key="not-the-key")
    with pytest.raises(InvalidCredentials) as caught:
        client.categories()
    assert caught.value.status == 403
    assert caught.value.transient is False
    assert sandbox.stats()["auth_failed"] == 1


def test_other_403_is_a_client_error_not_bad_credentials(sandbox):
    """A refused action (staff cannot be anonymized) must not look like a bad key."""
    ids = sandbox.seed(users=[{"username": "boss", "email": "boss@example.org", "admin": True}])[
        "users"
    ]
    client = make_client(sandbox.url)
    with pytest.raises(ClientError) as caught:
        client.anonymize(ids["boss"])
    assert not isinstance(caught.value, InvalidCredentials)
    assert caught.value.status == 403


def test_404_raises_not_found(sandbox):
    client = make_client(sandbox.url)
    with pytest.raises(NotFound) as caught:
        client.log_out(424242)
    assert caught.value.status == 404
    assert caught.value.transient is False


def test_422_raises_client_error_with_discourse_errors(sandbox):
    client = make_client(sandbox.url)
    with pytest.raises(ClientError) as caught:
        client.create_topic(
            title="A perfectly fine title", raw="too short", category_id=1, external_id="e-1"
        )
    error = caught.value
    assert error.status == 422
    assert error.transient is False
    assert error.body["errors"] == error.errors
    assert error.errors == ["Body is too short (minimum is 20 characters)"]
    assert "Body is too short" in str(error)


def test_422_from_sync_sso_keeps_discourse_message(sandbox):
    client = make_client(sandbox.url)
    with pytest.raises(ClientError) as caught:
        client.sync_sso({"external_id": "none", "email": "x@example.org"})
    assert caught.value.status == 422
    assert caught.value.errors == [caught.value.body["message"]]
