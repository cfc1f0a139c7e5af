"""The one lock policy of the jobs: a Redis lock that lives only while its holder does.

A job that finds its entity busy does not block a worker: it is retried a few
seconds later (`Busy` → the job wrapper reschedules it). A held lock expires
20 s after its last renewal and a thread renews it every 5 s, so a worker
killed mid-job frees it within 20 s and the sweep hands the work to another.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from bridge.discourse import ServerError

log = logging.getLogger(__name__)

LOCK_TTL = 20
BUSY_RETRY = 3  # seconds before a job that found its lock taken runs again


class LockLost(ServerError):
    """The lock expired mid-job (another job may hold it now): stop, retry later."""


class Held:
    """A held lock; `check()` before each step raises `LockLost` once it is gone."""

    def __init__(self, name: str):
        self.name = name
        self.lost = threading.Event()

    def check(self) -> None:
        if self.lost.is_set():
            raise LockLost(f"lost the lock {self.name}")


class Busy(Exception):  # noqa: N818 - a state, not a failure
    """Another job holds the lock: run again in `retry_in` seconds."""

    def __init__(self, name: str, retry_in: int):
        super().__init__(f"lock {name}")
        self.retry_in = retry_in


@contextmanager
def held(
    connection: redis.Redis, name: str, *, wait: float = 5.0, retry_in: int = BUSY_RETRY
) -> Iterator[Held]:
    # thread_local=False: the renewing thread must see the lock's token.
    lock = connection.lock(f"bridge:lock:{name}", timeout=LOCK_TTL, blocking_timeout=wait,
                           thread_local=False)
    if not lock.acquire():
        raise Busy(name, retry_in)
    done = threading.Event()
    handle = Held(name)

    def renew() -> None:
        while not done.wait(LOCK_TTL / 4):
            try:
                lock.reacquire()
            except redis.exceptions.LockNotOwnedError:
                handle.lost.set()
            except Exception:  # noqa: BLE001 - Redis away: retried at the next beat
                log.warning("could not renew lock %s", name)

    renewer = threading.Thread(target=renew, daemon=True)
    renewer.start()
    try:
        yield handle
    finally:
        done.set()
        try:
            lock.release()
        except Exception:  # noqa: BLE001 - an expired lock is released already
            log.warning("lock %s expired before release", name)
