"""Event jobs: announce an event on the forum, sweep forgotten ones, poll iCalendar feeds.

Thin layers over `bridge.events`: a job takes the event's lock, converges the
forum to the newest desired state and marks the event clean only when the
version it converged is still the newest.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge import ics
from bridge.events import EventIn, check_event, match_categories
from bridge.services import Services, http_session
from bridge.versioned import Accepted
from config.mapping import CategorySpec
from config.sources import Source, split_feed_source
from workers import runtime
from workers.locks import held
from workers.queue import enqueue, enqueue_or_rerun, job_id_for, job_is_orphaned, requeue

log = logging.getLogger(__name__)

LOCK_WAIT = 15.0  # a second job for the same event waits this long, then retries later
SYNC_TIMEOUT = 300
# Feed key -> the external ids last seen in it. (Not the older "bridge:ics-source:" sets:
# those were written before feeds had namespaces and may name API events.)
FEED_SOURCE_PREFIX = "bridge:ics-feed:"


def event_job_id(external_id: str, version: int) -> str:
    """One job per accepted version of an event (`event-<escaped id>-v<version>`).

    The API, the sweep and a webhook's report all queue it under this id, so the
    sweep finds (and brings back) a lost job whoever queued it; nothing else, such
    as the topic's generation, belongs in it.
    """
    return job_id_for("event", external_id, f"v{version}")


def submit(
    services: Services,
    external_id: str,
    desired: Mapping[str, Any],
    *,
    version: int | None,
    removed: bool = False,
    cause: str = "api",
    source: str | None = None,
) -> tuple[Accepted, str | None]:
    """Store a desired state durably, then queue its job; an old version queues nothing.

    `source`: the code of the source that sent the event (its job is theirs)."""
    accepted = services.events.accept(
        external_id, desired, version=version, removed=removed
    )
    if not accepted.stored:
        return accepted, None
    job_id = enqueue(
        services.redis_raw,
        "workers.events.sync_event",
        external_id,
        cause,
        job_id=event_job_id(external_id, accepted.version),
        timeout=SYNC_TIMEOUT,
        source=source,
    )
    return accepted, job_id


def source_of_event(services: Services, external_id: str) -> Source:
    """The source an event belongs to, read from its stored id (`S:X`, or bare for legacy)."""
    try:
        return services.config.sources.source_of(external_id)
    except KeyError:  # its source left sources.yml: the job fails, loudly
        raise LookupError(f"event {external_id} belongs to no configured source") from None


@runtime.job
def sync_event(external_id: str, cause: str = "api"):
    """Converge one event's topic to the newest desired state."""
    services = runtime.services()
    store = services.events
    with held(services.redis, f"event:{external_id}", wait=LOCK_WAIT) as lock:
        event = store.get(external_id)
        if event is None:
            return {"action": "absent"}
        version = event.version
        try:
            source = source_of_event(services, external_id)
            outcome = services.event_publisher(source, keep_alive=lock.check).converge(
                external_id, cause=cause
            )
        except Exception as error:
            store.record_error(external_id, f"{type(error).__name__}: {error}")
            raise
        store.record_error(external_id, None)
        clean = store.mark_clean(external_id, version)
        log.info("event %s v%s: %s%s", external_id, version, outcome.action,
                 "" if clean else " (a newer version is queued)")
        return {"action": outcome.action, "version": version}


def sweep_dirty_events(services: Services) -> list[str]:
    """Queue a job for every event whose change has no live job (a killed worker, a
    Redis hiccup between store and enqueue, a webhook's report after the job had
    finished). A job that failed for a permanent reason stays failed, for an
    administrator to see and retry."""
    store = services.events
    queued = []
    for event in store.many(store.dirty_ids()):
        job_id = event_job_id(event.external_id, event.version)
        if job_is_orphaned(services.redis_raw, job_id):
            requeue(services.redis_raw, job_id)
        elif not enqueue_or_rerun(services.redis_raw, "workers.events.sync_event",
                                  event.external_id, "sweep", job_id=job_id,
                                  timeout=SYNC_TIMEOUT):
            continue
        queued.append(job_id)
    return queued


def report_topic_deleted(services: Services, topic_id: int) -> str:
    """A `topic_destroyed` webhook: the event's own job reads the topic back.

    Nothing is forgotten here: the job (the one the API and the sweep queue for
    this version) replaces the topic only if Discourse confirms it is gone.
    """
    store = services.events
    event = next((e for e in store.all() if e.topic_id == topic_id), None)
    if event is None:
        return "not an announcement"
    if event.removed:
        return "withdrawn event: nothing to do"
    store.report_deleted(event.external_id, topic_id)
    enqueue_or_rerun(services.redis_raw, "workers.events.sync_event", event.external_id,
                     "webhook", job_id=event_job_id(event.external_id, event.version),
                     timeout=SYNC_TIMEOUT)
    return "topic will be checked"


