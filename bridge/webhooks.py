"""The bridge's Discourse webhook: which events it asks for, and keeping the hook so.

Webhooks are hints, reads are proof: the receiving side (`web/webhooks.py`)
queues work that reads the object back before acting.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.discourse import DiscourseClient

#: The granular event types of current Discourse the bridge subscribes to
#: (REFERENCE §10; `WebHookEventType`): accounts, managed-group drift, announcements.
EVENT_TYPES = {
    "user_logged_in": 301,
    "user_created": 304,
    "topic_destroyed": 104,
    "topic_recovered": 105,
    "user_added_to_group": 1401,
    "user_removed_from_group": 1402,
}
JSON_CONTENT = 1


def payload_url(public_url: str) -> str:
    return public_url.rstrip("/") + "/webhooks/discourse"


@dataclass(frozen=True)
class HookCheck:
    found: bool
    active: bool
    missing_events: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.found and self.active and not self.missing_events


def find_hook(discourse: DiscourseClient, url: str) -> dict | None:
    return next((h for h in discourse.web_hooks() if h.get("payload_url") == url), None)


def check_hook(discourse: DiscourseClient, url: str) -> HookCheck:
    hook = find_hook(discourse, url)
    if hook is None:
        return HookCheck(found=False, active=False, missing_events=tuple(EVENT_TYPES))
    ids = {t.get("id") for t in hook.get("web_hook_event_types") or []}
    missing = tuple(name for name, type_id in EVENT_TYPES.items() if type_id not in ids)
    return HookCheck(found=True, active=bool(hook.get("active")), missing_events=missing)


def ensure_hook(discourse: DiscourseClient, *, url: str, secret: str) -> str:
    """Create the hook, or bring an existing one in line; says which it did."""
    fields = {
        "payload_url": url,
        "secret": secret,
        "content_type": JSON_CONTENT,
        "web_hook_event_type_ids": sorted(EVENT_TYPES.values()),
        "active": True,  # Discourse's default is false
    }
    hook = find_hook(discourse, url)
    if hook is None:
        discourse.create_web_hook(fields)
        return "created"
    discourse.update_web_hook(int(hook["id"]), fields)
    return "updated"
