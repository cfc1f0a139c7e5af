"""Prometheus metrics that are true across processes.

Web, workers and `flask` commands are separate processes, so counters live in
Redis (one HINCRBY per Discourse call) and a collector reads them, with queue
depths and backlog, at scrape time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from bridge import timeseries
from bridge.discourse import CallRecord

CALLS_KEY = "bridge:metrics:discourse_calls"
_ID_SEGMENT = re.compile(r"/(\d+|[^/]+@[^/]+)(?=/|\.json|$)")


def endpoint_template(method: str, path: str) -> str:
    """`PUT /groups/12/members.json` -> `PUT /groups/:id/members.json` (no ids in labels)."""
    if path.startswith(("/u/by-external/", "/t/external_id/")):
        path = path.rsplit("/", 1)[0] + "/:external_id.json"
    elif path.startswith("/groups/") and not path[8:].split("/")[0].isdigit():
        path = re.sub(r"^/groups/[^/]+", "/groups/:name", path.removesuffix(".json")) + ".json"
    return f"{method} {_ID_SEGMENT.sub('/:id', path)}"


class CallCounter:
    """The Discourse client's `on_call` hook: counts calls by endpoint and status,
    and in the minute they were made (the admin overview's budget chart), in one
    round trip."""

    def __init__(self, connection: redis.Redis):
        self.connection = connection

    def __call__(self, call: CallRecord) -> None:
        field = f"{endpoint_template(call.method, call.path)}|{call.status or 'error'}"
        try:
            pipe = self.connection.pipeline(transaction=False)
            pipe.hincrby(CALLS_KEY, field, 1)
            timeseries.count(pipe, timeseries.CALLS, now=time.time())
            pipe.execute()
        except redis.RedisError:
            pass  # metrics must never break a sync


class BridgeCollector:
    """`job_counts` (state -> count) is handed in: the domain knows nothing of RQ."""

    def __init__(self, services, *, job_counts: Callable[[], Mapping[str, int]]):
        self.services = services
        self.job_counts = job_counts

    def collect(self):
        r = self.services.redis
        calls = CounterMetricFamily(
            "bridge_discourse_calls", "Discourse API calls by endpoint and status",
            labels=["endpoint", "status"],
        )
        for field, count in r.hgetall(CALLS_KEY).items():
            endpoint, _, status = field.rpartition("|")
            calls.add_metric([endpoint, status], int(count))
        yield calls

        jobs = GaugeMetricFamily("bridge_jobs", "Jobs by state", labels=["state"])
        for state, count in self.job_counts().items():
            jobs.add_metric([state], count)
        yield jobs

        dirty = self.services.members.dirty_ids()
        yield GaugeMetricFamily(
            "bridge_members_dirty", "Members whose forum state is not yet converged",
            value=len(dirty),
        )
        yield from self._by_source(dirty)
        yield GaugeMetricFamily(
            "bridge_discourse_budget_used", "Admin API calls spent in the current window",
            value=self.services.budget.used(),
        )

    def _by_source(self, dirty: list[str]):
        """Members and the not-yet-converged ones, labelled by the source listing them."""
        federation = self.services.config.sources
        listed = GaugeMetricFamily("bridge_source_members", "Members the bridge knows, by source",
                                   labels=["source"])
        lagging = GaugeMetricFamily("bridge_source_members_dirty",
                                    "Members not yet converged, by source", labels=["source"])
        for family, ids in ((listed, self.services.members.all_ids()), (lagging, dirty)):
            counts = dict.fromkeys(federation.codes, 0)
            for external_id in ids:
                counts[federation.source_of(external_id).code] += 1
            for code, count in counts.items():
                family.add_metric([code], count)
            yield family
