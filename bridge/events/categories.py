"""Which forum category is which category of events.yml, created when the forum lacks it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import redis

from bridge.audit import AuditLog
from bridge.discourse import ClientError, DiscourseClient, DiscourseError
from config.mapping import CategorySpec, EventsConfig

CATEGORY_CACHE = "bridge:event-categories"  # events.yml category key -> Discourse id
CATEGORY_CACHE_TTL = 300


class CategoryResolver:
    """events.yml category keys ↔ Discourse category ids, cached in Redis for minutes."""

    def __init__(
        self, connection: redis.Redis, discourse: DiscourseClient, config: EventsConfig,
        *, audit: AuditLog | None = None, create_missing: bool = True,
        source: str | None = None,
    ):
        self.r = connection
        self.discourse = discourse
        self.config = config
        self.audit = audit
        self.create_missing = create_missing
        self.source = source  # whose event needed the category: the audit says so

    def refresh(self) -> dict[str, int]:
        found = match_categories(self.discourse.categories(), self.config.categories.values())
        self._cache(found)
        return found

    def _cache(self, found: Mapping[str, int]) -> None:
        if not found:
            return
        pipe = self.r.pipeline()
        pipe.hset(CATEGORY_CACHE, mapping={k: str(v) for k, v in found.items()})
        pipe.expire(CATEGORY_CACHE, CATEGORY_CACHE_TTL)
        pipe.execute()

    def id_for(self, key: str, *, cause: str = "event") -> int:
        cached = self.r.hget(CATEGORY_CACHE, key)
        if cached:
            return int(cached)
        found = self.refresh()
        if key in found:
            return found[key]
        if not self.create_missing:
            raise ClientError(f"category {key!r} from events.yml does not exist on the forum")
        spec = self.config.categories[key]
        created = self.create(spec, cause=cause)
        return created

    def create(self, spec: CategorySpec, *, cause: str) -> int:
        try:
            category = self.discourse.create_category(
                name=spec.name, slug=spec.slug, color=spec.color, text_color=spec.text_color
            )
        except DiscourseError as error:
            if self.audit:
                self.audit.record(subject=f"category:{spec.slug}", action="category.create",
                                  target=spec.name, cause=cause, result=str(error)[:300],
                                  source=self.source)
            raise
        if self.audit:
            self.audit.record(subject=f"category:{spec.slug}", action="category.create",
                              target=str(category["id"]), cause=cause, source=self.source)
        self._cache({spec.slug: int(category["id"])})
        return int(category["id"])

    def key_for(self, category_id: int | None) -> str:
        if category_id is None:
            return "unknown"
        for key, value in self.r.hgetall(CATEGORY_CACHE).items():
            if int(value) == category_id:
                return key
        for key, value in self.refresh().items():
            if value == category_id:
                return key
        return f"id:{category_id}"


def match_categories(found: Iterable[Mapping[str, Any]], specs: Iterable[CategorySpec]):
    """Which forum category is which events.yml category: by slug, then by name."""
    found = list(found)
    by_slug = {str(c.get("slug", "")).lower(): int(c["id"]) for c in found}
    by_name = {str(c.get("name", "")).lower(): int(c["id"]) for c in found}
    matched: dict[str, int] = {}
    for spec in specs:
        category_id = by_slug.get(spec.slug.lower()) or by_name.get(spec.name.lower())
        if category_id is not None:
            matched[spec.slug] = category_id
    return matched
