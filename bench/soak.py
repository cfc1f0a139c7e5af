"""Soak benchmark: a simulated week of scheduler ticks and ordinary traffic.

    .venv/bin/python -m bench.soak [--days 7] [--members 40] 2>/dev/null

Prints the keys in Redis (all, RQ's, the bridge's), the jobs in RQ's finished
registry, the audit entries, Redis's `used_memory` and the part of it that is
data (`dataset.bytes` of MEMORY STATS: without connection buffers, which come and
go) after the first simulated hour, after six hours and at the end of every
simulated day. A bridge whose state is bounded shows flat rows after the first
hour.

What is real: an embedded Redis server; RQ (the periodic jobs are claimed and
enqueued by `workers.__main__.enqueue_due`, as `python -m workers` does, and run
by an RQ SimpleWorker with its scheduler and registry maintenance, so job
hashes, results, TTLs and registries are written by RQ itself); the bridge's
job functions; its HTTP API (a Flask test client) for the traffic; the sandbox
Discourse over HTTP (members with forum accounts, categories, topics); an
iCalendar feed file that the feed poll reads.

What is simulated: the clock. Python's clock stands still and is moved 15 s a
tick with time-machine, so whatever reads it (RQ's timestamps and registry
scores, the periodic claims, worker heartbeats, the sweeps' decisions) lives in
simulated time: a week runs in minutes. Redis expires keys by its own clock,
which nothing can move, so the benchmark listens to Redis's keyspace events
for every TTL that is set and deletes the key itself once that TTL has passed in
simulated time (a TTL renewed later wins; checked every tick). Left on real
time: entry ids of the audit stream (Redis stamps them), so the simulated week
never reaches the audit retention and its entries grow with the traffic, as
they do for BRIDGE_AUDIT_RETENTION_DAYS in production (the trim is tested in
tests/workers/test_housekeeping.py instead); the admin API budget's window (the
sandbox and the budget allow more calls than the week makes, so it never waits).
Not exercised: failing jobs (the failed registry stays empty) and workers
killed mid-job.

The traffic, through the API: every 15 minutes a member's role is granted or
taken back (a roster of --members teachers with forum accounts); every six
hours an upcoming event changes; every day a new member joins and the one who
joined the day before is offboarded, a new event is announced and the one
announced two days before is withdrawn. Reconciliation runs every
--reconcile-interval seconds (the product's default without webhooks: 300),
the sweeps every 15 s, the audit trim hourly, the feed poll every 15 minutes.
"""

from __future__ import annotations

import argparse
import heapq
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
import time_machine
import yaml
from rq import SimpleWorker
from rq.group import Group
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer

from bench.environment import ROOT, Bench, bench_environment
from bridge.audit import AUDIT_KEY
from web import create_app
from workers import queue as jobs
from workers.__main__ import SWEEP_INTERVAL, enqueue_due, periodic_jobs
from workers.events import setup_categories
from workers.members import setup_groups

TICK = SWEEP_INTERVAL
HOUR = 3600
DAY = 24 * HOUR
ROLES = ("participant", "winner")


class SimulatedExpiry:
    """Redis TTLs counted in simulated time: Redis's own clock cannot be moved.

    Keyspace events name every key whose TTL is set (EXPIRE, SET … EX, inside
    scripts and pipelines too); its TTL is read at once and the key deleted when
    that much simulated time has passed, unless a later TTL replaced it.
    """

    def __init__(self, connection: redis.Redis):
        connection.config_set("notify-keyspace-events", "Eg")
        self.connection = connection
        self.pubsub = connection.pubsub(ignore_subscribe_messages=True)
        self.pubsub.psubscribe("__keyevent@*__:expire")
        self.pubsub.get_message(timeout=1.0)  # the subscription's confirmation
        self._due: list[tuple[float, bytes]] = []
        self._latest: dict[bytes, float] = {}

    def note_new_ttls(self, now: float) -> None:
        keys = set()
        while (message := self.pubsub.get_message()) is not None:
            keys.add(message["data"])
        if not keys:
            return
        pipe = self.connection.pipeline(transaction=False)
        for key in keys:
            pipe.pttl(key)
        for key, ttl in zip(keys, pipe.execute(), strict=True):
            if ttl > 0:
                self._latest[key] = now + ttl / 1000
                heapq.heappush(self._due, (now + ttl / 1000, key))

    def expire_due(self, now: float) -> int:
        self.note_new_ttls(now)
        expired = []
        while self._due and self._due[0][0] <= now:
            due, key = heapq.heappop(self._due)
            if self._latest.get(key) == due:
                del self._latest[key]
                expired.append(key)
        if not expired:
            return 0
        pipe = self.connection.pipeline(transaction=False)
        for key in expired:
            pipe.pttl(key)
        volatile = [k for k, ttl in zip(expired, pipe.execute(), strict=True) if ttl > 0]
        return int(self.connection.delete(*volatile)) if volatile else 0


