"""Events: their desired state (from the institute) and the forum topic announcing each.

Each event is one Redis hash. `desired` is the latest accepted state with its
`version`; an older or equal version is acknowledged and ignored. The forum
side is the topic the bridge created (ids and the topic's own external id) and
a fingerprint of what that topic shows, so an unchanged event costs no call.

`EventPublisher.converge` does the forum work: it finds the topic by its
Discourse external id before it ever creates one (a crash between create and
record, a retried timeout or a replay must never make a second topic), and
writes only the parts that differ.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import redis
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictStr,
    field_validator,
    model_validator,
)

from bridge.audit import AuditLog
from bridge.discourse import ClientError, DiscourseClient, DiscourseError, NotFound, ServerError
from bridge.rendering import TITLE_LEVELS, Rendered, content_hash, render_event
from bridge.versioned import NotNull, Version, VersionedStore
from config.mapping import CategorySpec, EventsConfig, RolesConfig

log = logging.getLogger(__name__)

PREFIX = "bridge:event:"
ALL_EVENTS = "bridge:events"  # every external id the bridge knows
DIRTY = "bridge:events:dirty"  # desired state changed, forum not yet converged
TOPIC_IDS = "bridge:event-topic-ids"  # topic external id -> event external id
CATEGORY_CACHE = "bridge:event-categories"  # events.yml category key -> Discourse id
CATEGORY_CACHE_TTL = 300

#: Discourse: topic external ids are ≤ 50 characters of [\w-], unique ignoring case.
TOPIC_EXTERNAL_ID_MAX = 50
_TOPIC_PREFIX = "ev-"
_READABLE_MAX = 26  # "ev-" + 26 + "-" + 16 (hash) + "-g999" ≤ 50
_URL = re.compile(r"\Ahttps?://[^\s/$.?#][^\s]*\Z", re.IGNORECASE)


# -- what the institute sends ----------------------------------------------------------


def _text_only(value: Any) -> Any:
    """Times come as ISO 8601 text; numbers (epoch seconds) are refused."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time text with an offset")  # noqa: TRY004
    return value


def _within_the_calendar(value: datetime) -> datetime:
    """Years 1900-2200: any time in them converts to every zone (year 1 with +23:59 cannot)."""
    if not 1900 <= value.year <= 2200:
        raise ValueError("must be a date between the years 1900 and 2200")
    return value


IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_text_only),
                        AfterValidator(_within_the_calendar)]


