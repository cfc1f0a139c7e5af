"""Discourse webhooks (`POST /webhooks/discourse`), when DISCOURSE_WEBHOOK_SECRET is set.

They save admin API calls: a user event tells the bridge a member's forum user id
and username (no look-up needed later); `user_added_to_group` /
`user_removed_from_group` in a managed group (not the bridge's own change) has
the account read back and repaired within seconds; and `topic_destroyed` says at once that an
announcement may have been deleted by hand, so the event's job reads the topic back
and recreates it if it is really gone, instead of waiting for the event's next
change. A webhook is a hint, never proof (REFERENCE §10). Signatures are
`sha256=<hex>` HMACs of the raw body, compared in constant time; each delivery is
acted on once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re

from flask import Blueprint, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from bridge.membersync import GROUP_IDS
from web.current import current_services
from workers import enqueue
from workers.events import report_topic_deleted

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

GROUP_USER_EVENTS = {"user_added_to_group", "user_removed_from_group"}
USER_EVENTS = {"user_created", "user_logged_in", "user_updated", "user_confirmed_email",
               "user_approved"}
MAX_BODY = 2 * 1024 * 1024
DELIVERY_PREFIX = "bridge:webhook-delivery:"
DELIVERY_TTL = 86400
_DELIVERY_ID = re.compile(r"[0-9]{1,20}")


def _valid_signature(secret: str, body: bytes, header: str) -> bool:
    scheme, _, presented = header.partition("=")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return scheme == "sha256" and hmac.compare_digest(expected, presented.lower())


def _body_within_limit() -> bytes | None:
    """The raw body, or None when it is over MAX_BODY.

    A chunked body has no Content-Length: the limit applies to the stream, which
    werkzeug stops reading at `max_content_length`, one byte past ours to tell.
    """
    request.max_content_length = MAX_BODY + 1
    try:
        body = request.get_data(cache=False)
    except RequestEntityTooLarge:  # Content-Length says so before anything is read
        return None
    return body if len(body) <= MAX_BODY else None


@bp.post("/discourse")
def discourse():
    services = current_services()
    secret = services.settings.discourse_webhook_secret
    if not secret:
        return jsonify({"error": "disabled", "message": "Webhooks are not configured."}), 404
    body = _body_within_limit()
    if body is None:
        return jsonify({"error": "payload_too_large", "message": "Too large."}), 413
    if not _valid_signature(secret, body, request.headers.get("X-Discourse-Event-Signature", "")):
        log.warning("webhook refused: bad signature")
        return jsonify({"error": "bad_signature", "message": "Signature mismatch."}), 403
    event = request.headers.get("X-Discourse-Event", "")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return jsonify({"error": "malformed_json", "message": "Not JSON."}), 400
    if not isinstance(payload, dict):
        return jsonify({"error": "malformed_json", "message": "Not an object."}), 400
    delivery = _delivery_key(request.headers.get("X-Discourse-Event-Id", ""))
    if delivery and not services.redis.set(delivery, "1", nx=True, ex=DELIVERY_TTL):
        outcome = "duplicate delivery"
    else:
        try:
            outcome = _act(services, event, payload)
        except Exception:
            if delivery:  # let Discourse's retry of this delivery through
                services.redis.delete(delivery)
            raise
    log.info("webhook %s: %s", event or "(none)", outcome)
    return jsonify({"event": event, "outcome": outcome})


def _delivery_key(delivery_id: str) -> str | None:
    """Each delivery is acted on once (for a day): Discourse retries it, and a replay
    repeats it, under the same X-Discourse-Event-Id."""
    return DELIVERY_PREFIX + delivery_id if _DELIVERY_ID.fullmatch(delivery_id) else None


def _act(services, event: str, payload: dict) -> str:
    if event in USER_EVENTS:
        return _user(services, payload.get("user") or {})
    if event in GROUP_USER_EVENTS:
        return _group_user(services, payload.get("group_user"))
    if event == "topic_destroyed":
        topic = payload.get("topic")
        topic_id = topic.get("id") if isinstance(topic, dict) else None
        if not isinstance(topic_id, int) or isinstance(topic_id, bool):
            return "not an announcement"
        return report_topic_deleted(services, topic_id)
    # topic_recovered among them: a recovered topic needs nothing created.
    return "ignored"


def _group_user(services, item) -> str:
    """Someone's membership of a group changed: if it is a managed group and not the
    bridge's own change, the account is read back (never believed) and repaired."""
    if not isinstance(item, dict):
        return "not a membership"
    group_id, user_id = item.get("group_id"), item.get("user_id")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (group_id, user_id)):
        return "not a membership"
    managed = {int(gid) for gid in services.redis.hvals(GROUP_IDS)}
    if group_id not in managed:
        return "not a managed group"
    if services.member_sync().is_expected(user_id):
        return "the bridge's own change"
    enqueue.account_repair(services, user_id)
    return "account will be read back"


def _user(services, user: dict) -> str:
    external_id, user_id = user.get("external_id"), user.get("id")
    if not external_id or not isinstance(user_id, int):
        return "not a DiscourseConnect account"
    member = services.members.get(str(external_id))
    if member is None:
        return "not a club member"
    services.members.bind(member.external_id, user_id=user_id, username=user.get("username"))
    return "account recorded"