@dataclass
class Traffic:
    """Ordinary traffic through the API, driven by the simulated time."""

    client: object
    headers: dict[str, str]
    members: int
    start: float
    sent: dict[str, int] = field(default_factory=dict)

    def at(self, now: float) -> None:
        elapsed = int(now - self.start)
        if elapsed % (15 * 60) == 0:
            self.change_role(elapsed // (15 * 60))
        if elapsed % (6 * HOUR) == 0:
            self.change_event(elapsed // (6 * HOUR), now)
        if elapsed % DAY == 0:
            self.daily(elapsed // DAY, now)

    def roster(self) -> None:
        for i in range(self.members):
            self._send("PUT", f"/api/v1/members/soak-{i:03d}", member_body(i))

    def change_role(self, n: int) -> None:
        i = n % self.members
        self._send("PUT", f"/api/v1/members/soak-{i:03d}",
                   member_body(i, role=ROLES[(n // self.members + 1) % 2]))

    def change_event(self, n: int, now: float) -> None:
        body = event_body("Заседание совета клуба", now + 10 * DAY)
        body["description"] = f"Повестка, редакция {n}."
        self._send("PUT", "/api/v1/events/soak-standing", body)

    def daily(self, day: int, now: float) -> None:
        self._send("PUT", f"/api/v1/members/soak-new-{day}", member_body(1000 + day))
        if day >= 1:
            self._send("DELETE", f"/api/v1/members/soak-new-{day - 1}")
        self._send("PUT", f"/api/v1/events/soak-day-{day}",
                   event_body(f"Семинар дня {day}", now + 3 * DAY))
        if day >= 2:
            self._send("DELETE", f"/api/v1/events/soak-day-{day - 2}")

    def _send(self, method: str, path: str, body: dict | None = None) -> None:
        response = self.client.open(path, method=method, json=body, headers=self.headers)
        if response.status_code not in (200, 202):
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.get_data()}")
        self.sent[method] = self.sent.get(method, 0) + 1


def member_body(i: int, *, role: str = "participant") -> dict:
    return {
        "email": f"soak{i:04d}@schools.example.org",
        "name": f"Учитель{i:04d} Анна Сергеевна",
        "roles": [role],
    }


def event_body(title: str, starts: float) -> dict:
    start = datetime.fromtimestamp(starts, UTC).replace(minute=0, second=0, microsecond=0)
    return {
        "title": title,
        "kind": "seminar",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=2)).isoformat(),
        "location": "Смоленск, ГАУ ДПО СОИРО",
        "description": "Повестка.",
    }


FEED = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//soak//RU
BEGIN:VEVENT
UID:soak-feed-1@institute.example
SEQUENCE:1
DTSTART:{start}
DTEND:{end}
SUMMARY:Вебинар из календаря института
CATEGORIES:webinar
LOCATION:Онлайн
END:VEVENT
END:VCALENDAR
"""


def write_feed(folder: Path, start: datetime) -> Path:
    path = folder / "feed.ics"
    stamp = "%Y%m%dT%H%M%SZ"
    path.write_text(FEED.format(start=(start + timedelta(days=30)).strftime(stamp),
                                end=(start + timedelta(days=30, hours=1)).strftime(stamp)))
    return path


class SoakWorker(SimpleWorker):
    """The product's worker settings in one process, reused for every tick's burst.

    Unlike RQ's own worker it starts no pubsub thread for `rq` commands (joining
    it costs 50 ms a burst, and the soak sends none) and no scheduler process:
    one scheduler moves the due scheduled jobs at every tick instead (RQ's burst
    mode would build a scheduler, with a connection pool of its own, each time).
    """

    def subscribe(self) -> None:
        pass

    def run_maintenance_tasks(self) -> None:
        self.clean_registries()
        Group.clean_registries(connection=self.connection)


@dataclass
class Workers:
    worker: SoakWorker
    scheduler: RQScheduler

    @classmethod
    def start(cls, connection: redis.Redis) -> Workers:
        queue = jobs.queue(connection)
        worker = SoakWorker([queue], connection=connection, serializer=JSONSerializer,
                            worker_ttl=30, job_monitoring_interval=5, maintenance_interval=15)
        return cls(worker, RQScheduler([queue], connection=connection, serializer=JSONSerializer,
                                       logging_level="WARNING"))

    def run_due_jobs(self) -> None:
        """Due scheduled jobs are queued, registries maintained when due, the queue
        emptied; jobs scheduled for later wait for their simulated time."""
        self.scheduler.acquire_locks()
        if self.scheduler.acquired_locks:
            self.scheduler.enqueue_scheduled_jobs()
            self.scheduler.release_locks()
        self.worker.work(burst=True, logging_level="WARNING")


def write_config(folder: Path) -> Path:
    """Three managed groups: a reconciliation reads each, and their number changes
    the API calls, not the keys in Redis."""
    (folder / "roles.yml").write_text(yaml.safe_dump({
        "groups": {name: {"full_name": name} for name in ("club", "winners", "participants")},
        "roles": {"winner": {"groups": ["club", "winners"]},
                  "participant": {"groups": ["club", "participants"]}},
    }))
    shutil.copy(ROOT / "config" / "events.yml", folder / "events.yml")
    shutil.copytree(ROOT / "config" / "templates", folder / "templates")
    return folder


def seed_forum_accounts(bench: Bench, members: int) -> None:
    bench.seed(users=[{
        "username": f"soak{i:04d}", "name": f"Учитель {i}",
        "email": f"soak{i:04d}@schools.example.org", "external_id": f"soak-{i:03d}",
    } for i in range(members)])


def measure(connection: redis.Redis) -> dict:
    counts = {"keys": 0, "rq": 0, "bridge": 0}
    for key in connection.scan_iter(count=1000):
        counts["keys"] += 1
        if key.startswith(b"rq:"):
            counts["rq"] += 1
        elif key.startswith(b"bridge:"):
            counts["bridge"] += 1
    queue = jobs.queue(connection)
    return {
        **counts,
        "finished": connection.zcard(queue.finished_job_registry.key),
        "failed": connection.zcard(queue.failed_job_registry.key),
        "audit": connection.xlen(AUDIT_KEY),
        "memory": int(connection.info("memory")["used_memory"]),
        "dataset": int(connection.memory_stats()["dataset.bytes"]),
    }


HEADER = (f"{'simulated':>10} {'keys':>7} {'rq:*':>7} {'bridge:*':>8} {'finished':>8} "
          f"{'failed':>6} {'audit':>6} {'used_memory':>12} {'dataset':>11}")


def row(label: str, figures: dict) -> str:
    return (f"{label:>10} {figures['keys']:>7} {figures['rq']:>7} {figures['bridge']:>8} "
            f"{figures['finished']:>8} {figures['failed']:>6} {figures['audit']:>6} "
            f"{figures['memory'] / 2**20:>8.2f} MiB {figures['dataset'] / 2**20:>7.2f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7)
    parser.add_argument("--members", type=int, default=40)
    parser.add_argument("--reconcile-interval", type=int, default=300)
    args = parser.parse_args()

    start = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as folder:
        feed = write_feed(Path(folder), start)
        environ = {"BRIDGE_RECONCILE_INTERVAL": str(args.reconcile_interval),
                   "BRIDGE_EVENT_FEEDS": str(feed)}  # a file: `kind=` takes URLs only
        config_dir = write_config(Path(folder))
        with bench_environment(rate=10**6, config_dir=config_dir, environ=environ) as bench:
            run(bench, args, start)


def run(bench: Bench, args: argparse.Namespace, start: datetime) -> None:
    services = bench.services
    raw = services.redis_raw
    expiry = SimulatedExpiry(raw)
    setup_groups(services)
    setup_categories(services)
    seed_forum_accounts(bench, args.members)
    token = next(iter(services.settings.api_tokens.values()))
    schedule = periodic_jobs(services.settings)
    reports = {HOUR: "1 h", 6 * HOUR: "6 h"}
    reports |= {d * DAY: f"day {d}" for d in range(1, int(args.days) + 1)}
    print(f"{args.days} simulated days, {args.members} members, sweeps every {TICK} s, "  # noqa: T201
          f"reconciliation every {args.reconcile_interval} s")
    print(HEADER, flush=True)  # noqa: T201
    started = time.monotonic()
    with time_machine.travel(start, tick=False) as clock:
        traffic = Traffic(create_app(services=services).test_client(),
                          {"Authorization": f"Bearer {token}"}, args.members, time.time())
        enqueue_due(raw, schedule, now=time.time())  # sets each job's first slot
        workers = Workers.start(raw)
        traffic.roster()
        traffic.at(time.time())
        workers.run_due_jobs()
        for elapsed in range(TICK, int(args.days * DAY) + 1, TICK):
            clock.shift(TICK)
            now = time.time()
            expiry.expire_due(now)
            enqueue_due(raw, schedule, now=now)
            traffic.at(now)
            workers.run_due_jobs()
            if elapsed in reports:
                expiry.expire_due(now)
                print(row(reports[elapsed], measure(raw)), flush=True)  # noqa: T201
    stats = bench.stats()
    print(f"traffic: {traffic.sent}; forum calls {stats['accepted']}; "  # noqa: T201
          f"wall time {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