class EventIn(BaseModel):
    """One event as the institute's system (or an iCalendar feed) sends it."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[StrictStr, Field(max_length=255)]
    kind: StrictStr
    starts_at: IsoDateTime
    ends_at: IsoDateTime | None = None  # none: a moment, not a span
    location: Annotated[StrictStr, Field(max_length=1000)] | None = None
    url: Annotated[StrictStr, Field(max_length=2000)] | None = None
    description: Annotated[StrictStr, Field(max_length=30000)] | None = None
    audience: list[StrictStr] = Field(default_factory=list, max_length=50)
    status: Literal["scheduled", "cancelled"] = "scheduled"
    version: Annotated[Version | None, NotNull] = None

    @field_validator("title")
    @classmethod
    def _title_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator("location")
    @classmethod
    def _location(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not _URL.match(value.strip()):
            raise ValueError("must be an http:// or https:// address")
        if "@" in urlsplit(value.strip()).netloc:
            # https://trusted.example@evil.example shows one host and opens another.
            raise ValueError("must not carry a user name or password before the host")
        return value.strip()

    @model_validator(mode="after")
    def _ends_after_start(self) -> EventIn:
        if self.ends_at is None:
            self.ends_at = self.starts_at
        if self.ends_at < self.starts_at:
            raise ValueError("ends_at must not be before starts_at")
        if self.description is None:
            self.description = ""
        return self

    def desired(self) -> dict[str, Any]:
        """The stored form: JSON types only, times as ISO 8601 with their offset."""
        return self.model_dump(mode="json", exclude={"version"})


def check_event(event: EventIn, config: EventsConfig, roles: RolesConfig) -> list[dict]:
    """Domain rules beyond types: a kind from events.yml, role codes from roles.yml."""
    problems = []
    if event.kind not in config.kinds:
        known = ", ".join(sorted(config.kinds))
        problems.append({"field": "kind", "message": f"unknown kind {event.kind!r} ({known})"})
    for code in event.audience:
        if code not in roles.roles:
            problems.append({"field": "audience", "message": f"unknown role code {code!r}"})
    return problems


# -- the topic's own external id -----------------------------------------------------------


def topic_external_id(external_id: str, generation: int = 1) -> str:
    """The Discourse external id of the event's topic.

    Discourse allows only ≤ 50 characters of [A-Za-z0-9_-], compared ignoring
    case, while event ids are up to 64 characters that may hold `.` and `:` and
    differ only in case. So: a readable lowercase prefix for people, and a hash
    of the exact id for uniqueness. Generation 2, 3 … (`-g2`) is used when the
    topic was deleted by hand: Discourse keeps a deleted topic's external id.
    `external_id` is the stored id, `S:X` for source S's event X (bare X for
    the legacy source), so the same X of two sources hashes apart.
    """
    readable = re.sub(r"[^a-z0-9]+", "-", external_id.lower()).strip("-")[:_READABLE_MAX]
    readable = readable.strip("-") or "event"
    digest = hashlib.blake2b(external_id.encode(), digest_size=10).digest()
    code = _base32(digest)  # 16 characters, 80 bits
    topic_id = f"{_TOPIC_PREFIX}{readable}-{code}"
    if generation > 1:
        topic_id += f"-g{generation}"
    return topic_id[:TOPIC_EXTERNAL_ID_MAX]


def _base32(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=").lower()


# -- the stored state --------------------------------------------------------------------


@dataclass
class Event:
    external_id: str
    desired: dict[str, Any]
    version: int
    removed: bool = False
    topic_id: int | None = None
    post_id: int | None = None
    topic_external_id: str | None = None
    generation: int = 1
    title_level: int = 0
    forum: dict[str, Any] = field(default_factory=dict)  # what the topic shows
    content_hash: str | None = None
    last_error: str | None = None
    reported_deleted: int | None = None  # a webhook said this topic was deleted: check it
    accepted_at: float | None = None  # when the newest desired state was stored

    @property
    def current_topic_external_id(self) -> str:
        return self.topic_external_id or topic_external_id(self.external_id, self.generation)

    def topic_url(self, forum_url: str) -> str | None:
        if self.topic_id is None:
            return None
        return f"{forum_url.rstrip('/')}/t/{self.topic_id}"

    def public(self, forum_url: str) -> dict[str, Any]:
        forum = None
        if self.topic_id is not None:
            forum = {
                "topic_id": self.topic_id,
                "post_id": self.post_id,
                "topic_external_id": self.topic_external_id,
                "url": self.topic_url(forum_url),
            }
        return {
            "external_id": self.external_id,
            "desired": self.desired,
            "version": self.version,
            "forum": forum,
            "last_error": self.last_error,
        }


#: What a withdrawn event keeps of its desired state (the admin pages list these).
WITHDRAWN_KEEPS = frozenset({"title", "kind", "starts_at", "ends_at", "status"})
_COMPACT = """
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] or
   redis.call('HGET', KEYS[1], 'removed') ~= '1' then
  return 0
end
redis.call('HSET', KEYS[1], 'desired', ARGV[2])
if ARGV[3] ~= '' and redis.call('HEXISTS', KEYS[1], 'forum') == 1 then
  redis.call('HSET', KEYS[1], 'forum', ARGV[3])
