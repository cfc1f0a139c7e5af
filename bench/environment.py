"""What every benchmark needs: its own Redis, a sandbox Discourse, the services.

Everything runs on loopback ports of its own, so a benchmark never touches the
embedded default of `make run`.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import socket
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import requests
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from werkzeug.serving import make_server

from bridge.redis_server import EmbeddedRedis
from bridge.services import Services, build_services
from config import load_config
from workers import runtime
from workers.queue import queue

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Bench:
    services: Services
    forum: str
    control: requests.Session

    def stats(self) -> dict:
        return self.control.get(self.forum + "/_sandbox/stats", timeout=30).json()

    def state(self) -> dict:
        return self.control.get(self.forum + "/_sandbox/state", timeout=60).json()

    def seed(self, **data) -> dict:
        """Create users, groups, memberships; returns what was created, by name -> id."""
        response = self.control.post(self.forum + "/_sandbox/seed", json=data, timeout=120)
        response.raise_for_status()
        return response.json()

    def run_workers(self) -> None:
        """Burst workers (one process, no fork) until nothing is queued or scheduled."""
        q = queue(self.services.redis_raw)
        while q.count or q.scheduled_job_registry.count:
            SimpleWorker([q], connection=self.services.redis_raw,
                         serializer=JSONSerializer).work(
                burst=True, with_scheduler=True, logging_level="WARNING")


@contextlib.contextmanager
def bench_environment(
    *, rate: int, config_dir: Path | None = None, bridge_port: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> Iterator[Bench]:
    """`environ`: further bridge settings (e.g. `BRIDGE_RECONCILE_INTERVAL`);
    `bridge_port`: the bridge's own URL (BRIDGE_PUBLIC_URL), for a benchmark that
    serves the bridge there (webhooks from the sandbox reach it)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from sandbox.discourse import create_app

    api_key, connect_secret = secrets.token_hex(32), secrets.token_hex(24)
    with tempfile.TemporaryDirectory() as data_dir:
        redis_server = EmbeddedRedis(port=free_port(), data_dir=Path(data_dir)).start()
        forum_app = create_app(api_key=api_key, connect_secret=connect_secret,
                               connect_url="http://127.0.0.1:9/sso",
                               max_admin_api_reqs_per_minute=rate)
        port = free_port()
        server = make_server("127.0.0.1", port, forum_app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        forum = f"http://127.0.0.1:{port}"
        try:
            config = load_config({
                "DISCOURSE_URL": forum,
                "DISCOURSE_API_KEY": api_key,
                "DISCOURSE_CONNECT_SECRET": connect_secret,
                "DISCOURSE_MAX_REQS_PER_MINUTE": str(rate),
                "REDIS_URL": redis_server.url,
                "BRIDGE_SECRET_KEY": secrets.token_hex(16),
                "BRIDGE_API_TOKENS": f"bench:{secrets.token_hex(16)}",
                "OIDC_ISSUER": "http://127.0.0.1:9",
                "OIDC_CLIENT_ID": "bench",
                "OIDC_CLIENT_SECRET": secrets.token_hex(16),
                "BRIDGE_CONFIG_DIR": str(config_dir or ROOT / "config"),
                **({"BRIDGE_PUBLIC_URL": f"http://127.0.0.1:{bridge_port}"}
                   if bridge_port else {}),
                **(environ or {}),
            })
            services = build_services(config, budget_wait=120)  # with sources.yml: a federation
            runtime.set_services(services)
            yield Bench(services=services, forum=forum, control=requests.Session())
        finally:
            runtime.set_services(None)
            server.shutdown()
            redis_server.stop()
