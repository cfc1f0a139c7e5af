"""What Discourse's refusals mean for an announcement: told apart by status and wording."""

from __future__ import annotations

from bridge.discourse import DiscourseError


class TopicGone(Exception):
    """The recorded topic was deleted on the forum by hand."""


def _error_says(error: DiscourseError, *words: str) -> bool:
    text = " ".join(error.errors).lower()
    return all(word in text for word in words)


def title_taken(error: DiscourseError) -> bool:
    return error.status == 422 and _error_says(error, "title", "already")


def external_id_taken(error: DiscourseError) -> bool:
    return error.status == 422 and _error_says(error, "external", "taken")
