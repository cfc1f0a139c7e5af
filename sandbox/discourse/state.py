"""In-memory forum state. All access goes through Store under its lock."""

from __future__ import annotations

import itertools
import pickle
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import names

SYSTEM_USER_ID = -1
FIRST_CUSTOM_GROUP_ID = 41
UNCATEGORIZED_ID = 1

# Discourse's automatic groups (Group::AUTO_GROUPS); "everyone" (0) is not listed.
AUTO_GROUPS = {
    "admins": 1,
    "moderators": 2,
    "staff": 3,
    "trust_level_0": 10,
    "trust_level_1": 11,
    "trust_level_2": 12,
    "trust_level_3": 13,
    "trust_level_4": 14,
}


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    stamp = datetime.fromtimestamp(ts, tz=UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


@dataclass
class User:
    id: int
    username: str
    email: str
    name: str | None
    created_at: float
    external_id: str | None = None
    admin: bool = False
    moderator: bool = False
    active: bool = True
    title: str | None = None
    locale: str | None = None
    suspended_at: float | None = None
    suspended_till: float | None = None
    suspend_reason: str | None = None
    auth_generation: int = 0
    logged_out_count: int = 0
    anonymized: bool = False
    trust_level: int = 1
    custom_fields: dict[str, str] = field(default_factory=dict)
    sso_last_payload: str | None = None

    @property
    def staff(self) -> bool:
        return self.admin or self.moderator

    def is_suspended(self, now: float) -> bool:
        return self.suspended_till is not None and self.suspended_till > now


@dataclass
class Group:
    id: int
    name: str
    full_name: str | None = None
    automatic: bool = False
    visibility_level: int = 0
    members_visibility_level: int = 0
    mentionable_level: int = 0
    messageable_level: int = 0
    title: str | None = None
    bio_raw: str | None = None
    primary_group: bool = False
    public_admission: bool = False
    public_exit: bool = False
    allow_membership_requests: bool = False
    default_notification_level: int = 3
    automatic_membership_email_domains: str | None = None
    grant_trust_level: int | None = None
    flair_icon: str | None = None
    flair_bg_color: str | None = None
    flair_color: str | None = None
    members: dict[int, float] = field(default_factory=dict)  # user id -> added_at
    owners: set[int] = field(default_factory=set)


@dataclass
class Category:
    id: int
    name: str
    slug: str
    color: str = "0088CC"
    text_color: str = "FFFFFF"
    parent_category_id: int | None = None
    permissions: dict[str, int] = field(default_factory=dict)
    position: int = 0
    description: str | None = None


@dataclass
class Revision:
    number: int
    edit_reason: str | None
    changes: dict[str, Any]
    at: float


@dataclass
class Post:
    id: int
    topic_id: int
    post_number: int
    user_id: int
    raw: str
    created_at: float
    updated_at: float
    version: int = 1
    edit_reason: str | None = None
    revisions: list[Revision] = field(default_factory=list)
    deleted_at: float | None = None


@dataclass
class Topic:
    id: int
    title: str
    slug: str
    category_id: int
    user_id: int
    created_at: float
    external_id: str | None = None
    tags: list[str] = field(default_factory=list)
    closed: bool = False
    archived: bool = False
    visible: bool = True
    pinned_at: float | None = None
    pinned_globally: bool = False
    pinned_until: str | None = None
    deleted_at: float | None = None
    deleted_by: int | None = None
    bumped_at: float = 0.0
    post_ids: list[int] = field(default_factory=list)


class Store:
    def __init__(self, clock) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        #: Called with (event, payload) for the changes Discourse sends webhooks about.
        self.listener: Callable[[str, dict[str, Any]], None] | None = None
        self.reset()

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        if self.listener is not None:
            self.listener(event, payload)

    # --- lifecycle -----------------------------------------------------------------
    def reset(self) -> None:
        with self.lock:
            self.users: dict[int, User] = {}
            self.groups: dict[int, Group] = {}
            self.categories: dict[int, Category] = {}
            self.topics: dict[int, Topic] = {}
            self.posts: dict[int, Post] = {}
            self._user_ids = itertools.count(1)
            self._group_ids = itertools.count(FIRST_CUSTOM_GROUP_ID)
            self._category_ids = itertools.count(UNCATEGORIZED_ID + 1)
            self._topic_ids = itertools.count(1)
            self._post_ids = itertools.count(1)
            now = self.clock()
            self.users[SYSTEM_USER_ID] = User(
                id=SYSTEM_USER_ID,
                username="system",
                email="no_email",
                name="system",
                created_at=now,
                admin=True,
                moderator=True,
                trust_level=4,
            )
            for name, gid in AUTO_GROUPS.items():
                self.groups[gid] = Group(
                    id=gid, name=name, automatic=True, visibility_level=1 if gid < 10 else 0
                )
            self.categories[UNCATEGORIZED_ID] = Category(
                id=UNCATEGORIZED_ID,
                name="Uncategorized",
                slug="uncategorized",
                color="0088CC",
                text_color="FFFFFF",
            )
            self.memo: dict[str, tuple[float, int, Any]] = {}

    # --- persistence (so the `make run` forum survives a restart, as a real one does) ---
    _PERSISTED = ("users", "groups", "categories", "topics", "posts")

    def snapshot(self) -> bytes:
        with self.lock:
            return pickle.dumps({name: getattr(self, name) for name in self._PERSISTED})

    def restore(self, data: bytes) -> None:
        """Load a snapshot this sandbox wrote itself (var/, never data from elsewhere)."""
        saved = pickle.loads(data)  # noqa: S301 - our own file, written by snapshot()
        with self.lock:
            for name in self._PERSISTED:
                setattr(self, name, saved[name])
            self._user_ids = itertools.count(max(self.users) + 1)
            self._group_ids = itertools.count(max(max(self.groups) + 1, FIRST_CUSTOM_GROUP_ID))
            self._category_ids = itertools.count(max(self.categories) + 1)
            self._topic_ids = itertools.count(max(self.topics, default=0) + 1)
            self._post_ids = itertools.count(max(self.posts, default=0) + 1)

    # --- users -----------------------------------------------------------------------
    def user_by_id(self, user_id: int) -> User | None:
        return self.users.get(user_id)

    def user_by_username(self, username: str | None) -> User | None:
        if not username:
            return None
        lowered = username.lower()
        return next((u for u in self.users.values() if u.username.lower() == lowered), None)

    def user_by_email(self, email: str | None) -> User | None:
        if not email:
            return None
        lowered = email.strip().lower()
        return next((u for u in self.users.values() if u.email.lower() == lowered), None)

    def user_by_external_id(self, external_id: str | None) -> User | None:
        if external_id is None:
            return None
        return next((u for u in self.users.values() if u.external_id == external_id), None)

    def username_taken(self, username: str) -> bool:
        lowered = username.lower()
        return self.user_by_username(username) is not None or any(
            g.name.lower() == lowered for g in self.groups.values()
        )

    def create_user(
        self,
        *,
        username: str,
        email: str,
        name: str | None,
        external_id: str | None = None,
        admin: bool = False,
        moderator: bool = False,
        active: bool = True,
    ) -> User:
        user = User(
            id=next(self._user_ids),
            username=username,
            email=email,
            name=name,
            created_at=self.clock(),
            external_id=external_id,
            admin=admin,
            moderator=moderator,
            active=active,
        )
        self.users[user.id] = user
        self.emit("user_created", webhook_user(user))
        return user

    def suggest_username(self, *candidates: str | None) -> str:
        return names.suggest(list(candidates), self.username_taken)

    def human_users(self) -> list[User]:
        return [u for u in self.users.values() if u.id > 0]

    # --- groups ----------------------------------------------------------------------
    def group_by_name(self, name: str | None) -> Group | None:
        if not name:
            return None
        lowered = name.lower()
        return next((g for g in self.groups.values() if g.name.lower() == lowered), None)

    def group_member_ids(self, group: Group) -> list[int]:
        """Members; automatic groups are derived from user flags like Discourse keeps them."""
        if not group.automatic:
            return list(group.members)
        humans = self.human_users()
        if group.name == "admins":
            return [u.id for u in humans if u.admin]
        if group.name == "moderators":
            return [u.id for u in humans if u.moderator]
        if group.name == "staff":
            return [u.id for u in humans if u.staff]
        level = int(group.name.rsplit("_", 1)[1])
        return [u.id for u in humans if u.trust_level >= level]

    def groups_of(self, user: User) -> list[Group]:
        return sorted(
            (g for g in self.groups.values() if user.id in self.group_member_ids(g)),
            key=lambda g: g.id,
        )

    def new_group_id(self) -> int:
        return next(self._group_ids)

    def add_member(self, group: Group, user: User) -> bool:
        if group.automatic or user.id in group.members:
            return False
        group.members[user.id] = self.clock()
        self.emit("user_added_to_group", {"group_id": group.id, "user_id": user.id})
        return True

    def remove_member(self, group: Group, user: User) -> bool:
        if group.automatic or user.id not in group.members:
            return False
        del group.members[user.id]
        group.owners.discard(user.id)
        self.emit("user_removed_from_group", {"group_id": group.id, "user_id": user.id})
        return True

    # --- categories ------------------------------------------------------------------
    def new_category_id(self) -> int:
        return next(self._category_ids)

    def category_by_name(self, name: str) -> Category | None:
        lowered = name.strip().lower()
        return next((c for c in self.categories.values() if c.name.lower() == lowered), None)

    # --- topics / posts --------------------------------------------------------------
    def new_topic_id(self) -> int:
        return next(self._topic_ids)

    def new_post_id(self) -> int:
        return next(self._post_ids)

    def live_topic(self, topic_id: int) -> Topic | None:
        topic = self.topics.get(topic_id)
        return topic if topic and topic.deleted_at is None else None

    def topic_by_external_id(self, external_id: str, *, with_deleted: bool) -> Topic | None:
        for topic in self.topics.values():
            if topic.external_id is None:
                continue
            if with_deleted:
                if topic.external_id.lower() == external_id.lower():
                    return topic
            elif topic.deleted_at is None and topic.external_id == external_id:
                return topic
        return None

    def first_post(self, topic: Topic) -> Post:
        return self.posts[topic.post_ids[0]]


def webhook_user(user: User) -> dict[str, Any]:
    """WebHookUserSerializer's fields the bridge reads (an admin sees the external id)."""
    return {"id": user.id, "username": user.username, "name": user.name,
            "external_id": user.external_id, "admin": user.admin, "moderator": user.moderator}
