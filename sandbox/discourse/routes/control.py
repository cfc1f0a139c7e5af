"""/_sandbox/* control API (not Discourse; no API key)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from ..context import api_view, sandbox
from ..errors import ApiError
from ..faults import FaultConfigError
from ..state import Group, iso

bp = Blueprint("control", __name__, url_prefix="/_sandbox")

BOOL_SETTINGS = (
    "allow_duplicate_topic_titles",
    "discourse_connect_overrides_groups",
    "auth_overrides_email",
    "auth_overrides_username",
    "auth_overrides_name",
    "validate_spec",
)


def _bad(message: str) -> ApiError:
    return ApiError(400, {"errors": [message], "error_type": "invalid_parameters"})


def _json() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if data is None and request.get_data():
        raise _bad("body must be JSON")
    if data is not None and not isinstance(data, dict):
        raise _bad("body must be a JSON object")
    return data or {}


@bp.post("/reset")
@api_view
def reset():
    sandbox().reset()
    return {"success": "OK"}


@bp.post("/seed")
@api_view
def seed():
    ctx = sandbox()
    ctx.webhooks.quiet = True  # setting the scene is not news
    try:
        return _seed(ctx.store, _json())
    finally:
        ctx.webhooks.quiet = False


def _seed(store, data: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = {"users": {}, "groups": {}, "categories": {}}
    for item in data.get("users", []):
        username, email = item.get("username"), item.get("email")
        if not username or not email:
            raise _bad("each user needs username and email")
        if store.user_by_username(username) or store.user_by_email(email):
            raise _bad(f"user {username} or its email already exists")
        user = store.create_user(
            username=username,
            email=email,
            name=item.get("name"),
            external_id=item.get("external_id"),
            admin=bool(item.get("admin")),
            moderator=bool(item.get("moderator")),
            active=item.get("active", True),
        )
        created["users"][username] = user.id
    for item in data.get("groups", []):
        name = item.get("name")
        if not name or store.group_by_name(name):
            raise _bad(f"group {name!r} missing or exists")
        group = Group(
            id=store.new_group_id(),
            name=name,
            full_name=item.get("full_name"),
            automatic=bool(item.get("automatic")),
            visibility_level=int(item.get("visibility_level", 0)),
        )
        store.groups[group.id] = group
        created["groups"][name] = group.id
    from ..names import slugify
    from ..state import Category

    for item in data.get("categories", []):
        name = item.get("name")
        if not name or store.category_by_name(name):
            raise _bad(f"category {name!r} missing or exists")
        new_id = store.new_category_id()
        store.categories[new_id] = Category(
            id=new_id,
            name=name,
            slug=item.get("slug") or slugify(name) or f"{new_id}-category",
            color=item.get("color", "0088CC"),
            position=len(store.categories),
        )
        created["categories"][name] = new_id
    for group_name, usernames in (data.get("memberships") or {}).items():
        group = store.group_by_name(group_name)
        if group is None:
            raise _bad(f"unknown group {group_name}")
        for username in usernames:
            user = store.user_by_username(username)
            if user is None:
                raise _bad(f"unknown user {username}")
            store.add_member(group, user)
    return created


@bp.post("/webhooks/flush")
@api_view
def flush_webhooks():
    """Wait for the deliveries in flight; list every hook's deliveries so far."""
    hooks = sandbox().webhooks
    hooks.wait()
    return {"deliveries": [d for h in hooks.hooks.values() for d in h.deliveries]}


@bp.get("/state")
@api_view
def state():
    ctx = sandbox()
    store = ctx.store
    now = ctx.now()
    users = [
        {
            "id": u.id,
            "username": u.username,
            "email": u.email,
            "name": u.name,
            "external_id": u.external_id,
            "admin": u.admin,
            "moderator": u.moderator,
            "active": u.active,
            "title": u.title,
            "suspended_till": iso(u.suspended_till) if u.is_suspended(now) else None,
            "groups": [g.name for g in store.groups_of(u) if not g.automatic],
            "logged_out_count": u.logged_out_count,
            "anonymized": u.anonymized,
        }
        for u in store.human_users()
    ]
    groups = [
        {
            "id": g.id,
            "name": g.name,
            "full_name": g.full_name,
            "visibility_level": g.visibility_level,
            "automatic": g.automatic,
            "title": g.title,
            "members": sorted(store.users[i].username for i in store.group_member_ids(g)),
            "owners": sorted(store.users[i].username for i in g.owners),
        }
        for g in store.groups.values()
    ]
    categories = [
        {
            "id": c.id,
            "name": c.name,
            "slug": c.slug,
            "color": c.color,
            "text_color": c.text_color,
            "parent_category_id": c.parent_category_id,
            "permissions": c.permissions,
        }
        for c in store.categories.values()
    ]
    topics = []
    for t in store.topics.values():
        first = store.first_post(t)
        topics.append(
            {
                "id": t.id,
                "title": t.title,
                "slug": t.slug,
                "external_id": t.external_id,
                "category_id": t.category_id,
                "tags": t.tags,
                "closed": t.closed,
                "archived": t.archived,
                "visible": t.visible,
                "pinned": t.pinned_at is not None,
                "deleted": t.deleted_at is not None,
                "post_id": first.id,
                "raw": first.raw,
                "posts_count": len(t.post_ids),
                "version": first.version,
                "revisions": len(first.revisions),
                "edit_reasons": [r.edit_reason for r in first.revisions],
                "created_at": iso(t.created_at),
            }
        )
    return {
        "users": users,
        "groups": groups,
        "categories": categories,
        "topics": topics,
        "settings": ctx.settings.public(),
    }


@bp.post("/faults")
@api_view
def set_faults():
    ctx = sandbox()
    try:
        ctx.faults.configure(_json())
    except (FaultConfigError, TypeError, ValueError) as exc:
        raise _bad(str(exc)) from exc
    return ctx.faults.as_dict()


@bp.delete("/faults")
@api_view
def clear_faults():
    ctx = sandbox()
    ctx.faults.clear()
    return ctx.faults.as_dict()


@bp.get("/faults")
@api_view
def get_faults():
    return sandbox().faults.as_dict()


@bp.get("/stats")
@api_view
def stats():
    since = request.args.get("since")
    try:
        since_value = float(since) if since else None
    except ValueError as exc:
        raise _bad("since must be a number") from exc
    return sandbox().stats.snapshot(since_value)


@bp.post("/settings")
@api_view
def settings():
    ctx = sandbox()
    current = ctx.settings
    data = _json()
    for key, value in data.items():
        if key in BOOL_SETTINGS:
            if not isinstance(value, bool):
                raise _bad(f"{key} must be a boolean")
            setattr(current, key, value)
        elif key in ("connect_url", "logout_redirect", "base_url"):
            if value is not None and not isinstance(value, str):
                raise _bad(f"{key} must be a string or null")
            if key in ("connect_url", "base_url") and value and value.endswith("/"):
                raise _bad(f"{key} must not end with a slash")
            setattr(current, key, value or None)
        elif key == "max_admin_api_reqs_per_minute":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise _bad(f"{key} must be a positive integer")
            current.max_admin_api_reqs_per_minute = value
            ctx.limiter.set_limit(value)
        else:
            raise _bad(f"unknown setting {key}")
    if current.validate_spec:
        from .. import spec

        spec.openapi()
    return current.public()
