"""Benchmark: 200 event announcements, then the same 200 pushed again unchanged.

    .venv/bin/python -m bench.events [--events 200] [--rate 600] 2>/dev/null

Starts its own Redis (embedded) and sandbox Discourse (in a thread), stores and
queues the events the way the API does, runs RQ workers in burst mode, and
prints the forum calls of each pass (from the sandbox's `/_sandbox/stats`) and
the wall time. The unchanged pass must cost zero writes.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from bench.environment import bench_environment
from bridge.events import EventIn
from workers.events import setup_categories, submit

KINDS = ("forum", "seminar", "master_class", "round_table", "contest", "webinar")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=int, default=600,
                        help="admin API requests a minute (Discourse's default is 60)")
    args = parser.parse_args()

    with bench_environment(rate=args.rate) as bench:
        services = bench.services
        setup_categories(services)
        print(f"events: {args.events}, rate limit: {args.rate}/min")  # noqa: T201
        for label, version in (("create", 1), ("unchanged re-push", 2)):
            before = bench.stats()
            started = time.monotonic()
            for n in range(args.events):
                submit(services, f"bench-{n}", event(n), version=version, cause="bench")
            bench.run_workers()
            seconds = time.monotonic() - started
            after = bench.stats()
            print(  # noqa: T201
                f"{label:>18}: writes {after['writes'] - before['writes']:>4}, "
                f"reads {after['reads'] - before['reads']:>4}, "
                f"429s {after['rate_limited'] - before['rate_limited']:>3}, "
                f"wall {seconds:6.2f} s"
            )
        print(f"topics on the forum: {len(bench.state()['topics'])}")  # noqa: T201


if __name__ == "__main__":
    main()
