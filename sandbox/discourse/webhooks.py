"""Outgoing webhooks, as Discourse sends them (REFERENCE §10).

Hooks are created through the admin API (`/admin/api/web_hooks.json`), each with
its payload URL, secret, content type and granular event types. An event is
delivered by a background thread (Discourse uses a Sidekiq job): a JSON body
`{"<type>": {...}}` and the headers `X-Discourse-Instance`, `X-Discourse-Event-Id`,
`X-Discourse-Event-Type`, `X-Discourse-Event` and `X-Discourse-Event-Signature:
sha256=<hex HMAC of the body>` when the hook has a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import requests

log = logging.getLogger(__name__)

#: Granular event type ids of current Discourse (`WebHookEventType`); the old
#: coarse ids (1 topic … 14 group_user) are gone and answer 404.
EVENT_TYPES: dict[str, int] = {
    "topic_created": 101, "topic_revised": 102, "topic_edited": 103, "topic_destroyed": 104,
    "topic_recovered": 105,
    "user_logged_in": 301, "user_logged_out": 302, "user_confirmed_email": 303,
    "user_created": 304, "user_approved": 305, "user_updated": 306, "user_destroyed": 307,
    "user_suspended": 308, "user_unsuspended": 309,
    "user_added_to_group": 1401, "user_removed_from_group": 1402,
}
EVENT_CATEGORY = {name: name.split("_")[0] for name in EVENT_TYPES}
EVENT_CATEGORY.update(user_added_to_group="group_user", user_removed_from_group="group_user")


@dataclass
class WebHook:
    id: int
    payload_url: str
    secret: str
    content_type: int
    event_type_ids: list[int]
    active: bool
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    def wants(self, event: str) -> bool:
        return self.active and EVENT_TYPES.get(event) in self.event_type_ids

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "payload_url": self.payload_url,
            "content_type": self.content_type,
            "secret": "",  # Discourse never shows a hook's secret again
            "active": self.active,
            "web_hook_event_types": [
                {"id": type_id, "name": name}
                for name, type_id in EVENT_TYPES.items() if type_id in self.event_type_ids
            ],
            "last_delivery_status": (self.deliveries[-1]["status"] if self.deliveries else 1),
        }


class WebHooks:
    """The hooks of one sandbox forum and their deliveries."""

    def __init__(self, base_url: str | None = None):
        self.base_url = base_url or ""
        self.hooks: dict[int, WebHook] = {}
        self.quiet = False  # seeding and resets emit nothing
        self._ids = itertools.count(1)
        self._event_ids = itertools.count(1)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def reset(self) -> None:
        self.wait()
        with self._lock:
            self.hooks.clear()

    def create(self, **fields: Any) -> WebHook:
        with self._lock:
            hook = WebHook(id=next(self._ids), deliveries=[], **fields)
            self.hooks[hook.id] = hook
            return hook

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        """Deliver `event` to every active hook that asked for it, in the background."""
        if self.quiet:
            return
        for hook in list(self.hooks.values()):
            if hook.wants(event):
                body = json.dumps({EVENT_CATEGORY[event]: payload}).encode()
                thread = threading.Thread(
                    target=self._deliver, args=(hook, event, body, next(self._event_ids)),
                    daemon=True,
                )
                self._threads.append(thread)
                thread.start()

    def _deliver(self, hook: WebHook, event: str, body: bytes, event_id: int) -> None:
        headers = {
            "Content-Type": "application/json",
            "X-Discourse-Instance": self.base_url,
            "X-Discourse-Event-Id": str(event_id),
            "X-Discourse-Event-Type": EVENT_CATEGORY[event],
            "X-Discourse-Event": event,
        }
        if hook.secret:
            digest = hmac.new(hook.secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Discourse-Event-Signature"] = f"sha256={digest}"
        try:
            status = requests.post(hook.payload_url, data=body, headers=headers,
                                   timeout=10).status_code
        except requests.RequestException as error:
            status = None
            log.warning("webhook %s to hook %s failed: %s", event, hook.id, type(error).__name__)
        hook.deliveries.append({"event_id": event_id, "event": event, "status": status})

    def wait(self, timeout: float = 10.0) -> None:
        """Let the deliveries in flight finish (tests, reset)."""
        threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout)
