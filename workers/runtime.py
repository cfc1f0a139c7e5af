"""What every job shares: the process's services, logging context, retry policy."""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import random
import time

from rq import get_current_job
from rq.job import Retry

from bridge.discourse import DiscourseError, InvalidCredentials
from bridge.ratelimit import CURRENT_TURN, GiveWay, Turn
from bridge.services import Services, build_services
from config import load_config
from config.logging import context_id
from workers import queue as jobs
from workers.locks import Busy

log = logging.getLogger(__name__)

MAX_TRANSIENT_ATTEMPTS = 25  # about two hours of backoff before a job is left failed
#: RQ counts every retry of a job (busy or transient) against `Retry.max`; the real
#: limits are ours: MAX_TRANSIENT_ATTEMPTS, and a lock's holder finishing.
RQ_RETRY_CAP = 100_000
BACKOFF_CAP = 300

_services: Services | None = None


def services() -> Services:
    """The worker process's services, built on first use."""
    global _services
    if _services is None:
        _services = build_services(load_config(), budget_wait=70.0)
    return _services


def set_services(value: Services | None) -> None:
    """Tests and the worker entry point hand in services built elsewhere."""
    global _services
    _services = value


def backoff(attempt: int) -> int:
    """Exponential backoff with jitter: 2, 4, 8 … s, capped at five minutes."""
    return int(min(BACKOFF_CAP, 2**attempt) * random.uniform(0.8, 1.2)) + 1


def job(func):
    """Run a job with its id on every log line and the bridge's retry policy.

    Transient errors (5xx, timeouts, 429) reschedule the job: after Discourse's
    `retry_after` for a 429, with backoff otherwise. A job whose lock is held
    by another runs again a few seconds later. A job that gives way to another
    source's work (`bridge.ratelimit`) goes to the back of the queue. Permanent
    errors fail the job loudly with the reason kept in its meta.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        current = get_current_job()
        token = context_id.set(current.id if current else func.__name__)
        turn = CURRENT_TURN.set(_turn(current))
        try:
            return func(*args, **kwargs)
        except GiveWay as giving:
            log.info("%s; queued again behind it", giving)
            return Retry(max=RQ_RETRY_CAP, interval=0)
        except Busy as busy:
            log.info("%s is held by another job; running again in %s s", busy, busy.retry_in)
            return Retry(max=RQ_RETRY_CAP, interval=busy.retry_in)
        except DiscourseError as error:
            if not error.transient or current is None:
                _remember(current, str(error), retrying=False)
                if isinstance(error, InvalidCredentials):
                    log.error("Discourse refused the API key: check DISCOURSE_API_KEY")  # noqa: TRY400
                raise
            attempt = int(current.meta.get("attempt", 0)) + 1
            if attempt > MAX_TRANSIENT_ATTEMPTS:
                _remember(current, f"gave up after {attempt - 1} attempts: {error}", False)
                raise
            delay = getattr(error, "retry_after", None)
            delay = math.ceil(delay) + 1 if delay is not None else backoff(attempt)
            current.meta.update(attempt=attempt)
            _remember(current, str(error), retrying=True)
            log.warning("transient error, retry %s in %s s: %s", attempt, delay, error)
            return Retry(max=RQ_RETRY_CAP, interval=delay)
        finally:
            CURRENT_TURN.reset(turn)
            context_id.reset(token)

    return wrapper


def _turn(current) -> Turn | None:
    """The running job's turn at the budget: its lane, and the lanes queued behind it."""
    if current is None:
        return None
    return Turn(jobs.lane_of(current.meta), lambda: jobs.queued_lanes(current.connection),
                patient=[jobs.FORUM_LANE])


def resumable():
    """Where the running job may stop to let another source go first (see `Turn`)."""
    turn = CURRENT_TURN.get()
    return turn.resumable() if turn is not None else contextlib.nullcontext()


class RetryingClient:
    """The Discourse client for long jobs: a transient failure is retried in place.

    A group pass makes dozens of calls; failing the whole job on one 5xx would
    start it over, re-spending its reads. Here each call is retried a few times
    (after Discourse's `retry_after` for a 429, with backoff otherwise) before the
    error reaches the job's own retry policy.
    """

    def __init__(self, client, *, attempts: int = 6, max_wait: float = 90.0,
                 heartbeat=None):
        self._client = client
        self._attempts = attempts
        self._max_wait = max_wait
        self._heartbeat = heartbeat

    def __getattr__(self, name):
        method = getattr(self._client, name)
        if not callable(method):
            return method

        @functools.wraps(method)
        def call(*args, **kwargs):
            for attempt in range(1, self._attempts + 1):
                if self._heartbeat is not None:
                    self._heartbeat()
                try:
                    return method(*args, **kwargs)
                except DiscourseError as error:
                    wait = getattr(error, "retry_after", None)
                    wait = wait + 0.5 if wait is not None else min(0.5 * 2**attempt, 20)
                    if not error.transient or attempt == self._attempts or wait > self._max_wait:
                        raise
                    log.info("%s: %s; retrying in %.1f s", name, error, wait)
                    time.sleep(wait)
            raise AssertionError("unreachable")

        return call


def _remember(current, text: str, retrying: bool) -> None:
    if current is None:
        return
    current.meta.update(error=text[:500], retrying=retrying)
    current.save_meta()
