"""What Discourse's refusals mean for an announcement: told apart by status and wording."""

from __future__ import annotations

from bridge.discourse import DiscourseError, NotFound


class TopicGone(Exception):
    """The recorded topic was deleted on the forum by hand."""


def _error_says(error: DiscourseError, *words: str) -> bool:
    text = " ".join(error.errors).lower()
    return all(word in text for word in words)


def topic_refused(error: DiscourseError) -> bool:
    """A 404 or a 403 on the recorded topic: it may have been deleted by hand."""
    return isinstance(error, NotFound) or error.status == 403


def title_taken(error: DiscourseError) -> bool:
    return error.status == 422 and _error_says(error, "title", "already")


def external_id_taken(error: DiscourseError) -> bool:
    return error.status == 422 and _error_says(error, "external", "taken")
