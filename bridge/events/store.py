"""Each event as one Redis hash: its desired state and the topic that announces it.

`desired` is the latest accepted state with its `version`; an older or equal
version is acknowledged and ignored. The forum side is the topic the bridge
created (ids and the topic's own external id) and a fingerprint of what that
topic shows, so an unchanged event costs no call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.events.topics import topic_external_id
from bridge.rendering import content_hash
from bridge.versioned import VersionedStore

PREFIX = "bridge:event:"
ALL_EVENTS = "bridge:events"  # every external id the bridge knows
DIRTY = "bridge:events:dirty"  # desired state changed, forum not yet converged
TOPIC_IDS = "bridge:event-topic-ids"  # topic external id -> event external id


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
