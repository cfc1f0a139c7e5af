"""Discourse webhooks (`POST /webhooks/discourse`), when DISCOURSE_WEBHOOK_SECRET is set.

They save admin API calls: a user event tells the bridge a member's forum user id
and username (no look-up needed later), and `topic_destroyed` tells it at once
that an announcement was deleted by hand, so the event's topic is recreated
instead of waiting for the event's next change. Signatures are `sha256=<hex>`
HMACs of the raw body (REFERENCE §10), compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from workers.events import event_store
from workers.queue import enqueue, job_id_for

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

USER_EVENTS = {"user_created", "user_logged_in", "user_updated", "user_confirmed_email",
               "user_approved"}
MAX_BODY = 2 * 1024 * 1024


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
    svc = current_app.config["SERVICES"]
    secret = svc.settings.discourse_webhook_secret
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
    if event in USER_EVENTS:
        outcome = _user(svc, payload.get("user") or {})
    elif event == "topic_destroyed":
        outcome = _topic_destroyed(svc, payload.get("topic") or {})
    else:
        outcome = "ignored"
    log.info("webhook %s: %s", event or "(none)", outcome)
    return jsonify({"event": event, "outcome": outcome})


def _user(svc, user: dict) -> str:
    external_id, user_id = user.get("external_id"), user.get("id")
    if not external_id or not isinstance(user_id, int):
        return "not a DiscourseConnect account"
    member = svc.members.get(str(external_id))
    if member is None:
        return "not a club member"
    svc.members.record_forum_user(
        member.external_id, account="exists", user_id=user_id, username=user.get("username")
    )
    return "account recorded"


def _topic_destroyed(svc, topic: dict) -> str:
    topic_id = topic.get("id")
    store = event_store(svc)
    for event in store.all():
        if event.topic_id != topic_id or not isinstance(topic_id, int):
            continue
        if event.removed:
            return "withdrawn event: nothing to do"
        store.forget_topic(event.external_id, next_generation=event.generation + 1,
                          mark_dirty=True)
        svc.audit.record(subject=f"event:{event.external_id}", action="topic.deleted",
                         target=str(topic_id), cause="webhook")
        enqueue(svc.redis_raw, "workers.events.sync_event", event.external_id, "webhook",
                job_id=job_id_for("event", event.external_id,
                                  f"v{event.version}", f"g{event.generation + 1}"))
        return "topic will be recreated"
    return "not an announcement"
