"""Groups (groups_controller.rb, admin/groups_controller.rb; REFERENCE §4)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from .. import names, serializers
from ..context import api_view, current_user, require_admin, sandbox
from ..errors import (
    INVALID_PARAMS,
    invalid_access,
    invalid_parameters,
    json_error,
    not_found,
    server_error,
    unprocessable,
)
from ..params import all_params, as_text, truthy
from ..state import Group, User

bp = Blueprint("groups", __name__)

ADD_MEMBERS_LIMIT = 1000
MEMBERS_DEFAULT_PAGE_SIZE = 50
MEMBERS_MAX_PAGE_SIZE = 1000
MAX_NAME_LENGTH = 20
VISIBILITY_LEVELS = range(0, 5)


def _csv(value: Any, name: str) -> list[str]:
    if isinstance(value, list):
        # Ruby would call String#split on an Array: NoMethodError → 500 (REFERENCE §13)
        raise server_error()
    text = as_text(value) or ""
    return [part for part in (p.strip() for p in text.split(",")) if part]


def _users_from_params(params: dict[str, Any]) -> list[User]:
    store = sandbox().store
    if params.get("usernames"):
        wanted = {n.lower() for n in _csv(params["usernames"], "usernames")}
        users = [u for u in store.human_users() if u.username.lower() in wanted]
        key = "usernames"
    elif params.get("user_id") not in (None, ""):
        ids = _csv(params["user_id"], "user_id")[:1]
        users = [u for u in (store.user_by_id(_int(i)) for i in ids) if u and u.id > 0]
        key = "user_id"
    elif params.get("user_ids"):
        ids = {_int(i) for i in _csv(params["user_ids"], "user_ids")}
        users = [u for u in store.human_users() if u.id in ids]
        key = "user_ids"
    elif params.get("user_emails"):
        wanted = {e.lower() for e in _csv(params["user_emails"], "user_emails")}
        users = [u for u in store.human_users() if u.email.lower() in wanted]
        key = "user_emails"
    else:
        raise invalid_parameters("user_ids or usernames or user_emails must be present")
    if not users:
        raise invalid_parameters(key)
    return users


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _editable_group(group_id: int) -> Group:
    require_admin()
    group = sandbox().store.groups.get(group_id)
    if group is None:
        raise not_found()
    if group.automatic:
        raise invalid_access()  # guardian.can_edit_group? is false for automatic groups
    return group


def name_errors(name: str | None) -> list[str]:
    store = sandbox().store
    if not name:
        return ["Name can't be blank"]
    errors = names.username_errors(name, "Name")
    if len(name) > MAX_NAME_LENGTH and not any("no more than" in e for e in errors):
        errors.append(f"Name must be no more than {MAX_NAME_LENGTH} characters")
    if store.group_by_name(name) is not None or store.user_by_username(name) is not None:
        errors.append("Name has already been taken")
    return errors


@bp.post("/admin/groups.json")
@bp.post("/admin/groups")
@api_view
def create_group():
    require_admin()
    store = sandbox().store
    params = all_params(request)
    data = params.get("group")
    if not isinstance(data, dict):
        raise json_error(400, [INVALID_PARAMS.format("group")], "invalid_parameters")
    name = as_text(data.get("name"))
    if not name:
        raise json_error(
            400, ["param is missing or the value is empty: name"], "invalid_parameters"
        )
    errors = name_errors(name.strip())
    visibility = _int(as_text(data.get("visibility_level")) or "0")
    if visibility not in VISIBILITY_LEVELS:
        errors.append("Visibility level is not included in the list")
    if errors:
        raise unprocessable(errors)
    group = Group(
        id=store.new_group_id(),
        name=name.strip(),
        full_name=as_text(data.get("full_name")),
        visibility_level=visibility,
    )
    group.members_visibility_level = _int(as_text(data.get("members_visibility_level")) or "0")
    for key in (
        "title",
        "bio_raw",
        "flair_icon",
        "flair_bg_color",
        "flair_color",
        "automatic_membership_email_domains",
    ):
        if data.get(key) is not None:
            setattr(group, key, as_text(data.get(key)))
    for key in ("mentionable_level", "messageable_level", "default_notification_level"):
        if data.get(key) is not None:
            setattr(group, key, _int(as_text(data.get(key)) or "0"))
    for key in ("primary_group", "public_admission", "public_exit", "allow_membership_requests"):
        if key in data:
            setattr(group, key, truthy(data.get(key)))
    store.groups[group.id] = group
    for username in _csv(data.get("usernames"), "usernames"):
        user = store.user_by_username(username)
        if user:
            store.add_member(group, user)
    for username in _csv(data.get("owner_usernames"), "owner_usernames"):
        user = store.user_by_username(username)
        if user:
            store.add_member(group, user)
            group.owners.add(user.id)
    return {"basic_group": serializers.group_basic(store, group)}


@bp.put("/groups/<int:group_id>.json")
@bp.put("/groups/<int:group_id>")
@api_view
def update_group(group_id: int):
    """GroupsController#update: staff may change the permitted attributes; `{"success":"OK"}`."""
    group = _editable_group(group_id)
    data = all_params(request).get("group")
    if not isinstance(data, dict):
        raise json_error(400, [INVALID_PARAMS.format("group")], "invalid_parameters")
    for key in ("full_name", "title", "bio_raw", "flair_icon", "flair_bg_color", "flair_color"):
        if data.get(key) is not None:
            setattr(group, key, as_text(data.get(key)))
    for key in ("visibility_level", "members_visibility_level", "mentionable_level",
                "messageable_level", "default_notification_level"):
        if data.get(key) is not None:
            setattr(group, key, _int(as_text(data.get(key)) or "0"))
    if group.visibility_level not in VISIBILITY_LEVELS:
        raise unprocessable(["Visibility level is not included in the list"])
    return {"success": "OK"}


