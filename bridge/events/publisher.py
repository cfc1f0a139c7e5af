"""The forum work for one event: its topic brought to the event's desired state.

`EventPublisher.converge` finds the topic by its Discourse external id before it
ever creates one (a crash between create and record, a retried timeout or a
replay must never make a second topic), and writes only the parts that differ.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge.audit import AuditLog
from bridge.discourse import ClientError, DiscourseClient, DiscourseError, ServerError
from bridge.events.categories import CategoryResolver
from bridge.events.errors import TopicGone, external_id_taken, title_taken, topic_refused
from bridge.events.store import Event, EventStore, forum_hash
from bridge.rendering import TITLE_LEVELS, Rendered, edit_reason, render_event, snapshot
from config.mapping import EventsConfig, RolesConfig

log = logging.getLogger(__name__)


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
        if not topic_refused(error):
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
        except ClientError as error:
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
            except ClientError as error:
                if not topic_refused(error):
                    raise
                # Already deleted (by hand, or by our own earlier attempt).
            return self._let_go(event, "deleted")
        if event.forum.get("listed") is False:
            return Outcome("unchanged")
        try:
            self._write(
                event, "topic.unlist", cause,
                lambda: self.discourse.set_topic_status(topic_id, status="visible",
                                                        enabled=False),
            )
        except ClientError as error:
            if not topic_refused(error):
                raise
            return self._let_go(event, "withdrawn")
        self.store.record_forum(event.external_id, {**event.forum, "listed": False})
        event.forum = {**event.forum, "listed": False}
        self.store.compact_withdrawn(event)
        return Outcome("withdrawn")

    def _let_go(self, event: Event, action: str) -> Outcome:
        """The withdrawn event's topic is deleted or out of reach: a later one gets a new id."""
        self.store.forget_topic(event.external_id, next_generation=event.generation + 1)
        self.store.compact_withdrawn(event)
        return Outcome(action)


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
