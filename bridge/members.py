"""Members: their desired state (from the institute) and what the forum has.

Each member is one Redis hash. `desired` is the latest accepted state from the
institute with its `version`; an older or equal version is acknowledged and
ignored, so replays and out-of-order deliveries are harmless. The forum side
(`account`, `user_id`, `applied`) is what the bridge last learned from or did on
Discourse; jobs compare the two and converge.

Identity: a member's account is only ever the one Discourse keys on them: the
DiscourseConnect external id (by-external look-up, a `sync_sso` answer, a user
webhook, an account read by id) or the e-mail where Discourse would match it at
login. Never a username: Discourse may have given that name to someone else.
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
USERNAME_INDEX = "bridge:usernames"  # lower(requested username) -> external_id
BY_USER_ID = "bridge:members:by-user"  # forum user id -> external_id of the bound member
EMAIL_INDEX = "bridge:members:email:"  # + lower(e-mail): external ids that listed it (a superset)
EMAIL_INDEX_BUILT = "bridge:members:email-indexed"  # set once every stored e-mail is indexed
LINKS = "bridge:members:links:"  # + an account's anchor: the members linked to its account

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


#: What the bridge knows of a member's forum account.
#: unknown: not looked for yet; none: Discourse had none when last asked;
#: pending: a login reply was issued and the account is being learned from Discourse;
#: bound: `user_id` is the account Discourse keys on this member (its external id,
#: or the e-mail where Discourse itself would match it at login); erased: anonymized;
#: linked: the person proved this listing and another source's are one: the account
#: is the one of the member `linked_to` names (the account's *anchor*, whose external
#: id the forum keeps).
ACCOUNT_STATES = ("unknown", "none", "pending", "bound", "erased", "linked")
#: Discourse keeps a DiscourseConnect nonce this long: a login reply older than that
#: can no longer create an account, so an account not found by then is not coming.
LOGIN_WINDOW = 30 * 60


@dataclass
class Member:
    external_id: str
    desired: dict[str, Any]
    version: int
    requested_username: str | None = None  # what the bridge asks Discourse for, kept once given
    account: str = "unknown"  # one of ACCOUNT_STATES
    user_id: int | None = None  # only ever learned from Discourse
    username: str | None = None  # the bound account's username, as Discourse reported it
    applied: dict[str, Any] = field(default_factory=dict)
    last_error: str | None = None
    removed: bool = False
    login_at: float | None = None  # when the last login reply was issued
    linked_to: str | None = None  # the account's anchor, for a linked listing

    @property
    def active(self) -> bool:
        return bool(self.desired.get("active", True)) and not self.removed

    @property
    def bound(self) -> bool:
        return self.account == "bound" and self.user_id is not None

    @property
    def email(self) -> str:
        return self.desired.get("email", "")

    @property
    def anchor_id(self) -> str:
        """The external id the forum keys this member's account on."""
        return self.linked_to or self.external_id

    def login_in_flight(self, now: float) -> bool:
        """A login reply was issued recently enough that Discourse may still create the account."""
        return self.login_at is not None and now - self.login_at < LOGIN_WINDOW

    def grants(self, roles: RolesConfig) -> Grants:
        if not self.active:
            return Grants(groups=frozenset(), admin=False, moderator=False)
        mapping = roles.for_member(self.external_id)  # the member's own source's file
        known = [r for r in self.desired.get("roles", []) if r in mapping.roles]
        return mapping.grants(known, self.desired.get("attributes"))

    def public(self) -> dict[str, Any]:
        forum = {"user_id": self.user_id, "username": self.username} if self.bound else None
        public = {
            "external_id": self.external_id,
            "desired": self.desired,
            "version": self.version,
            "account": self.account,
            "forum": forum,
            "last_error": self.last_error,
        }
        if self.linked_to:
            public["linked_to"] = self.linked_to
        return public


# One step, so a binding learned meanwhile is never overwritten by "pending".
_RECORD_LOGIN = """
local sequence = redis.call('HINCRBY', KEYS[1], 'logins', 1)
redis.call('HSET', KEYS[1], 'login_at', ARGV[1])
if redis.call('HGET', KEYS[1], 'account') ~= 'bound' then
  redis.call('HSET', KEYS[1], 'account', 'pending')
end
return sequence
"""


_FORGET = """
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then
  return 0
end
local requested = redis.call('HGET', KEYS[1], 'requested_username')
if requested then
  redis.call('HDEL', KEYS[2], string.lower(requested))
end
redis.call('HSET', KEYS[1], 'desired', ARGV[2])
redis.call('HDEL', KEYS[1], 'requested_username', 'last_error')
return 1
"""