@bp.get("/groups/<name>.json")
@api_view
def show_group(name: str):
    store = sandbox().store
    group = store.group_by_name(name)
    if group is None:
        raise not_found()
    viewer = current_user()
    return {
        "group": serializers.group_detail(store, group, viewer),
        "extras": {"visible_group_names": [group.name]},
    }


@bp.put("/groups/<int:group_id>/members.json")
@api_view
def add_members(group_id: int):
    group = _editable_group(group_id)
    store = sandbox().store
    params = all_params(request)
    users: list[User] = []
    has_user_params = any(
        params.get(k) not in (None, "") for k in ("usernames", "user_id", "user_ids", "user_emails")
    )
    if has_user_params or not params.get("emails"):
        users = _users_from_params(params)
    invites: list[str] = []
    for email in _csv(params.get("emails"), "emails"):
        existing = store.user_by_email(email)
        if existing is not None:
            users.append(existing)
        else:
            invites.append(email)
    if not users and not invites:
        raise invalid_parameters("usernames or emails must be present")
    if len(users) > ADD_MEMBERS_LIMIT:
        raise unprocessable(
            [f"You cannot add more than {ADD_MEMBERS_LIMIT} users at once to a group"]
        )
    already = sorted({u.username for u in users if u.id in group.members})
    if already and len(already) == len({u.id for u in users}) and not invites:
        joined = ", ".join(already)
        if len(already) == 1:
            message = f"User {joined} is already a member of this group"
        else:
            message = f"Users {joined} are already members of this group"
        raise unprocessable([message])
    unique: list[User] = []
    for user in users:
        if user not in unique:
            unique.append(user)
    for user in unique:
        store.add_member(group, user)
    return {"success": "OK", "usernames": [u.username for u in unique], "emails": invites}


@bp.delete("/groups/<int:group_id>/members.json")
@api_view
def remove_members(group_id: int):
    group = _editable_group(group_id)
    store = sandbox().store
    params = all_params(request)
    if params.get("username"):
        params["usernames"] = params["username"]
    if params.get("user_email"):
        params["user_emails"] = params["user_email"]
    removed, skipped = [], []
    for user in _users_from_params(params):
        if store.remove_member(group, user):
            removed.append(user.username)
        else:
            skipped.append(user.username)
    return {"success": "OK", "usernames": removed, "skipped_usernames": skipped}


GROUPS_PAGE_SIZE = 36  # GroupsController#index on a desktop user agent (15 on mobile)
GROUP_TYPE_FILTERS = {
    "public": lambda g: g.public_admission and not g.automatic,
    "close": lambda g: not g.public_admission and not g.automatic,
    "automatic": lambda g: g.automatic,
    "non_automatic": lambda g: not g.automatic,
}


@bp.get("/groups.json")
@api_view
def list_groups():
    """GroupsController#index: 36 groups a page from page 0, with `total_rows_groups`."""
    store = sandbox().store
    groups = sorted(store.groups.values(), key=lambda g: g.name.lower())
    kind = request.args.get("type")
    if kind:
        if kind not in GROUP_TYPE_FILTERS:
            raise invalid_parameters("type")
        groups = [g for g in groups if GROUP_TYPE_FILTERS[kind](g)]
    text = (request.args.get("filter") or "").lower()
    if text:
        groups = [g for g in groups
                  if text in g.name.lower() or text in (g.full_name or "").lower()]
    page = max(_int(request.args.get("page") or "0"), 0)
    shown = groups[page * GROUPS_PAGE_SIZE : (page + 1) * GROUPS_PAGE_SIZE]
    return {
        "groups": [serializers.group_basic(store, g) for g in shown],
        "extras": {"type_filters": ["my", "owner", *GROUP_TYPE_FILTERS]},
        "total_rows_groups": len(groups),
        "load_more_groups": f"/groups?page={page + 1}" + (f"&type={kind}" if kind else ""),
    }


@bp.get("/groups/<name>/members.json")
@api_view
def list_members(name: str):
    store = sandbox().store
    group = store.group_by_name(name)
    if group is None:
        raise not_found()
    limit_text = request.args.get("limit")
    limit = _int(limit_text) if limit_text else MEMBERS_DEFAULT_PAGE_SIZE
    if limit_text and not limit_text.lstrip("-").isdigit():
        limit = 0
    if limit < 0 or limit > MEMBERS_MAX_PAGE_SIZE:
        raise invalid_parameters("limit")
    offset = _int(request.args.get("offset") or "0")
    if offset < 0:
        raise invalid_parameters("offset")
    ascending = bool(request.args.get("asc"))
    members = [store.users[i] for i in store.group_member_ids(group) if i in store.users]
    # ORDER BY NOT group_users.owner, username_lower DESC (ASC with ?asc=true)
    members.sort(key=lambda u: u.username.lower(), reverse=not ascending)
    members.sort(key=lambda u: u.id not in group.owners)
    page = members[offset : offset + limit]
    owners = [u for u in members if u.id in group.owners]
    return {
        "members": [serializers.group_member(store, group, u) for u in page],
        "owners": [serializers.group_member(store, group, u) for u in owners],
        "meta": {"total": len(members), "limit": limit, "offset": offset},
    }
