"""The shared Discourse API budget (bridge/ratelimit.py) against a real Redis.

The end-to-end test runs two OS processes, each with its own client and
ApiBudget, against one sandbox whose real limiter allows 20 calls a minute.
Time is scaled down: the sandbox's clock runs SCALE times fast, so its 60 s
window lasts 60/SCALE real seconds, less than the budget's 3 s (as
Discourse's 60 s is a little less than the bridge's 61 s).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import pytest
import redis
import requests

from bridge.ratelimit import ApiBudget, BudgetExhausted
from sandbox.discourse import create_app
from sandbox.discourse.ratelimit import max_in_any_window
from tests.conftest import API_KEY, CONNECT_SECRET, ROOT
from tests.support.servers import ThreadedServer

LIMIT = 20
BUDGET_WINDOW = 3.0
SCALE = 24.0  # sandbox window: 60 / 24 = 2.5 real seconds, 0.5 s margin for jitter
SANDBOX_WINDOW = 60.0 / SCALE


@pytest.fixture
def connection(redis_server):
    conn = redis.Redis.from_url(redis_server.url)
    yield conn
    conn.close()


@pytest.fixture
def key():
    return f"test:budget:{uuid.uuid4().hex}"


# --- ApiBudget on its own --------------------------------------------------------------
def test_try_acquire_takes_slots_up_to_the_limit(connection, key):
    budget = ApiBudget(connection, per_minute=3, key=key, window=10.0)
    assert [budget.try_acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert budget.used() == 3

    wait = budget.try_acquire()
    assert 9.0 < wait <= 10.0  # until the oldest slot leaves the window
    assert budget.used() == 3  # a refused try takes nothing


def test_slots_come_back_when_the_window_moves(connection, key):
    budget = ApiBudget(connection, per_minute=2, key=key, window=0.3)
    budget.try_acquire()
    budget.try_acquire()
    assert budget.try_acquire() > 0
    time.sleep(0.35)
    assert budget.try_acquire() == 0.0
    assert budget.used() == 1


def test_budget_is_shared_by_key_across_connections(connection, key, redis_server):
    other_connection = redis.Redis.from_url(redis_server.url)
    first = ApiBudget(connection, per_minute=2, key=key, window=10.0)
    second = ApiBudget(other_connection, per_minute=2, key=key, window=10.0)
    elsewhere = ApiBudget(connection, per_minute=2, key=key + ":other", window=10.0)

    assert first.try_acquire() == 0.0
    assert second.try_acquire() == 0.0
    assert first.try_acquire() > 0
    assert second.try_acquire() > 0
    assert elsewhere.try_acquire() == 0.0
    other_connection.close()


def test_acquire_waits_for_a_free_slot(connection, key):
    budget = ApiBudget(connection, per_minute=2, key=key, window=0.5)
    budget.acquire()
    budget.acquire()
    started = time.monotonic()
    budget.acquire(max_wait=2.0)
    assert 0.3 < time.monotonic() - started < 1.0
    assert budget.used() == 1  # both old slots left the window; the new one counts


def test_acquire_gives_up_without_waiting_in_vain(connection, key):
    budget = ApiBudget(connection, per_minute=1, key=key, window=5.0)
    budget.acquire()
    started = time.monotonic()
    with pytest.raises(BudgetExhausted) as caught:
        budget.acquire(max_wait=0.5)
    assert time.monotonic() - started < 0.3  # 5 s > 0.5 s: no point sleeping
    assert 4.0 < caught.value.retry_after <= 5.0
    assert "retry in" in str(caught.value)


def test_push_back_blocks_everyone_until_discourse_allows(connection, key):
    budget = ApiBudget(connection, per_minute=5, key=key, window=10.0)
    budget.push_back(0.4)
    wait = budget.try_acquire()
    assert 0.2 < wait <= 0.4
    other_process = ApiBudget(connection, per_minute=5, key=key, window=10.0)
    assert other_process.try_acquire() > 0.2
    budget.push_back(0.1)  # a shorter pause never cuts a longer one
    assert budget.try_acquire() > 0.2
    time.sleep(0.45)
    assert budget.try_acquire() == 0.0


def test_push_back_longer_than_the_window_is_kept(connection, key):
    """A 429 can ask for more than the window (e.g. a per-IP limit): the key must live on."""
    budget = ApiBudget(connection, per_minute=2, key=key, window=1.0)
    budget.push_back(4.0)
    time.sleep(1.2)  # longer than the window
    assert 2.3 < budget.try_acquire() <= 2.8


# --- two processes, one budget, one sandbox ---------------------------------------------
@pytest.fixture(scope="module")
def limited_sandbox():
    origin = time.time()

    def fast_clock() -> float:
        return origin + (time.time() - origin) * SCALE

    app = create_app(
        api_key=API_KEY,
        connect_secret=CONNECT_SECRET,
        max_admin_api_reqs_per_minute=LIMIT,
        clock=fast_clock,
    )
    server = ThreadedServer(app).start()
    server.origin = origin
    yield server
    server.stop()


def run_processes(redis_url, sandbox_url, *, keys, calls, budget_wait=20.0) -> list[dict]:
    start_at = time.time() + 1.5  # after both interpreters are up
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.client.budget_worker",
                json.dumps(
                    {
                        "redis_url": redis_url,
                        "base_url": sandbox_url,
                        "api_key": API_KEY,
                        "connect_secret": CONNECT_SECRET,
                        "per_minute": LIMIT,
                        "window": BUDGET_WINDOW,
                        "key": key,
                        "calls": calls,
                        "budget_wait": budget_wait,
                        "start_at": start_at,
                    }
                ),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for key in keys
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    return results


def reset(server) -> None:
    requests.post(server.url + "/_sandbox/reset", timeout=5).raise_for_status()


def stats(server) -> dict:
    return requests.get(server.url + "/_sandbox/stats", timeout=5).json()


def test_two_processes_share_one_budget_and_never_hit_429(limited_sandbox, redis_server, key):
    reset(limited_sandbox)
    per_process = 30

    results = run_processes(
        redis_server.url, limited_sandbox.url, keys=[key, key], calls=per_process
    )

    assert results == [{"done": per_process, "limited": 0}] * 2
    seen = stats(limited_sandbox)
    assert seen["rate_limited"] == 0
    assert seen["accepted"] == 2 * per_process
    # the sandbox's own view (its clock): never more than LIMIT in any 60 s window
    assert max_in_any_window(seen["timestamps"], 60.0) == LIMIT
    # the same in real seconds, and the budget made the callers queue for it
    origin = limited_sandbox.origin
    real = sorted(origin + (t - origin) / SCALE for t in seen["timestamps"])
    # (Arrival times carry the network and scheduling jitter that the budget's
    # 0.5 s margin over the sandbox's window exists to absorb: on a loaded machine
    # they spread by more than 0.1 s, so the budget's own window is not checked
    # on them; Discourse's window is, above and here.)
    assert max_in_any_window(real, SANDBOX_WINDOW) <= LIMIT
    assert real[-1] - real[0] >= 2 * BUDGET_WINDOW - 0.2  # 60 calls = 3 windows of 20


def test_control_without_a_shared_budget_discourse_refuses(limited_sandbox, redis_server, key):
    """The same two processes with one budget each overrun Discourse's limit."""
    reset(limited_sandbox)

    results = run_processes(
        redis_server.url, limited_sandbox.url, keys=[key + ":a", key + ":b"], calls=LIMIT
    )

    assert sum(r["done"] + r["limited"] for r in results) == 2 * LIMIT
    # Each process pauses after its first 429, but by then Discourse refused calls.
    assert stats(limited_sandbox)["rate_limited"] >= 1
    assert sum(r["limited"] for r in results) >= 1