class MemberStore(VersionedStore[Member]):
    prefix, all_key, dirty_key = PREFIX, ALL_MEMBERS, DIRTY

    def _load(self, external_id: str, data: Mapping[str, str]) -> Member:
        return _member(external_id, data)

    def accept_many(self, changes, *, chunk: int = 1000):
        """Stored as every versioned entity is; each e-mail is indexed for the link check."""
        changes = list(changes)
        results = super().accept_many(changes, chunk=chunk)
        pipe = self.r.pipeline(transaction=False)
        for (external_id, desired, _, _), result in zip(changes, results, strict=True):
            if result.stored and desired.get("email"):
                pipe.sadd(EMAIL_INDEX + str(desired["email"]).lower(), external_id)
        pipe.execute()
        return results

    def ensure_email_index(self) -> None:
        """Index every stored member's e-mail once (members stored before the index was)."""
        if self.r.exists(EMAIL_INDEX_BUILT):
            return
        pipe = self.r.pipeline(transaction=False)
        for member in self.all():
            if member.email:
                pipe.sadd(EMAIL_INDEX + member.email.lower(), member.external_id)
        pipe.set(EMAIL_INDEX_BUILT, "1")
        pipe.execute()

    def listing(self, email: str) -> list[Member]:
        """The members whose desired e-mail is `email` (case-insensitive)."""
        key = EMAIL_INDEX + email.lower()
        found = [m for m in self.many(sorted(self.r.smembers(key)))
                 if m.email.lower() == email.lower()]
        return found

    # -- one person, several sources --------------------------------------------------------

    def link(self, external_id: str, anchor_id: str) -> None:
        """This listing's account is the anchor's: the person proved both are theirs."""
        self._unindex([external_id])
        pipe = self.r.pipeline()
        pipe.hset(PREFIX + external_id, mapping={"account": "linked", "linked_to": anchor_id})
        pipe.hdel(PREFIX + external_id, "user_id", "username", "applied")
        pipe.sadd(LINKS + anchor_id, external_id)
        pipe.execute()

    def linked(self, anchor_id: str) -> list[Member]:
        """The listings linked to this anchor's account (the anchor itself not included)."""
        return [m for m in self.many(sorted(self.r.smembers(LINKS + anchor_id)))
                if m.linked_to == anchor_id]

    def unlink_all(self, anchor_id: str) -> list[str]:
        """Drop every link to the anchor's account (it was anonymized): each listing's
        next login creates a new account."""
        ids = sorted(self.r.smembers(LINKS + anchor_id))
        pipe = self.r.pipeline()
        for external_id in ids:
            pipe.hset(PREFIX + external_id, "account", "none")
            pipe.hdel(PREFIX + external_id, "linked_to", "applied")
        pipe.delete(LINKS + anchor_id)
        pipe.execute()
        return ids

    # -- the name the bridge asks for ------------------------------------------------

    def assign_username(self, member: Member) -> str:
        """The username to ask Discourse for: given, or derived once and then kept.

        Only a request: Discourse may give the account another name (taken, reserved),
        so this name never identifies an account.
        """
        if member.requested_username:
            return member.requested_username
        requested = member.desired.get("username")
        options = [requested] if requested else []
        options += usernames.candidates(member.desired.get("name") or "", member.external_id)
        key = PREFIX + member.external_id
        for option in options:
            owner = self.r.hsetnx(USERNAME_INDEX, option.lower(), member.external_id)
            if owner or self.r.hget(USERNAME_INDEX, option.lower()) == member.external_id:
                if self.r.hsetnx(key, "requested_username", option):
                    member.requested_username = option
                    return option
                # Someone else assigned one concurrently: theirs stands.
                self.r.hdel(USERNAME_INDEX, option.lower())
                member.requested_username = self.r.hget(key, "requested_username")
                return member.requested_username
        raise RuntimeError(f"no free username for member {member.external_id}")

    def requested_by(self, username: str) -> str | None:
        """The member who asked for this username, to keep requests apart."""
        return self.r.hget(USERNAME_INDEX, username.lower())

    # -- the forum account --------------------------------------------------------------

    def bind(self, external_id: str, *, user_id: int, username: str | None) -> None:
        """Discourse told us which account is this member's (by its own keys)."""
        fields: dict[str, Any] = {"account": "bound", "user_id": int(user_id)}
        if username:
            fields["username"] = username
        previous = self.r.hget(PREFIX + external_id, "user_id")
        pipe = self.r.pipeline()
        if previous and int(previous) != int(user_id):
            pipe.hdel(BY_USER_ID, previous)
        pipe.hset(PREFIX + external_id, mapping=fields)
        pipe.hset(BY_USER_ID, int(user_id), external_id)
        pipe.execute()

    def bind_many(self, accounts: Mapping[str, tuple[int, str | None]]) -> None:
        """`bind` for members that had no account: external id -> (user id, username)."""
        pipe = self.r.pipeline(transaction=False)
        for external_id, (user_id, username) in accounts.items():
            fields: dict[str, Any] = {"account": "bound", "user_id": int(user_id)}
            if username:
                fields["username"] = username
            pipe.hset(PREFIX + external_id, mapping=fields)
            pipe.hset(BY_USER_ID, int(user_id), external_id)
        pipe.execute()

    def bound_to(self, user_id: int) -> Member | None:
        """The member bound to this forum account, if any."""
        external_id = self.r.hget(BY_USER_ID, int(user_id))
        member = self.get(external_id) if external_id else None
        return member if member is not None and member.user_id == int(user_id) else None

    def record_login(self, external_id: str, *, at: float) -> int:
        """A login reply was issued; returns the login's sequence number.

        A bound member stays bound (the reply reaches the same account); anyone
        else is pending until the account is found by external id.
        """
        return int(self.r.eval(_RECORD_LOGIN, 1, PREFIX + external_id, f"{at:.3f}"))

    def record_no_account(self, external_ids: Iterable[str]) -> None:
        """Discourse has no account for these members (asked by external id or e-mail)."""
        ids = list(external_ids)
        self._unindex(ids)
        pipe = self.r.pipeline(transaction=False)
        for external_id in ids:
            pipe.hset(PREFIX + external_id, "account", "none")
            pipe.hdel(PREFIX + external_id, "user_id", "username")
        pipe.execute()

    def _unindex(self, external_ids: list[str]) -> None:
        pipe = self.r.pipeline(transaction=False)
        for external_id in external_ids:
            pipe.hget(PREFIX + external_id, "user_id")
        stale = [uid for uid in pipe.execute() if uid]
        if stale:
            self.r.hdel(BY_USER_ID, *stale)

    def record_applied(self, external_id: str, grants: Grants) -> None:
        self.record_applied_many({external_id: grants})

    def record_applied_many(self, grants: Mapping[str, Grants]) -> None:
        pipe = self.r.pipeline(transaction=False)
        for external_id, granted in grants.items():
            pipe.hset(PREFIX + external_id, "applied", json.dumps(applied_state(granted)))
        pipe.execute()

    def record_erased(self, external_id: str) -> None:
        """After anonymization the forum account is no longer this member's."""
        self._unindex([external_id])
        self.r.hset(PREFIX + external_id, mapping={"account": "erased"})
        self.r.hdel(PREFIX + external_id, "user_id", "username", "applied")

    def forget_personal_data(self, member: Member) -> bool:
        """An offboarded member keeps only what refuses a replayed old version.

        E-mail, name, roles, attributes and the username asked for are dropped
        once the forum side is done (for an erasure request, they must go);
        the version stays, so an older change is still acknowledged and ignored.
        Nothing happens if a newer version arrived meanwhile.
        """
        tombstone = {"active": False}
        if member.desired.get("erase"):
            tombstone["erase"] = True
        done = self.r.eval(_FORGET, 2, PREFIX + member.external_id, USERNAME_INDEX,
                           str(member.version),
                           json.dumps(tombstone, ensure_ascii=False, sort_keys=True))
        return bool(done)


