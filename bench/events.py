"""Benchmark: 200 event announcements, then the same 200 pushed again unchanged.

    .venv/bin/python -m bench.events [--events 200] [--rate 100000] 2>/dev/null

Starts its own Redis (embedded) and sandbox Discourse (in a thread), stores and
queues the events the way the API does, runs RQ workers in burst mode, and
prints the forum calls of each pass (from the sandbox's `/_sandbox/stats`) and
the wall time. The unchanged pass must cost zero writes.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import socket
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from werkzeug.serving import make_server

from bridge.events import EventIn
from bridge.redis_server import EmbeddedRedis
from bridge.services import build_services
from config import AppConfig, load_mappings
from config.settings import load_settings
from workers import runtime
from workers.events import setup_categories, submit
from workers.queue import queue

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("forum", "seminar", "master_class", "round_table", "contest", "webinar")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def event(n: int) -> dict:
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC) + timedelta(days=n // 4, hours=n % 4)
    return EventIn.model_validate({
        "title": f"Заседание клуба «Учитель года» №{n}",
        "kind": KINDS[n % len(KINDS)],
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=2)).isoformat(),
        "location": "Смоленск, ГАУ ДПО СОИРО" if n % 2 else None,
        "url": None if n % 2 else f"https://vk.com/video-{n}",
        "description": f"Повестка заседания №{n}: итоги, планы, **обсуждение**.",
        "audience": ["winner", "participant"],
    }).desired()


def run_workers(services) -> None:
    """Burst workers until the queue is empty (SimpleWorker: one process, no fork)."""
    q = queue(services.redis_raw)
    while q.count:
        SimpleWorker([q], connection=services.redis_raw, serializer=JSONSerializer).work(
            burst=True, with_scheduler=True, logging_level="WARNING"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=int, default=100_000,
                        help="admin API requests a minute (Discourse's default is 60)")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    from sandbox.discourse import create_app

    api_key = secrets.token_hex(32)
    connect_secret = secrets.token_hex(24)
    with tempfile.TemporaryDirectory() as data_dir:
        redis_server = EmbeddedRedis(port=free_port(), data_dir=Path(data_dir)).start()
        forum_app = create_app(api_key=api_key, connect_secret=connect_secret,
                               max_admin_api_reqs_per_minute=args.rate)
        port = free_port()
        server = make_server("127.0.0.1", port, forum_app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        forum = f"http://127.0.0.1:{port}"
        try:
            settings = load_settings({
                "DISCOURSE_URL": forum,
                "DISCOURSE_API_KEY": api_key,
                "DISCOURSE_CONNECT_SECRET": connect_secret,
                "DISCOURSE_MAX_REQS_PER_MINUTE": str(args.rate),
                "REDIS_URL": redis_server.url,
                "BRIDGE_SECRET_KEY": secrets.token_hex(16),
                "BRIDGE_API_TOKENS": f"bench:{secrets.token_hex(16)}",
                "OIDC_ISSUER": "http://127.0.0.1:9",
                "OIDC_CLIENT_ID": "bench",
                "OIDC_CLIENT_SECRET": secrets.token_hex(16),
                "BRIDGE_CONFIG_DIR": str(ROOT / "config"),
            })
            roles, events = load_mappings(settings.config_dir)
            services = build_services(AppConfig(settings, roles, events), budget_wait=120)
            runtime.set_services(services)
            setup_categories(services)
            control = requests.Session()

            def stats() -> dict:
                return control.get(forum + "/_sandbox/stats", timeout=10).json()

            print(f"events: {args.events}, rate limit: {args.rate}/min")  # noqa: T201
            for label, version in (("create", 1), ("unchanged re-push", 2)):
                before = stats()
                started = time.monotonic()
                for n in range(args.events):
                    submit(services, f"bench-{n}", event(n), version=version, cause="bench")
                run_workers(services)
                seconds = time.monotonic() - started
                after = stats()
                print(  # noqa: T201
                    f"{label:>18}: writes {after['writes'] - before['writes']:>4}, "
                    f"reads {after['reads'] - before['reads']:>4}, "
                    f"429s {after['rate_limited'] - before['rate_limited']:>3}, "
                    f"wall {seconds:6.2f} s"
                )
            topics = control.get(forum + "/_sandbox/state", timeout=30).json()["topics"]
            print(f"topics on the forum: {len(topics)}")  # noqa: T201
        finally:
            server.shutdown()
            redis_server.stop()


if __name__ == "__main__":
    main()
