"""Topics and posts (posts_controller.rb, topics_controller.rb, topic.rb; REFERENCE §5, §13)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, request

from .. import names, serializers
from ..context import api_view, current_user, require_staff, sandbox
from ..errors import (
    ApiError,
    invalid_access,
    invalid_parameters,
    not_found,
    not_logged_in,
    param_missing,
    unprocessable,
)
from ..params import all_params, as_text, truthy
from ..state import UNCATEGORIZED_ID, Post, Revision, Store, Topic, User

bp = Blueprint("topics", __name__)

EXTERNAL_ID_MAX_LENGTH = 50
_EXTERNAL_ID = re.compile(r"\A[A-Za-z0-9_-]+\Z")  # [\w-]+ on ASCII
MAX_TITLE = 255
MIN_TITLE = 15
MIN_FIRST_POST = 20
MAX_POST = 32000
MEMO_TTL_S = 120
STATUSES = ("closed", "archived", "visible", "pinned", "pinned_globally")
EDIT_CONFLICT = (
    "The post has been updated by someone else while you were editing it. "
    "Please reload and try again."
)


# --- validation helpers ---------------------------------------------------------------
def _clean_title(title: str) -> str:
    return re.sub(r"\s+", " ", title).strip()


def title_errors(store: Store, title: str, author: User, *, ignore: int | None = None) -> list[str]:
    settings = sandbox().settings
    errors = []
    if not title:
        return ["Title can't be blank"]
    if len(title) > MAX_TITLE:
        errors.append(f"Title is too long (maximum is {MAX_TITLE} characters)")
    if not author.admin and len(title) < MIN_TITLE:
        errors.append(f"Title is too short (minimum is {MIN_TITLE} characters)")
    if not settings.allow_duplicate_topic_titles:
        lowered = title.lower()
        for topic in store.topics.values():
            if topic.id != ignore and topic.deleted_at is None and topic.title.lower() == lowered:
                errors.append("Title has already been used")
                break
    return errors


def external_id_errors(store: Store, external_id: str) -> list[str]:
    errors = []
    if len(external_id) > EXTERNAL_ID_MAX_LENGTH:
        errors.append(f"External is too long (maximum is {EXTERNAL_ID_MAX_LENGTH} characters)")
    if not _EXTERNAL_ID.match(external_id):
        errors.append("External is invalid")
    # uniqueness is checked unscoped: deleted topics keep their external_id
    if store.topic_by_external_id(external_id, with_deleted=True) is not None:
        errors.append("External has already been taken")
    return errors


def body_errors(raw: str, *, first_post: bool) -> list[str]:
    stripped = raw.strip()
    if not stripped:
        return ["Body can't be blank"]
    if first_post and len(stripped) < MIN_FIRST_POST:
        return [f"Body is too short (minimum is {MIN_FIRST_POST} characters)"]
    if len(stripped) > MAX_POST:
        return [f"Body is too long (maximum is {MAX_POST} characters)"]
    return []


def _tags(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    tags: list[str] = []
    for item in items:
        tag = re.sub(r"\s+", "-", str(item).strip().lower())
        tag = re.sub(r"[/?#\[\]@!$&'()*+,;=.%\\`^|{}\"<>]+", "", tag)
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def _category_id(store: Store, value: Any) -> int:
    text = as_text(value)
    if text and text.isdigit() and int(text) in store.categories:
        return int(text)
    return UNCATEGORIZED_ID  # staff author: no/unknown category → Uncategorized (§13)


def _parse_time(value: Any) -> float | None:
    text = as_text(value)
    if not text:
        return None
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def _live_topic_or_403(store: Store, topic_id: int) -> Topic:
    topic = store.live_topic(topic_id)
    if topic is None:
        raise invalid_access()  # permission check fails before the lookup (§13)
    return topic


def _author() -> User:
    user = current_user()
    if user is None:
        raise not_logged_in()
    return user


# --- create ---------------------------------------------------------------------------
@bp.post("/posts.json")
@bp.post("/posts")
@api_view
def create_post():
    author = _author()
    ctx = sandbox()
    store = ctx.store
    params = all_params(request)
    if not as_text(params.get("raw")):
        raise param_missing("raw")
    memo_key = json.dumps([author.id, params], sort_keys=True, default=str)
    now = ctx.now()
    store.memo = {k: v for k, v in store.memo.items() if v[0] > now}
    if memo_key in store.memo:
        _, status, body = store.memo[memo_key]
        return json.loads(body), status
    status, body = _create(store, author, params, now)
    store.memo[memo_key] = (now + MEMO_TTL_S, status, json.dumps(body))
    return body, status


def _create(store: Store, author: User, params: dict[str, Any], now: float) -> tuple[int, Any]:
    raw = as_text(params.get("raw")) or ""
    is_api = True
    skip = is_api and truthy(params.get("skip_validations")) and author.staff
    topic_id = as_text(params.get("topic_id"))
    if topic_id:
        topic = store.live_topic(int(topic_id)) if topic_id.isdigit() else None
        if topic is None:
            raise invalid_access()
        errors = [] if skip else body_errors(raw, first_post=False)
        if errors:
            return 422, {"action": "create_post", "errors": errors}
        post = _new_post(store, topic, author, raw, now)
        return 200, serializers.post(store, post)

    title = _clean_title(as_text(params.get("title")) or "")
    errors = title_errors(store, title, author)
    if not skip:
        errors += body_errors(raw, first_post=True)
    external_id = as_text(params.get("external_id"))
    if external_id is not None:
        errors += external_id_errors(store, external_id)
    if errors:
        return 422, {"action": "create_post", "errors": errors}
    created = _parse_time(params.get("created_at")) or now
    topic = Topic(
        id=store.new_topic_id(),
        title=title,
        slug=names.topic_slug(title),
        category_id=_category_id(store, params.get("category")),
        user_id=author.id,
        created_at=created,
        external_id=external_id,
        tags=_tags(params.get("tags")),
        visible=truthy(params.get("visible")) if "visible" in params else True,
        bumped_at=created,
    )
    store.topics[topic.id] = topic
    post = _new_post(store, topic, author, raw, created)
    store.emit("topic_created", {"id": topic.id, "title": topic.title,
                                 "external_id": topic.external_id})
    return 200, serializers.post(store, post)


def _new_post(store: Store, topic: Topic, author: User, raw: str, when: float) -> Post:
    post = Post(
        id=store.new_post_id(),
        topic_id=topic.id,
        post_number=len(topic.post_ids) + 1,
        user_id=author.id,
        raw=raw,
        created_at=when,
        updated_at=when,
    )
    store.posts[post.id] = post
    topic.post_ids.append(post.id)
    topic.bumped_at = when
    return post


# --- read -----------------------------------------------------------------------------
@bp.get("/t/external_id/<external_id>.json")
@api_view
def by_external_id(external_id: str):
    topic = sandbox().store.topic_by_external_id(external_id, with_deleted=False)
    if topic is None:
        raise not_found()
    response = Response(b"", status=301)
    response.headers["Location"] = f"/t/{topic.slug}/{topic.id}.json"
    return response


def _show(topic_id: int):
    """A deleted topic is 404 to everyone but staff, who see it with `deleted_at`
    (TopicView finds topics with_deleted; Guardian#can_see_deleted_topics?)."""
    store = sandbox().store
    topic = store.topics.get(topic_id)
    viewer = current_user()
    if topic is None or (topic.deleted_at is not None and not (viewer and viewer.staff)):
        raise not_found()
    include_raw = bool(request.args.get("include_raw"))
    return serializers.topic_view(store, topic, include_raw=include_raw)


@bp.get("/t/<int:topic_id>.json")
@api_view
def show_topic(topic_id: int):
    return _show(topic_id)


@bp.get("/t/<slug>/<int:topic_id>.json")
@api_view
def show_topic_slug(slug: str, topic_id: int):
    return _show(topic_id)


@bp.get("/posts/<int:post_id>.json")
@api_view
def show_post(post_id: int):
    store = sandbox().store
    post = store.posts.get(post_id)
    if post is None or post.deleted_at is not None or store.live_topic(post.topic_id) is None:
        raise not_found()
    return serializers.post(store, post)


# --- update ---------------------------------------------------------------------------
@bp.put("/posts/<int:post_id>.json")
@api_view
def update_post(post_id: int):
    author = _author()
    ctx = sandbox()
    store = ctx.store
    params = all_params(request)
    data = params.get("post")
    if not isinstance(data, dict) or as_text(data.get("raw")) is None:
        raise param_missing("post")
    post = store.posts.get(post_id)
    if post is None or post.deleted_at is not None:
        raise not_found()
    topic = _live_topic_or_403(store, post.topic_id)
    if not author.staff and author.id != post.user_id:
        raise invalid_access()
    original = as_text(data.get("original_text"))
    if original is not None and original != post.raw:
        raise ApiError(409, {"errors": [EDIT_CONFLICT]})
    raw = as_text(data.get("raw")) or ""
    errors = body_errors(raw, first_post=post.post_number == 1)
    changes: dict[str, Any] = {}
    if post.post_number == 1:
        title = as_text(params.get("title"))
        if title is not None and _clean_title(title) != topic.title:
            title = _clean_title(title)
            errors += title_errors(store, title, author, ignore=topic.id)
            changes["title"] = [topic.title, title]
        category = as_text(data.get("category_id"))
        if category is not None:
            new_category = _category_id(store, category)
            if new_category != topic.category_id:
                changes["category_id"] = [topic.category_id, new_category]
    if errors:
        raise unprocessable(errors)
    if raw != post.raw:
        changes["raw"] = [post.raw, raw]
    _apply_topic_changes(topic, changes)
    if changes:
        _revise(ctx.now(), post, changes, as_text(data.get("edit_reason")))
    return {"post": serializers.post(store, post)}


def _apply_topic_changes(topic: Topic, changes: dict[str, Any]) -> None:
    if "title" in changes:
        topic.title = changes["title"][1]
        topic.slug = names.topic_slug(topic.title)
    if "category_id" in changes:
        topic.category_id = changes["category_id"][1]
    if "tags" in changes:
        topic.tags = list(changes["tags"][1])


def _revise(now: float, post: Post, changes: dict[str, Any], reason: str | None) -> None:
    if "raw" in changes:
        post.raw = changes["raw"][1]
    post.version += 1
    post.updated_at = now
    post.edit_reason = reason
    post.revisions.append(
        Revision(number=post.version, edit_reason=reason, changes=changes, at=now)
    )


@bp.put("/t/-/<int:topic_id>.json")
@bp.put("/t/<slug>/<int:topic_id>.json")
@api_view
def update_topic(topic_id: int, slug: str = "-"):
    author = require_staff()
    ctx = sandbox()
    store = ctx.store
    topic = _live_topic_or_403(store, topic_id)
    params = all_params(request)  # top-level title/category_id/tags[] (§13)
    changes: dict[str, Any] = {}
    errors: list[str] = []
    title = as_text(params.get("title"))
    if title is not None and _clean_title(title) != topic.title:
        title = _clean_title(title)
        errors += title_errors(store, title, author, ignore=topic.id)
        changes["title"] = [topic.title, title]
    if params.get("category_id") not in (None, ""):
        new_category = _category_id(store, params.get("category_id"))
        if new_category != topic.category_id:
            changes["category_id"] = [topic.category_id, new_category]
    if "tags" in params:
        tags = _tags(params.get("tags") or [])
        if tags != topic.tags:
            changes["tags"] = [topic.tags, tags]
    if errors:
        raise unprocessable(errors)
    _apply_topic_changes(topic, changes)
    if changes:
        _revise(ctx.now(), store.first_post(topic), changes, None)
    return {"basic_topic": serializers.basic_topic(topic, len(topic.post_ids))}


@bp.put("/t/<int:topic_id>/status.json")
@bp.put("/t/<int:topic_id>/status")
@api_view
def update_status(topic_id: int):
    require_staff()
    ctx = sandbox()
    topic = _live_topic_or_403(ctx.store, topic_id)
    params = all_params(request)
    status = as_text(params.get("status"))
    if not status:
        raise param_missing("status")
    if status not in STATUSES:
        raise invalid_parameters("status")
    if "enabled" not in params:
        raise param_missing("enabled")
    enabled = params.get("enabled") == "true"  # only the string "true" enables
    if status == "closed":
        topic.closed = enabled
    elif status == "archived":
        topic.archived = enabled
    elif status == "visible":
        topic.visible = enabled
    elif status in ("pinned", "pinned_globally"):
        topic.pinned_at = ctx.now() if enabled else None
        topic.pinned_globally = enabled and status == "pinned_globally"
        topic.pinned_until = as_text(params.get("until")) if enabled else None
    return {"success": "OK", "topic_status_update": None}


@bp.delete("/t/<int:topic_id>.json")
@bp.delete("/t/<int:topic_id>")
@api_view
def delete_topic(topic_id: int):
    user = require_staff()
    ctx = sandbox()
    topic = _live_topic_or_403(ctx.store, topic_id)
    topic.deleted_at = ctx.now()
    topic.deleted_by = user.id
    ctx.store.emit("topic_destroyed", {"id": topic.id, "title": topic.title,
                                       "external_id": topic.external_id})
    return None, 200