def applied_state(grants: Grants) -> dict[str, Any]:
    """Grants as kept in `Member.applied`: what the bridge last put on the forum."""
    return {"groups": sorted(grants.groups), "admin": grants.admin, "moderator": grants.moderator}


def _member(external_id: str, data: Mapping[str, str]) -> Member:
    user_id, login_at = data.get("user_id"), data.get("login_at")
    return Member(
        external_id=external_id,
        desired=json.loads(data.get("desired", "{}")),
        version=int(data.get("version", 0)),
        requested_username=data.get("requested_username"),
        account=data.get("account", "unknown"),
        user_id=int(user_id) if user_id else None,
        username=data.get("username"),
        applied=json.loads(data["applied"]) if data.get("applied") else {},
        last_error=data.get("last_error"),
        removed=data.get("removed") == "1",
        login_at=float(login_at) if login_at else None,
        linked_to=data.get("linked_to") or None,
    )


def union(grants: Iterable[Grants]) -> Grants:
    """What several listings of one person grant together."""
    grants = list(grants)
    return Grants(groups=frozenset().union(*(g.groups for g in grants)),
                  admin=any(g.admin for g in grants), moderator=any(g.moderator for g in grants))


def connect_payload(
    member: Member,
    roles: RolesConfig,
    *,
    username: str,
    suppress_welcome_message: bool,
    nonce: str | None = None,
    return_sso_url: str | None = None,
    grants: Grants | None = None,
    external_id: str | None = None,
) -> dict[str, Any]:
    """The DiscourseConnect fields for an active member (login reply and `sync_sso`).

    Groups go as add_/remove_groups restricted to the managed groups, so groups
    the bridge does not manage are never touched; staff flags are always sent,
    so a revoked role is revoked on the forum too. For a linked account,
    `grants` is what all its listings grant and `external_id` its anchor's.
    """
    grants = member.grants(roles) if grants is None else grants
    payload: dict[str, Any] = {
        "nonce": nonce,
        "return_sso_url": return_sso_url,
        "external_id": external_id or member.external_id,
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
