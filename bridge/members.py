"""Members: their desired state (from the institute) and what the forum has.

Each member is one Redis hash. `desired` is the latest accepted state from the
institute with its `version`; an older or equal version is acknowledged and
ignored, so replays and out-of-order deliveries are harmless. The forum side
(`account`, `user_id`, `applied`) is what the bridge last saw or did on
Discourse; jobs compare the two and converge.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StrictBool, StrictStr

from bridge import names, usernames
from bridge.versioned import NotNull, Version, VersionedStore
from config.mapping import Grants, RolesConfig

EXTERNAL_ID = re.compile(r"\A[A-Za-z0-9._:-]{1,64}\Z")  # whole strings: `$` passes "x\n"
PREFIX = "bridge:member:"
ALL_MEMBERS = "bridge:members"  # every external id the bridge knows
DIRTY = "bridge:members:dirty"  # desired state changed, forum not yet converged
USERNAME_INDEX = "bridge:usernames"  # lower(username) -> external_id

AttributeValue = Annotated[StrictStr, Field(max_length=255)]


class MemberIn(BaseModel):
    """One member as the institute's system sends it."""

    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    name: Annotated[StrictStr | None, Field(max_length=255), NotNull] = None
    username: Annotated[StrictStr | None, NotNull] = None
    roles: list[StrictStr] = Field(default_factory=list, max_length=50)
    attributes: dict[StrictStr, AttributeValue | list[AttributeValue]] = Field(
        default_factory=dict, max_length=50
    )
    active: StrictBool = True
    version: Annotated[Version | None, NotNull] = None


class RosterMemberIn(MemberIn):
    external_id: StrictStr


def check_member(member: MemberIn, roles: RolesConfig) -> list[dict]:
    """Domain rules beyond types: known role codes, a valid username."""
    problems = []
    for code in member.roles:
        if code not in roles.roles:
            problems.append({"field": "roles", "message": f"unknown role code {code!r}"})
    if member.username is not None:
        for problem in names.name_problems(member.username):
            problems.append({"field": "username", "message": f"username {problem}"})
    return problems


@dataclass
class Member:
    external_id: str
    desired: dict[str, Any]
    version: int
    username: str | None = None
    account: str = "unknown"  # unknown | none | exists
    user_id: int | None = None
    applied: dict[str, Any] = field(default_factory=dict)
    last_error: str | None = None
    removed: bool = False

    @property
    def active(self) -> bool:
        return bool(self.desired.get("active", True)) and not self.removed

    @property
    def email(self) -> str:
        return self.desired.get("email", "")

    def grants(self, roles: RolesConfig) -> Grants:
        if not self.active:
            return Grants(groups=frozenset(), admin=False, moderator=False)
        known = [r for r in self.desired.get("roles", []) if r in roles.roles]
        return roles.grants(known, self.desired.get("attributes"))

    def public(self) -> dict[str, Any]:
        forum = None
        if self.account == "exists":
            forum = {"user_id": self.user_id, "username": self.username}
        return {
            "external_id": self.external_id,
            "desired": self.desired,
            "version": self.version,
            "forum": forum,
            "last_error": self.last_error,
        }


class MemberStore(VersionedStore[Member]):
    prefix, all_key, dirty_key = PREFIX, ALL_MEMBERS, DIRTY

    def _load(self, external_id: str, data: Mapping[str, str]) -> Member:
        return _member(external_id, data)

    # -- the forum side ----------------------------------------------------------

    def assign_username(self, member: Member) -> str:
        """The member's forum username: given, or derived once and then kept."""
        if member.username:
            return member.username
        requested = member.desired.get("username")
        options = [requested] if requested else []
        options += usernames.candidates(member.desired.get("name") or "", member.external_id)
        for option in options:
            owner = self.r.hsetnx(USERNAME_INDEX, option.lower(), member.external_id)
            if owner or self.r.hget(USERNAME_INDEX, option.lower()) == member.external_id:
                if self.r.hsetnx(PREFIX + member.external_id, "username", option):
                    member.username = option
                    return option
                # Someone else assigned one concurrently: theirs stands.
                self.r.hdel(USERNAME_INDEX, option.lower())
                member.username = self.r.hget(PREFIX + member.external_id, "username")
                return member.username
        raise RuntimeError(f"no free username for member {member.external_id}")

    def external_id_for_username(self, username: str) -> str | None:
        return self.r.hget(USERNAME_INDEX, username.lower())

    def usernames_index(self) -> dict[str, str]:
        return self.r.hgetall(USERNAME_INDEX)

    def record_forum_user(
        self, external_id: str, *, account: str, user_id: int | None = None,
        username: str | None = None,
    ) -> None:
        """What Discourse told us about the member's account."""
        fields: dict[str, Any] = {"account": account}
        if user_id is not None:
            fields["user_id"] = user_id
        if username:
            previous = self.r.hget(PREFIX + external_id, "username")
            if previous and previous.lower() != username.lower():
                self.r.hdel(USERNAME_INDEX, previous.lower())
            self.r.hset(USERNAME_INDEX, username.lower(), external_id)
            fields["username"] = username
        self.r.hset(PREFIX + external_id, mapping=fields)

    def record_accounts_missing(self, external_ids: Iterable[str]) -> None:
        pipe = self.r.pipeline(transaction=False)
        for external_id in external_ids:
            pipe.hset(PREFIX + external_id, "account", "none")
        pipe.execute()

    def record_applied(self, external_id: str, grants: Grants) -> None:
        self.r.hset(PREFIX + external_id, "applied", json.dumps(applied_state(grants)))

    def forget_forum_account(self, external_id: str) -> None:
        """After anonymization the forum account is no longer this member's."""
        self.r.hset(PREFIX + external_id, mapping={"account": "erased"})
        self.r.hdel(PREFIX + external_id, "user_id", "applied")


def applied_state(grants: Grants) -> dict[str, Any]:
    """Grants as kept in `Member.applied`: what the bridge last put on the forum."""
    return {"groups": sorted(grants.groups), "admin": grants.admin, "moderator": grants.moderator}


def _member(external_id: str, data: Mapping[str, str]) -> Member:
    user_id = data.get("user_id")
    return Member(
        external_id=external_id,
        desired=json.loads(data.get("desired", "{}")),
        version=int(data.get("version", 0)),
        username=data.get("username"),
        account=data.get("account", "unknown"),
        user_id=int(user_id) if user_id else None,
        applied=json.loads(data["applied"]) if data.get("applied") else {},
        last_error=data.get("last_error"),
        removed=data.get("removed") == "1",
    )


def connect_payload(
    member: Member,
    roles: RolesConfig,
    *,
    username: str,
    suppress_welcome_message: bool,
    nonce: str | None = None,
    return_sso_url: str | None = None,
) -> dict[str, Any]:
    """The DiscourseConnect fields for an active member (login reply and `sync_sso`).

    Groups go as add_/remove_groups restricted to the managed groups, so groups
    the bridge does not manage are never touched; staff flags are always sent,
    so a revoked role is revoked on the forum too.
    """
    grants = member.grants(roles)
    payload: dict[str, Any] = {
        "nonce": nonce,
        "return_sso_url": return_sso_url,
        "external_id": member.external_id,
        "email": member.email,
        "username": username,
        "name": member.desired.get("name") or username,
        "add_groups": sorted(grants.groups) or None,
        "remove_groups": sorted(roles.managed - grants.groups) or None,
        "admin": grants.admin,
        "moderator": grants.moderator,
        "require_activation": False,
        "suppress_welcome_message": suppress_welcome_message,
        "locale": "ru",
    }
    return payload
