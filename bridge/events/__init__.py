"""Events: their desired state (from the institute) and the forum topic announcing each.

One module per concern: `schema` (what the institute sends), `store` (each event
in Redis), `topics` (the topic's own external id), `categories` (events.yml
categories on the forum), `errors` (what Discourse's refusals mean) and
`publisher` (the forum work). The text the forum shows, edit reasons included,
is `bridge.rendering`'s.
"""

from bridge.events.categories import CATEGORY_CACHE, CategoryResolver, match_categories
from bridge.events.errors import TopicGone, external_id_taken, title_taken, topic_refused
from bridge.events.publisher import EventPublisher, Outcome
from bridge.events.schema import EventIn, IsoDateTime, check_event
from bridge.events.store import (
    ALL_EVENTS,
    DIRTY,
    PREFIX,
    TOPIC_IDS,
    WITHDRAWN_KEEPS,
    Event,
    EventStore,
    forum_hash,
)
from bridge.events.topics import TOPIC_EXTERNAL_ID_MAX, topic_external_id

__all__ = [
    "ALL_EVENTS",
    "CATEGORY_CACHE",
    "DIRTY",
    "PREFIX",
    "TOPIC_EXTERNAL_ID_MAX",
    "TOPIC_IDS",
    "WITHDRAWN_KEEPS",
    "CategoryResolver",
    "Event",
    "EventIn",
    "EventPublisher",
    "EventStore",
    "IsoDateTime",
    "Outcome",
    "TopicGone",
    "check_event",
    "external_id_taken",
    "forum_hash",
    "match_categories",
    "title_taken",
    "topic_external_id",
    "topic_refused",
]
