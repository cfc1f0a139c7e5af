"""`python -m workers`: an RQ worker with its scheduler and the periodic jobs.

Run several for more throughput: they share one Discourse budget, and each
periodic job is enqueued by whichever worker claims its slot first.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time

import redis
from rq import Worker
from rq.serializers import JSONSerializer

from bridge.services import build_services
from config import ConfigError, load_config
from config.logging import configure_logging
from workers import queue as jobs
from workers import runtime, samples

log = logging.getLogger("workers")

SWEEP_INTERVAL = 15
TRIM_INTERVAL = 3600
QUEUE_CLEAN_INTERVAL = 300


def periodic_jobs(settings) -> list[tuple[str, str, int]]:
    """(name, job function, interval in seconds)."""
    schedule = [
        ("reconcile", "workers.members.reconcile", settings.reconcile_interval),
        ("sweep-members", "workers.members.sweep", SWEEP_INTERVAL),
        ("sweep-events", "workers.events.sweep_events", SWEEP_INTERVAL),
        ("audit-trim", "workers.periodic.trim_audit", TRIM_INTERVAL),
        ("queue-clean", "workers.periodic.clean_queue", QUEUE_CLEAN_INTERVAL),
    ]
    if settings.event_feeds:
        schedule.append(("event-feeds", "workers.events.poll_feeds", settings.event_feed_interval))
    return schedule


# Claim a periodic job's run: true for one worker only, once its time has come.
# KEYS[1] holds the time of the next run; the first worker ever sets it one
# interval ahead (nothing runs at start-up, when the API budget is needed most).
_CLAIM = """
local now = tonumber(ARGV[1])
local due = tonumber(redis.call('GET', KEYS[1]) or '')
if not due then
  redis.call('SET', KEYS[1], now + tonumber(ARGV[2]))
  return 0
end
if now < due then
  return 0
end
redis.call('SET', KEYS[1], now + tonumber(ARGV[2]))
return 1
"""


def enqueue_due(connection: redis.Redis, schedule: list[tuple[str, str, int]],
                *, now: float) -> list[str]:
    """Enqueue the periodic jobs whose time has come; returns their job ids.

    One step of `run_periodic`, apart so that the soak benchmark can drive the
    very same claims and jobs with a simulated clock.
    """
    claim = connection.register_script(_CLAIM)
    enqueued = []
    for name, func, interval in schedule:
        try:
            if claim(keys=[f"bridge:periodic:{name}:next"], args=[now, interval]):
                enqueued.append(jobs.enqueue(
                    connection, func, job_id=jobs.job_id_for("periodic", name, int(now)),
                    description=f"periodic {name}", result_ttl=jobs.PERIODIC_RESULT_TTL,
                    failure_ttl=jobs.PERIODIC_FAILURE_TTL))
        except redis.RedisError as error:
            log.warning("periodic %s: Redis unavailable (%s), will retry", name, error)
    return enqueued


def run_periodic(connection: redis.Redis, settings, stop: threading.Event) -> None:
    """Enqueue each periodic job once per interval, whichever worker comes first,
    and take the admin overview's minute samples."""
    schedule = periodic_jobs(settings)
    while not stop.is_set():
        enqueue_due(connection, schedule, now=time.time())
        try:
            samples.take_once_a_minute(connection, now=time.time())
        except redis.RedisError as error:
            log.warning("minute samples: Redis unavailable (%s), will retry", error)
        stop.wait(2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers", description=__doc__)
    parser.add_argument("--burst", action="store_true", help="Exit when the queue is empty.")
    parser.add_argument("--no-periodic", action="store_true", help="Do not schedule periodic jobs.")
    args = parser.parse_args(argv)
    try:
        config = load_config()
    except ConfigError as error:
        print(error, file=sys.stderr)  # noqa: T201
        return 2
    configure_logging(config.settings.log_level, process="worker",
                      log_format=config.settings.log_format)
    services = build_services(config, budget_wait=70.0)
    runtime.set_services(services)

    stop = threading.Event()
    if not args.no_periodic and not args.burst:
        threading.Thread(
            target=run_periodic, args=(services.redis_raw, config.settings, stop), daemon=True
        ).start()
    worker = Worker(
        [jobs.queue(services.redis_raw)],
        connection=services.redis_raw,
        serializer=JSONSerializer,
        worker_ttl=30,
        job_monitoring_interval=5,
        maintenance_interval=15,
    )
    log.info("worker %s started on queue %s", worker.name, jobs.QUEUE_NAME)
    try:
        worker.work(burst=args.burst, with_scheduler=True, logging_level=config.settings.log_level)
    finally:
        stop.set()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