def event_categories(services: Services) -> dict[str, CategorySpec]:
    """Every source's events.yml categories, by slug (the first source naming one wins)."""
    categories: dict[str, CategorySpec] = {}
    for source in services.config.sources.sources.values():
        for slug, spec in source.events.categories.items():
            categories.setdefault(slug, spec)
    return categories


def setup_categories(services: Services, *, cause: str = "admin") -> list[str]:
    """Create the categories of every source's events.yml the forum lacks; the names created."""
    categories = event_categories(services)
    resolver = services.category_resolver()
    found = match_categories(services.discourse.categories(), categories.values())
    created = []
    for key, spec in categories.items():
        if key not in found:
            resolver.create(spec, cause=cause)
            created.append(spec.name)
    return created


# -- iCalendar ---------------------------------------------------------------------


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "<uid>: <problem>"

    def counts(self) -> dict[str, int]:
        return {
            "created": len(self.created),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "cancelled": len(self.cancelled),
            "deleted": len(self.deleted),
            "errors": len(self.errors),
        }


def feed_source(services: Services, code: str | None = None) -> Source:
    """The source a feed's events belong to: the one named, else the legacy (or first) one."""
    sources = services.config.sources
    if code is not None:
        return sources[code]
    return sources.legacy or next(iter(sources.sources.values()))


def import_calendar(
    services: Services,
    data: bytes,
    *,
    location: str,
    source: Source | None = None,
    kind: str | None = None,
    delete_missing: bool = False,
    cause: str = "ics",
) -> ImportReport:
    """Accept every event of an iCalendar document like a PUT of `source` would, each
    under an id in the feed's own namespace (`ics.feed_external_id`) within the source's.

    The same feed imported for two sources makes two sets of events: a source's
    feed can change only that source's events.
    """
    source = source or feed_source(services)
    report = ImportReport()
    store = services.events
    feed = ics.feed_key(location)
    parsed = ics.parse_calendar(data, feed=feed, kinds=source.events.kinds, default_kind=kind)
    seen: list[str] = []
    for item in parsed:
        if item.problem:
            report.errors.append(f"{item.uid}: {item.problem}")
            continue
        try:
            event = EventIn.model_validate(item.payload)
        except ValueError as error:
            report.errors.append(f"{item.uid}: {_first_line(error)}")
            continue
        problems = check_event(event, source.events, source.roles)
        if problems:
            report.errors.append(f"{item.uid}: {problems[0]['message']}")
            continue
        external_id = source.forum_id(item.external_id)
        seen.append(external_id)
        before = store.get(external_id)
        desired = event.desired()
        if before is not None and not before.removed and before.desired == desired:
            report.unchanged.append(external_id)
            continue
        accepted, _job = submit(
            services, external_id, desired, version=item.version, cause=cause
        )
        if not accepted.stored:
            report.unchanged.append(external_id)
        elif event.status == "cancelled":
            report.cancelled.append(external_id)
        elif before is None or before.removed:
            report.created.append(external_id)
        else:
            report.updated.append(external_id)
    feed_set = FEED_SOURCE_PREFIX + source.forum_id(feed)  # the legacy source's: as before
    previous = set(services.redis.smembers(feed_set))
    # A feed whose every event failed to parse withdraws nothing: more likely broken than empty.
    withdraw = delete_missing and (bool(seen) or not parsed)
    if withdraw:
        for external_id in sorted(previous - set(seen)):
            event = store.get(external_id)
            if event is None or event.removed:
                continue
            accepted, _job = submit(
                services, external_id, event.desired, version=None, removed=True, cause=cause
            )
            if accepted.stored:
                report.deleted.append(external_id)
    pipe = services.redis.pipeline()
    if withdraw:
        pipe.delete(feed_set)
    if seen:
        pipe.sadd(feed_set, *seen)
    pipe.execute()
    return report


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return " ".join(text[:3])[:300] if text else type(error).__name__


@runtime.job
def poll_feeds() -> dict[str, dict[str, int]]:
    """Import every configured feed (BRIDGE_EVENT_FEEDS: `[source:][kind=]URL`)."""
    services = runtime.services()
    results: dict[str, dict[str, int]] = {}
    for entry in services.settings.event_feeds:
        code, rest = split_feed_source(entry, services.config.sources)
        kind, url = ics.split_feed_entry(rest)
        source = feed_source(services, code)
        name = url if code is None else f"{code}:{url}"
        try:
            data = ics.fetch(url, session=http_session())
        except ics.FetchError as error:
            log.warning("feed %s: %s", ics.feed_key(url), error)
            results[name] = {"errors": 1}
            continue
        report = import_calendar(services, data, location=url, source=source, kind=kind,
                                 cause="ics")
        results[name] = report.counts()
        log.info("feed %s of %s: %s", ics.feed_key(url), source.code, report.counts())
    return results


@runtime.job
def sweep_events() -> dict:
    """The periodic safety net for events (see `sweep_dirty_events`)."""
    return {"enqueued": sweep_dirty_events(runtime.services())}
