"""Users: by-external lookup and the admin user actions (REFERENCE §2-3)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from flask import Blueprint, request

from .. import connect, serializers
from ..accounts import BlankExternalId, RecordInvalid, apply_payload
from ..context import api_view, current_user, require_admin, sandbox
from ..errors import invalid_access, not_found, param_missing, unprocessable
from ..params import all_params, as_text, truthy
from ..state import User, iso

bp = Blueprint("users", __name__)
SUCCESS = {"success": "OK"}


def _user(user_id: int) -> User:
    user = sandbox().store.user_by_id(user_id)
    if user is None or user.id <= 0:
        raise not_found()
    return user


@bp.post("/admin/users/sync_sso")
@bp.post("/admin/users/sync_sso.json")
@api_view
def sync_sso():
    require_admin()
    ctx = sandbox()
    if not ctx.settings.enable_discourse_connect:
        return None, 404
    params = all_params(request)
    sso_text, sig = as_text(params.get("sso")), as_text(params.get("sig"))
    try:
        payload = connect.parse(sso_text, sig, ctx.settings.connect_secret)
    except connect.ConnectError as exc:
        return {"failed": "FAILED", "message": str(exc)}, 422
    try:
        user = apply_payload(ctx.store, ctx.settings, payload, sso_text or "")
    except BlankExternalId as exc:
        return {"failed": "FAILED", "message": str(exc)}, 422
    except RecordInvalid as exc:
        return {"failed": "FAILED", "message": str(exc)}, 403
    return serializers.admin_user(ctx.store, user, ctx.now())


@bp.get("/u/by-external/<path:external_id>.json")
@api_view
def by_external(external_id: str):
    ctx = sandbox()
    viewer = current_user()
    user = ctx.store.user_by_external_id(external_id)
    if user is None or (not user.active and not (viewer and viewer.staff)):
        raise not_found()
    return {"user_badges": [], "user": serializers.public_user(ctx.store, user, viewer)}


@bp.get("/admin/users/<int:user_id>.json")
@api_view
def show(user_id: int):
    require_admin()
    ctx = sandbox()
    return serializers.admin_user(ctx.store, _user(user_id), ctx.now())


@bp.post("/admin/users/<int:user_id>/log_out.json")
@bp.post("/admin/users/<int:user_id>/log_out")
@api_view
def log_out(user_id: int):
    require_admin()
    user = _user(user_id)
    user.auth_generation += 1
    user.logged_out_count += 1
    return dict(SUCCESS)


def _parse_time(text: str) -> float | None:
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


@bp.put("/admin/users/<int:user_id>/suspend.json")
@bp.put("/admin/users/<int:user_id>/suspend")
@api_view
def suspend(user_id: int):
    actor = require_admin()
    ctx = sandbox()
    user = _user(user_id)
    params = all_params(request)
    until_text, reason = as_text(params.get("suspend_until")), as_text(params.get("reason"))
    if not until_text:
        raise param_missing("suspend_until")
    if not reason:
        raise param_missing("reason")
    if user.is_suspended(ctx.now()):
        return {"failed": "FAILED", "message": f"{user.username} is already suspended."}, 409
    if len(reason) > 300:
        raise unprocessable(["Reason is too long (maximum is 300 characters)"])
    until = _parse_time(until_text)
    if until is None:
        raise unprocessable(["Suspend until is invalid"])
    if user.staff:
        raise invalid_access()
    user.suspended_at = ctx.now()
    user.suspended_till = until
    user.suspend_reason = reason
    user.auth_generation += 1
    return {
        "suspension": {
            "suspend_reason": reason,
            "full_suspend_reason": reason,
            "suspended_till": iso(until),
            "suspended_at": iso(user.suspended_at),
            "suspended_by": serializers.basic_user(actor),
        }
    }


@bp.put("/admin/users/<int:user_id>/unsuspend.json")
@bp.put("/admin/users/<int:user_id>/unsuspend")
@api_view
def unsuspend(user_id: int):
    require_admin()
    user = _user(user_id)
    user.suspended_at = user.suspended_till = user.suspend_reason = None
    return {"suspension": {"suspended_till": None, "suspended_at": None}}


@bp.put("/admin/users/<int:user_id>/anonymize.json")
@bp.put("/admin/users/<int:user_id>/anonymize")
@api_view
def anonymize(user_id: int):
    require_admin()
    ctx = sandbox()
    user = _user(user_id)
    if user.staff:
        raise invalid_access()
    # UserAnonymizer: anon<digits> username, placeholder email, no name/title,
    # DiscourseConnect record destroyed; group memberships are kept.
    rng = random.Random()
    while True:
        candidate = f"anon{rng.randrange(10**8)}"
        if not ctx.store.username_taken(candidate):
            break
    user.username = candidate
    user.email = f"{candidate}@anonymized.invalid"
    user.name = None
    user.title = None
    user.external_id = None
    user.sso_last_payload = None
    user.custom_fields.clear()
    user.anonymized = True
    user.auth_generation += 1
    return {"success": "OK", "username": candidate}


def _flag_action(user_id: int, **changes: bool):
    require_admin()
    user = _user(user_id)
    for key, value in changes.items():
        setattr(user, key, value)
    return dict(SUCCESS)


@bp.put("/admin/users/<int:user_id>/grant_admin.json")
@bp.put("/admin/users/<int:user_id>/grant_admin")
@api_view
def grant_admin(user_id: int):
    require_admin()
    _user(user_id)
    # Through the API this only e-mails a confirmation link (REFERENCE §3).
    return {"success": "OK", "email_confirmation_required": True}


@bp.put("/admin/users/<int:user_id>/revoke_admin.json")
@bp.put("/admin/users/<int:user_id>/revoke_admin")
@api_view
def revoke_admin(user_id: int):
    return _flag_action(user_id, admin=False)


@bp.put("/admin/users/<int:user_id>/grant_moderation.json")
@bp.put("/admin/users/<int:user_id>/grant_moderation")
@api_view
def grant_moderation(user_id: int):
    return _flag_action(user_id, moderator=True)


@bp.put("/admin/users/<int:user_id>/revoke_moderation.json")
@bp.put("/admin/users/<int:user_id>/revoke_moderation")
@api_view
def revoke_moderation(user_id: int):
    return _flag_action(user_id, moderator=False)


@bp.put("/admin/users/<int:user_id>/deactivate.json")
@bp.put("/admin/users/<int:user_id>/deactivate")
@api_view
def deactivate(user_id: int):
    return _flag_action(user_id, active=False)


@bp.put("/admin/users/<int:user_id>/activate.json")
@bp.put("/admin/users/<int:user_id>/activate")
@api_view
def activate(user_id: int):
    return _flag_action(user_id, active=True)


@bp.delete("/admin/users/<int:user_id>.json")
@bp.delete("/admin/users/<int:user_id>")
@api_view
def destroy(user_id: int):
    """UserDestroyer: staff cannot be deleted; an author of posts only with delete_posts."""
    require_admin()
    store = sandbox().store
    user = _user(user_id)
    if user.staff:
        raise invalid_access()
    authored = [p for p in store.posts.values() if p.user_id == user.id and p.deleted_at is None]
    if authored and not truthy(all_params(request).get("delete_posts")):
        return {"deleted": False, "user": {"id": user.id}}, 403
    for group in store.groups.values():
        group.members.pop(user.id, None)
        group.owners.discard(user.id)
    del store.users[user.id]
    return {"deleted": True}


LIST_PAGE_SIZE = 100  # AdminUserIndexQuery::PAGE_SIZE
LIST_FLAGS = ("active", "new", "staff", "suspended", "blocked", "suspect")


@bp.get("/admin/users/list/<flag>.json")
@api_view
def admin_list(flag: str):
    """AdminUserIndexQuery: 100 users a page, `page` counted from 1."""
    require_admin()
    ctx = sandbox()
    if flag not in LIST_FLAGS:
        raise not_found()
    try:
        page = max(int(request.args.get("page", 1)), 1)
    except ValueError:
        page = 1
    now = ctx.now()
    users = [u for u in ctx.store.human_users() if not u.anonymized or flag == "active"]
    if flag == "staff":
        users = [u for u in users if u.admin or u.moderator]
    elif flag == "active":
        users = [u for u in users if u.active]
    elif flag == "suspended":
        users = [u for u in users if u.is_suspended(now)]
    elif flag in ("new", "blocked", "suspect"):
        users = [u for u in users if u.trust_level == 0] if flag == "new" else []
    users.sort(key=lambda u: u.id, reverse=True)
    chunk = users[(page - 1) * LIST_PAGE_SIZE : page * LIST_PAGE_SIZE]
    show_emails = request.args.get("show_emails") == "true"
    return [serializers.admin_list_user(u, show_emails=show_emails) for u in chunk]
