"""Everything a process needs to talk to Redis and Discourse, built once at start."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis
import requests
from requests.adapters import HTTPAdapter

from bridge.audit import AuditLog
from bridge.discourse import DiscourseClient
from bridge.events import CategoryResolver, EventPublisher, EventStore
from bridge.members import MemberStore
from bridge.membersync import MemberSync, SyncOptions
from bridge.metrics import CallCounter
from bridge.ratelimit import ApiBudget, fair_reserve
from bridge.redis_server import connect
from config import AppConfig, Source


@dataclass
class Services:
    config: AppConfig
    redis: redis.Redis  # decoded strings: the bridge's own state
    redis_raw: redis.Redis  # bytes: RQ's connection
    budget: ApiBudget
    discourse: DiscourseClient
    members: MemberStore
    events: EventStore
    audit: AuditLog

    @property
    def settings(self):
        return self.config.settings

    def member_sync(self, *, discourse=None) -> MemberSync:
        """The member path's domain object; `discourse` swaps in a retrying client."""
        settings = self.settings
        return MemberSync(
            store=self.members,
            discourse=discourse if discourse is not None else self.discourse,
            audit=self.audit,
            roles=self.config.roles,
            redis_client=self.redis,
            federation=self.config.sources,
            options=SyncOptions(
                precreate_users=settings.precreate_users,
                suppress_welcome_message=settings.suppress_welcome_message,
                max_share=settings.offboard_max_share,
            ),
        )

    @property
    def calendar_url(self) -> str:
        """The club calendar's address (web/calendar.py), which every announcement links to."""
        return self.settings.public_url.rstrip("/") + "/calendar.ics"

    def category_resolver(self, source: Source | None = None) -> CategoryResolver:
        """events.yml categories on the forum: `source`'s (its audit entries name it),
        else the main events.yml."""
        events = self.config.events if source is None else source.events
        code = None if source is None else source.code
        return CategoryResolver(self.redis, self.discourse, events, audit=self.audit, source=code)

    def event_publisher(
        self, source: Source, *, keep_alive: Callable[[], None] | None = None
    ) -> EventPublisher:
        """The event path's domain object for `source`'s events: its kinds, categories,
        templates and roles; `keep_alive` is checked before every forum call (the lock)."""
        return EventPublisher(
            store=self.events,
            discourse=self.discourse,
            audit=self.audit,
            config=source.events,
            roles=source.roles,
            categories=self.category_resolver(source),
            delete_mode=self.settings.event_delete_mode,
            calendar_url=self.calendar_url,
            keep_alive=keep_alive,
        )


def http_session() -> requests.Session:
    """One pooled session per process; retries are the jobs' business, not urllib3's."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "teacher-club-bridge/0.1"
    return session


def build_services(config: AppConfig, *, budget_wait: float = 70.0, on_call=None) -> Services:
    settings = config.settings
    state = connect(settings.redis_url, decode=True)
    raw = connect(settings.redis_url)
    per_minute = settings.discourse_max_reqs_per_minute
    # Several sources share the budget fairly; one source keeps all of it, as before.
    budget = ApiBudget(state, per_minute=per_minute,
                       reserve=fair_reserve(per_minute) if config.federated else 0)
    discourse = DiscourseClient(
        base_url=settings.discourse_url,
        api_key=settings.discourse_api_key,
        api_username=settings.discourse_api_username,
        connect_secret=settings.discourse_connect_secret,
        session=http_session(),
        budget=budget,
        timeout=settings.discourse_timeout,
        budget_wait=budget_wait,
        on_call=on_call if on_call is not None else CallCounter(state),
    )
    return Services(
        config=config,
        redis=state,
        redis_raw=raw,
        budget=budget,
        discourse=discourse,
        members=MemberStore(state),
        events=EventStore(state),
        audit=AuditLog(state, retention_days=settings.audit_retention_days,
                       sources=config.sources),
    )