end
redis.call('HDEL', KEYS[1], 'last_error')
return 1
"""


class EventStore(VersionedStore[Event]):
    prefix, all_key, dirty_key = PREFIX, ALL_EVENTS, DIRTY

    def _load(self, external_id: str, data: Mapping[str, str]) -> Event:
        return _event(external_id, data)

    # -- the forum side ----------------------------------------------------------

    def claim_topic_external_id(self, external_id: str, topic_external_id: str) -> None:
        """Prove the derived id belongs to this event alone (a hash could collide)."""
        key = topic_external_id.lower()
        if not self.r.hsetnx(TOPIC_IDS, key, external_id):
            owner = self.r.hget(TOPIC_IDS, key)
            if owner != external_id:
                raise RuntimeError(
                    f"topic external id {topic_external_id} already belongs to event {owner}"
                )

    def record_topic(
        self, external_id: str, *, topic_id: int, post_id: int, topic_external_id: str,
        forum: Mapping[str, Any],
    ) -> None:
        self.r.hset(
            PREFIX + external_id,
            mapping={
                "topic_id": topic_id,
                "post_id": post_id,
                "topic_external_id": topic_external_id,
                "forum": json.dumps(forum, ensure_ascii=False, sort_keys=True),
                "content_hash": forum_hash(forum),
            },
        )

    def compact_withdrawn(self, event: Event) -> bool:
        """A withdrawn event keeps what the admin pages list and what refuses a replay.

        The description, place, link and audience, and the snapshot of the text
        the topic showed, go; nothing happens if a newer version arrived meanwhile.
        """
        kept = {k: v for k, v in event.desired.items() if k in WITHDRAWN_KEEPS}
        forum = {k: v for k, v in event.forum.items() if k != "snapshot"}
        return bool(self.r.eval(
            _COMPACT, 1, PREFIX + event.external_id, str(event.version),
            json.dumps(kept, ensure_ascii=False, sort_keys=True),
            json.dumps(forum, ensure_ascii=False, sort_keys=True) if event.forum else "",
        ))

    def record_forum(self, external_id: str, forum: Mapping[str, Any]) -> None:
        self.r.hset(
            PREFIX + external_id,
            mapping={
                "forum": json.dumps(forum, ensure_ascii=False, sort_keys=True),
                "content_hash": forum_hash(forum),
            },
        )

    def forget_topic(
        self, external_id: str, *, next_generation: int, mark_dirty: bool = False
    ) -> None:
        """The topic is gone for good: the next one gets a fresh external id."""
        self.r.hdel(
            PREFIX + external_id, "topic_id", "post_id", "topic_external_id", "forum",
            "content_hash",
        )
        self.r.hset(PREFIX + external_id, "generation", next_generation)
        if mark_dirty:  # the forum no longer shows the event: converge again
            self.r.sadd(DIRTY, external_id)

    def report_deleted(self, external_id: str, topic_id: int) -> None:
        """Note a webhook's word that the topic was deleted, for the next job to check.

        The event is marked dirty in the same step: if its job is lost, the
        periodic sweep queues it again.
        """
        pipe = self.r.pipeline()
        pipe.hset(PREFIX + external_id, "reported_deleted", topic_id)
        pipe.sadd(DIRTY, external_id)
        pipe.execute()

    def clear_deletion_report(self, external_id: str) -> None:
        self.r.hdel(PREFIX + external_id, "reported_deleted")

    def mark_clean(self, external_id: str, version: int) -> bool:
        """Clean, unless a deletion was reported while the job ran: it still needs a look."""
        if self.r.hexists(PREFIX + external_id, "reported_deleted"):
            return False
        return super().mark_clean(external_id, version)

    def set_title_level(self, external_id: str, level: int) -> None:
        self.r.hset(PREFIX + external_id, "title_level", level)


def forum_hash(forum: Mapping[str, Any]) -> str:
    """The content hash of what the topic shows (the snapshot of fields is not part of it)."""
    return content_hash({k: v for k, v in forum.items() if k != "snapshot"})


def _event(external_id: str, data: Mapping[str, str]) -> Event:
    def number(name: str) -> int | None:
        value = data.get(name)
        return int(value) if value else None

    return Event(
        external_id=external_id,
        desired=json.loads(data.get("desired", "{}")),
        version=int(data.get("version", 0)),
        removed=data.get("removed") == "1",
        topic_id=number("topic_id"),
        post_id=number("post_id"),
        topic_external_id=data.get("topic_external_id"),
        generation=number("generation") or 1,
        title_level=number("title_level") or 0,
        forum=json.loads(data["forum"]) if data.get("forum") else {},
        content_hash=data.get("content_hash"),
        last_error=data.get("last_error"),
        reported_deleted=number("reported_deleted"),
        accepted_at=float(data["accepted_at"]) if data.get("accepted_at") else None,
    )


# -- edit reasons -------------------------------------------------------------------------

#: Which change of the desired state the forum's edit history names, and how.
_CHANGES = (
    # (fields, the noun in a list, the whole phrase when it is the only change)
    (("starts_at", "ends_at"), "дата и время", "изменились дата и время"),
    (("title",), "название", "изменилось название"),
    (("location",), "место проведения", "изменилось место проведения"),
    (("url",), "ссылка", "изменилась ссылка"),
    (("description",), "описание", "изменилось описание"),
    (("audience",), "круг участников", "изменился круг участников"),
    (("kind",), "вид мероприятия", "изменился вид мероприятия"),
)
SNAPSHOT_FIELDS = (
    "title", "kind", "starts_at", "ends_at", "location", "url", "description", "audience",
    "status",
)


def snapshot(desired: Mapping[str, Any]) -> dict[str, Any]:
    return {name: desired.get(name) for name in SNAPSHOT_FIELDS}


def _same(name: str, old: Any, new: Any) -> bool:
    if name in ("starts_at", "ends_at") and old and new:
        try:
            return datetime.fromisoformat(old) == datetime.fromisoformat(new)
        except ValueError:
            return old == new
    return (old or None) == (new or None)


def edit_reason(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> str:
    """«Обновлено из системы института: изменились дата и время» and the like."""
    lead = "Обновлено из системы института"
    if not before:
        return lead
    if before.get("status") != "cancelled" and after.get("status") == "cancelled":
        return f"{lead}: мероприятие отменено"
    if before.get("status") == "cancelled" and after.get("status") != "cancelled":
        return f"{lead}: мероприятие снова в расписании"
    changed = [
        (noun, phrase)
        for names, noun, phrase in _CHANGES
        if any(not _same(n, before.get(n), after.get(n)) for n in names)
    ]
    if len(changed) == 1:
        return f"{lead}: {changed[0][1]}"
    if changed:
        return f"{lead}: изменились {', '.join(noun for noun, _ in changed)}"
    return lead


# -- converging the forum --------------------------------------------------------------


class TopicGone(Exception):
    """The recorded topic was deleted on the forum by hand."""


def _error_says(error: DiscourseError, *words: str) -> bool:
    text = " ".join(error.errors).lower()
    return all(word in text for word in words)


def title_taken(error: DiscourseError) -> bool:
    return error.status == 422 and _error_says(error, "title", "already")


def external_id_taken(error: DiscourseError) -> bool:
    return error.status == 422 and _error_says(error, "external", "taken")


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


@dataclass
class Outcome:
    action: str  # created | updated | unchanged | withdrawn | deleted | absent


class EventPublisher:
    """Brings one event's topic to its desired state with as few calls as possible."""

    def __init__(
        self,
        *,
        store: EventStore,
        discourse: DiscourseClient,
        audit: AuditLog,
        config: EventsConfig,
        roles: RolesConfig,
        categories: CategoryResolver,
        delete_mode: str = "unlist",
        calendar_url: str | None = None,
        keep_alive: Callable[[], None] | None = None,
    ):
        self.store = store
        self.discourse = discourse
        self.audit = audit
        self.config = config
        self.roles = roles
        self.categories = categories
        self.delete_mode = delete_mode
        self.calendar_url = calendar_url  # the club calendar each announcement links to
        self.keep_alive = keep_alive or (lambda: None)

    # -- entry point ------------------------------------------------------------

    def converge(self, external_id: str, *, cause: str = "api") -> Outcome:
        event = self.store.get(external_id)
        if event is None:
            return Outcome("absent")
        if event.reported_deleted is not None:
            self._check_reported_deletion(event, cause)
        if event.removed:
            return self._withdraw(event, cause)
        return self._publish(event, cause)

    def _check_reported_deletion(self, event: Event, cause: str) -> None:
        """A webhook said the topic was deleted: believe the forum, not the hint.

        A signed delivery can be a replay, and a moderator can recover a topic they
        deleted; recreating on the word alone leaves two announcements. So the
        topic is read back, and only one really gone is replaced.
        """
        if event.reported_deleted == event.topic_id and not event.removed:
            self.keep_alive()
            if self.discourse.topic(event.reported_deleted) is None:
                self._forget_gone_topic(event, cause)
            else:
                log.info("event %s: topic %s was reported deleted but is there",
                         event.external_id, event.reported_deleted)
        self.store.clear_deletion_report(event.external_id)
        event.reported_deleted = None

    def _forget_gone_topic(self, event: Event, cause: str) -> None:
        """The topic was deleted by hand: the next one gets a fresh external id."""
        log.warning("event %s: its topic was deleted by hand, creating it again",
                    event.external_id)
        self.audit.record(subject=f"event:{event.external_id}", action="topic.gone",
                          target=str(event.topic_id), cause=cause)
        self.store.forget_topic(event.external_id, next_generation=event.generation + 1,
                                mark_dirty=True)
        _reload(event, self.store)

    # -- helpers ----------------------------------------------------------------

    def _write(self, event: Event, action: str, cause: str, call: Callable[[], Any],
               *, target: str | None = None, detail: str = "") -> Any:
        """Every forum write goes through here: audited with its result."""
        self.keep_alive()
        subject = f"event:{event.external_id}"
        where = target or str(event.topic_id or event.current_topic_external_id)
        try:
            result = call()
        except DiscourseError as error:
            self.audit.record(subject=subject, action=action, target=where, cause=cause,
                              result=str(error)[:300], detail=detail)
            raise
        if target is None and action == "topic.create" and isinstance(result, dict):
            where = str(result.get("topic_id", where))
        self.audit.record(subject=subject, action=action, target=where, cause=cause,
                          detail=detail)
        return result

    def _render(self, event: Event) -> Rendered:
        return render_event(
            event.desired, external_id=event.external_id, config=self.config, roles=self.roles,
            title_level=event.title_level, calendar_url=self.calendar_url,
        )

    def _target(self, event: Event, rendered: Rendered) -> dict[str, Any]:
        return {**rendered.fingerprint(), "listed": True, "snapshot": snapshot(event.desired)}

    def _find(self, event: Event) -> bool:
        """Look the topic up by its external id; record it if it exists."""
        ext = event.current_topic_external_id
        self.keep_alive()
        topic = self.discourse.topic_by_external_id(ext)
        if not topic or "id" not in topic:
            return False
        posts = (topic.get("post_stream") or {}).get("posts") or []
        post_id = int(posts[0]["id"]) if posts else None
        raw_sha = None
        if post_id is not None:
            post = self.discourse.post(post_id)
            if post and isinstance(post.get("raw"), str):
                raw_sha = hashlib.sha256(post["raw"].encode()).hexdigest()
        forum = {
            "title": topic.get("title"),
            "raw_sha": raw_sha,
            "category": self.categories.key_for(topic.get("category_id")),
            "tags": sorted(_tag_names(topic.get("tags"))),
            "closed": bool(topic.get("closed")),
            "listed": bool(topic.get("visible", True)),
            "snapshot": None,
        }
        self.store.claim_topic_external_id(event.external_id, ext)
        self.store.record_topic(
            event.external_id, topic_id=int(topic["id"]), post_id=post_id or 0,
            topic_external_id=ext, forum=forum,
        )
        log.info("event %s: found its topic %s by external id", event.external_id, topic["id"])
        _reload(event, self.store)
        return True

    def _gone_or_moved(self, event: Event, error: DiscourseError) -> None:
        """After a 403/404 on the recorded topic: deleted by hand, or found elsewhere?"""
        if not (isinstance(error, NotFound) or error.status == 403):
            raise error
        ext = event.current_topic_external_id
        topic = self.discourse.topic_by_external_id(ext)
        if topic and "id" in topic and int(topic["id"]) != event.topic_id:
            self.store.forget_topic(event.external_id, next_generation=event.generation)
            _reload(event, self.store)
            if self._find(event):
                return
        if topic and "id" in topic:
            raise error  # the topic is there: the refusal is about something else
        raise TopicGone(ext) from error

    # -- publishing ---------------------------------------------------------------

    def _publish(self, event: Event, cause: str) -> Outcome:
        outcome = Outcome("unchanged")
        recreated = False
        for _ in range(TITLE_LEVELS + 6):  # bounded: each pass makes progress or stops
            rendered = self._render(event)
            target = self._target(event, rendered)
            if event.topic_id is not None and forum_hash(target) == event.content_hash:
                if event.forum.get("snapshot") != target["snapshot"]:
                    self.store.record_forum(event.external_id, target)
                return outcome
            try:
                if event.topic_id is None:
                    if self._find(event):
                        continue
                    self._create(event, rendered, target, cause)
                    outcome.action = "created"
                    continue
                self._update(event, rendered, target, cause)
                if outcome.action != "created":
                    outcome.action = "updated"
            except TopicGone:
                if recreated:
                    raise ClientError(
                        f"the topic of event {event.external_id} disappeared twice in one run"
                    ) from None
                recreated = True
                self._forget_gone_topic(event, cause)
            except ClientError as error:
                if title_taken(error) and event.title_level + 1 < TITLE_LEVELS:
                    self.store.set_title_level(event.external_id, event.title_level + 1)
                    _reload(event, self.store)
                    continue
                if external_id_taken(error) and event.topic_id is None and not recreated:
                    # Not found by the look-up, yet taken: a deleted topic holds it.
                    recreated = True
                    self.store.forget_topic(event.external_id,
                                            next_generation=event.generation + 1)
                    _reload(event, self.store)
                    continue
                raise
        raise ServerError(f"event {event.external_id}: the topic did not settle, will retry")

    def _create(self, event: Event, rendered: Rendered, target: dict, cause: str) -> None:
        ext = event.current_topic_external_id
        self.store.claim_topic_external_id(event.external_id, ext)
        self.keep_alive()
        category_id = self.categories.id_for(rendered.category, cause=cause)
        post = self._write(
            event, "topic.create", cause,
            lambda: self.discourse.create_topic(
                title=rendered.title, raw=rendered.raw, category_id=category_id,
                external_id=ext, tags=rendered.tags,
            ),
            detail=ext,
        )
        if not isinstance(post, dict) or "topic_id" not in post:
            # {"action": "enqueued"}: held for review; the look-up will find it later.
            raise ServerError(f"event {event.external_id}: topic creation was queued")
        forum = {**target, "closed": False, "listed": True}
        self.store.record_topic(
            event.external_id, topic_id=int(post["topic_id"]), post_id=int(post["id"]),
            topic_external_id=ext, forum=forum,
        )
        _reload(event, self.store)

    def _update(self, event: Event, rendered: Rendered, target: dict, cause: str) -> None:
        forum = dict(event.forum)
        topic_id = event.topic_id
        if topic_id is None:
            raise RuntimeError("update without a topic")
        title_changed = forum.get("title") != target["title"]
        category_changed = forum.get("category") != target["category"]
        tags_changed = sorted(forum.get("tags") or []) != target["tags"]
        raw_changed = forum.get("raw_sha") != target["raw_sha"]
        category_id = (
            self.categories.id_for(rendered.category, cause=cause) if category_changed else None
        )
        try:
            if raw_changed:
                reason = edit_reason(forum.get("snapshot"), target["snapshot"])
                self._write(
                    event, "topic.edit", cause,
                    lambda: self.discourse.edit_post(
                        event.post_id, raw=rendered.raw, edit_reason=reason,
                        title=rendered.title if title_changed else None,
                        category_id=category_id,
                    ),
                    detail=reason,
                )
                forum.update(raw_sha=target["raw_sha"], title=target["title"],
                             category=target["category"], snapshot=target["snapshot"])
                self.store.record_forum(event.external_id, forum)
                title_changed = category_changed = False
            if title_changed or category_changed or tags_changed:
                self._write(
                    event, "topic.update", cause,
                    lambda: self.discourse.update_topic(
                        topic_id,
                        title=rendered.title if title_changed else None,
                        category_id=category_id if category_changed else None,
                        tags=rendered.tags if tags_changed else None,
                    ),
                )
                forum.update(title=target["title"], category=target["category"],
                             tags=target["tags"])
                self.store.record_forum(event.external_id, forum)
            if bool(forum.get("closed")) != target["closed"]:
                self._write(
                    event, "topic.close" if target["closed"] else "topic.reopen", cause,
                    lambda: self.discourse.set_topic_status(
                        topic_id, status="closed", enabled=target["closed"]
                    ),
                )
                forum["closed"] = target["closed"]
                self.store.record_forum(event.external_id, forum)
            if not forum.get("listed", True):
                self._write(
                    event, "topic.list", cause,
                    lambda: self.discourse.set_topic_status(topic_id, status="visible",
                                                            enabled=True),
                )
                forum["listed"] = True
        except (NotFound, ClientError) as error:
            if title_taken(error):
                raise
            self._gone_or_moved(event, error)
            return
        forum["snapshot"] = target["snapshot"]
        self.store.record_forum(event.external_id, forum)
        _reload(event, self.store)

    # -- withdrawing ---------------------------------------------------------------

    def _withdraw(self, event: Event, cause: str) -> Outcome:
        if event.topic_id is None and not self._find(event):
            return Outcome("absent")
        topic_id = event.topic_id
        if topic_id is None:
            raise RuntimeError("withdraw without a topic")
        if self.delete_mode == "delete":
            try:
                self._write(event, "topic.delete", cause,
                            lambda: self.discourse.delete_topic(topic_id))
            except (NotFound, ClientError) as error:
                if not (isinstance(error, NotFound) or error.status == 403):
                    raise
                # Already deleted (by hand, or by our own earlier attempt).
            self.store.forget_topic(event.external_id, next_generation=event.generation + 1)
            self.store.compact_withdrawn(event)
            return Outcome("deleted")
        if event.forum.get("listed") is False:
            return Outcome("unchanged")
        try:
            self._write(
                event, "topic.unlist", cause,
                lambda: self.discourse.set_topic_status(topic_id, status="visible",
                                                        enabled=False),
            )
        except (NotFound, ClientError) as error:
            if not (isinstance(error, NotFound) or error.status == 403):
                raise
            self.store.forget_topic(event.external_id, next_generation=event.generation + 1)
            self.store.compact_withdrawn(event)
            return Outcome("withdrawn")
        self.store.record_forum(event.external_id, {**event.forum, "listed": False})
        event.forum = {**event.forum, "listed": False}
        self.store.compact_withdrawn(event)
        return Outcome("withdrawn")


def _reload(event: Event, store: EventStore) -> None:
    fresh = store.get(event.external_id)
    if fresh is None:
        return
    for name in ("topic_id", "post_id", "topic_external_id", "generation", "title_level",
                 "forum", "content_hash"):
        setattr(event, name, getattr(fresh, name))


def _tag_names(tags: Any) -> list[str]:
    names = []
    for tag in tags or []:
        names.append(tag.get("name") if isinstance(tag, dict) else str(tag))
    return [n for n in names if n]
