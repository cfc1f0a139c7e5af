"""Create/update a user from a DiscourseConnect payload (DiscourseConnect#lookup_or_create_user,
REFERENCE §1-2). Shared by /session/sso_login and /admin/users/sync_sso."""

from __future__ import annotations

import re

from .connect import Payload, blank_external_id
from .context import Settings
from .state import Store, User

_EMAIL = re.compile(r"\A[^@\s]+@[^@\s]+\.[^@\s]+\Z")


class BlankExternalId(Exception):
    pass


class RecordInvalid(Exception):
    pass


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def apply_payload(store: Store, settings: Settings, payload: Payload, raw_payload: str) -> User:
    external_id = payload.get("external_id")
    if blank_external_id(external_id):
        raise BlankExternalId("external_id is blank")
    email = (payload.get("email") or "").strip()
    require_activation = payload.bools.get("require_activation", False)

    user = store.user_by_external_id(external_id)
    if user is None:
        if not email or not _EMAIL.match(email):
            raise RecordInvalid("Primary email is invalid.")
        existing = None if require_activation else store.user_by_email(email)
        if existing is not None:
            # DiscourseConnect#match_email_or_create_user: the account with this
            # e-mail is taken over, its DiscourseConnect record re-keyed to the new
            # external id even when it had another one.
            user = existing
            user.external_id = external_id
        elif store.user_by_email(email) is not None:
            raise RecordInvalid("Email has already been taken")
        else:
            username = store.suggest_username(payload.get("username"), payload.get("name"), email)
            user = store.create_user(
                username=username,
                email=email,
                name=payload.get("name") or None,
                external_id=external_id,
                active=not require_activation,
            )
    else:
        _update_identity(store, settings, user, payload, email)

    if not require_activation:
        user.active = True
    for flag in ("admin", "moderator"):
        if flag in payload.bools:
            setattr(user, flag, payload.bools[flag])
    if payload.get("title") is not None:
        user.title = payload.get("title") or None
    if payload.get("locale") and payload.bools.get("locale_force_update"):
        user.locale = payload.get("locale")
    user.custom_fields.update(payload.custom)
    user.sso_last_payload = raw_payload
    _apply_groups(store, settings, user, payload)
    return user


def _update_identity(
    store: Store, settings: Settings, user: User, payload: Payload, email: str
) -> None:
    if settings.auth_overrides_email and email and email.lower() != user.email.lower():
        if not _EMAIL.match(email):
            raise RecordInvalid("Primary email is invalid.")
        other = store.user_by_email(email)
        if other is not None and other.id != user.id:
            raise RecordInvalid("Email has already been taken")
        user.email = email
    wanted = payload.get("username")
    if settings.auth_overrides_username and wanted and wanted.lower() != user.username.lower():
        user.username = store.suggest_username(wanted)
    if settings.auth_overrides_name and payload.get("name") is not None:
        user.name = payload.get("name") or None


def _apply_groups(store: Store, settings: Settings, user: User, payload: Payload) -> None:
    if settings.discourse_connect_overrides_groups:
        wanted = {name.lower() for name in _split(payload.get("groups"))}
        for group in list(store.groups.values()):
            if group.automatic:
                continue
            if group.name.lower() in wanted:
                store.add_member(group, user)
            else:
                store.remove_member(group, user)
        return
    for name in _split(payload.get("add_groups")):
        group = store.group_by_name(name)
        if group is not None and not group.automatic:
            store.add_member(group, user)
    for name in _split(payload.get("remove_groups")):
        group = store.group_by_name(name)
        if group is not None and not group.automatic:
            store.remove_member(group, user)
