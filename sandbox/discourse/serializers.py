"""JSON shapes of Discourse serializers (the keys the bridge and the spec rely on).

Keys the OpenAPI response schemas require but carry nothing here are filled with
type defaults by ``spec.fill_response``.
"""

from __future__ import annotations

import html
from typing import Any

from .cooking import cook
from .state import Category, Group, Post, Store, Topic, User, iso

AVATAR = "/letter_avatar_proxy/v4/letter/{initial}/0088cc/{{size}}.png"


def avatar(user: User) -> str:
    return AVATAR.format(initial=(user.username[:1] or "u").lower())


def basic_user(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "avatar_template": avatar(user),
    }


def group_basic(store: Store, group: Group) -> dict[str, Any]:
    return {
        "id": group.id,
        "automatic": group.automatic,
        "name": group.name,
        "display_name": group.name,
        "user_count": len(store.group_member_ids(group)),
        "mentionable_level": group.mentionable_level,
        "messageable_level": group.messageable_level,
        "visibility_level": group.visibility_level,
        "primary_group": group.primary_group,
        "title": group.title,
        "grant_trust_level": group.grant_trust_level,
        "incoming_email": None,
        "has_messages": False,
        "flair_url": group.flair_icon,
        "flair_bg_color": group.flair_bg_color,
        "flair_color": group.flair_color,
        "bio_raw": group.bio_raw,
        "bio_cooked": cook(group.bio_raw) if group.bio_raw else None,
        "bio_excerpt": group.bio_raw,
        "public_admission": group.public_admission,
        "public_exit": group.public_exit,
        "allow_membership_requests": group.allow_membership_requests,
        "full_name": group.full_name,
        "default_notification_level": group.default_notification_level,
        "membership_request_template": None,
        "members_visibility_level": group.members_visibility_level,
        "can_see_members": True,
        "can_admin_group": True,
        "publish_read_state": False,
    }


def group_detail(store: Store, group: Group, viewer: User | None) -> dict[str, Any]:
    data = group_basic(store, group)
    is_member = viewer is not None and viewer.id in store.group_member_ids(group)
    data.update(
        {
            "is_group_user": is_member,
            "is_group_owner": viewer is not None and viewer.id in group.owners,
            "is_group_owner_display": viewer is not None and viewer.id in group.owners,
            "mentionable": group.mentionable_level == 99,
            "messageable": False,
            "automatic_membership_email_domains": group.automatic_membership_email_domains,
            "message_count": 0,
            "allow_unknown_sender_topic_replies": False,
            "watching_category_ids": [],
            "tracking_category_ids": [],
            "watching_first_post_category_ids": [],
            "regular_category_ids": [],
            "muted_category_ids": [],
        }
    )
    return data


def group_member(store: Store, group: Group, user: User) -> dict[str, Any]:
    added = group.members.get(user.id, user.created_at)
    return {
        **basic_user(user),
        "title": user.title,
        "last_posted_at": iso(user.created_at),
        "last_seen_at": iso(user.created_at),
        "added_at": iso(added),
        "timezone": "Europe/Moscow",
    }


def sso_record(user: User) -> dict[str, Any] | None:
    if user.external_id is None:
        return None
    return {
        "user_id": user.id,
        "external_id": user.external_id,
        "last_payload": user.sso_last_payload or "",
        "external_username": user.username,
        "external_email": user.email,
        "external_name": user.name,
    }


def admin_user(store: Store, user: User, now: float) -> dict[str, Any]:
    """AdminDetailedUserSerializer (GET /admin/users/{id}.json, sync_sso)."""
    groups = store.groups_of(user)
    return {
        **basic_user(user),
        "email": user.email,
        "secondary_emails": [],
        "active": user.active,
        "admin": user.admin,
        "moderator": user.moderator,
        "staff": user.staff,
        "last_seen_at": None,
        "last_emailed_at": None,
        "created_at": iso(user.created_at),
        "trust_level": user.trust_level,
        "title": user.title,
        "locale": user.locale,
        "staged": False,
        "suspended_at": iso(user.suspended_at) if user.is_suspended(now) else None,
        "suspended_till": iso(user.suspended_till) if user.is_suspended(now) else None,
        "suspend_reason": user.suspend_reason if user.is_suspended(now) else None,
        "full_suspend_reason": user.suspend_reason if user.is_suspended(now) else None,
        "suspended": user.is_suspended(now),
        "silenced": False,
        "can_grant_admin": not user.admin,
        "can_revoke_admin": user.admin,
        "can_grant_moderation": not user.moderator,
        "can_revoke_moderation": user.moderator,
        "can_activate": not user.active,
        "can_deactivate": user.active,
        "can_be_anonymized": not user.admin,
        "can_delete_sso_record": user.external_id is not None,
        "ip_address": "127.0.0.1",
        "registration_ip_address": None,
        "single_sign_on_record": sso_record(user),
        "external_ids": {"discourse_connect": user.external_id} if user.external_id else {},
        "approved_by": None,
        "suspended_by": None,
        "silenced_by": None,
        "primary_group_id": None,
        "groups": [group_basic(store, g) for g in groups],
        "custom_fields": dict(user.custom_fields),
    }


def public_user(store: Store, user: User, viewer: User | None) -> dict[str, Any]:
    """UserSerializer as seen by GET /u/by-external/{id}.json."""
    groups = store.groups_of(user)
    data = {
        **basic_user(user),
        "created_at": iso(user.created_at),
        "last_posted_at": None,
        "last_seen_at": None,
        "trust_level": user.trust_level,
        "moderator": user.moderator,
        "admin": user.admin,
        "title": user.title,
        "locale": user.locale,
        "custom_fields": dict(user.custom_fields),
        "system_avatar_template": avatar(user),
        "active": user.active,
        "groups": [group_basic(store, g) for g in groups],
        "group_users": [
            {"group_id": g.id, "user_id": user.id, "notification_level": 3} for g in groups
        ],
        "user_option": {"user_id": user.id},
        "user_notification_schedule": {"enabled": False},
    }
    del viewer  # the document's user object has no email/external_id keys
    return data


def category(store: Store, cat: Category) -> dict[str, Any]:
    topics = [t for t in store.topics.values() if t.category_id == cat.id and t.deleted_at is None]
    children = [c.id for c in store.categories.values() if c.parent_category_id == cat.id]
    return {
        "id": cat.id,
        "name": cat.name,
        "color": cat.color,
        "text_color": cat.text_color,
        "style_type": "square",
        "emoji": None,
        "icon": None,
        "slug": cat.slug,
        "topic_count": len(topics),
        "post_count": len(topics),
        "position": cat.position,
        "description": cat.description,
        "description_text": cat.description,
        "description_excerpt": cat.description,
        "topic_url": None,
        "read_restricted": bool(cat.permissions) and "everyone" not in cat.permissions,
        "permission": 1,
        "notification_level": 1,
        "can_edit": True,
        "has_children": bool(children),
        "subcategory_count": len(children) or None,
        "show_subcategory_list": False,
        "num_featured_topics": 3,
        "subcategory_list_style": "rows_with_featured_topics",
        "default_top_period": "all",
        "default_list_filter": "all",
        "parent_category_id": cat.parent_category_id,
        "subcategory_ids": children,
        "group_permissions": [
            {
                "permission_type": level,
                "group_name": name,
                "group_id": (store.group_by_name(name).id if store.group_by_name(name) else 0),
            }
            for name, level in (cat.permissions or {"everyone": 1}).items()
        ],
        "custom_fields": {},
        "available_groups": [],
        "can_delete": False,
        "allow_badges": True,
        "search_priority": 0,
    }


def post(store: Store, p: Post, *, include_raw: bool = True) -> dict[str, Any]:
    topic = store.topics[p.topic_id]
    author = store.users.get(p.user_id)
    data: dict[str, Any] = {
        "id": p.id,
        "name": author.name if author else None,
        "username": author.username if author else "system",
        "avatar_template": avatar(author) if author else "",
        "created_at": iso(p.created_at),
        "cooked": cook(p.raw),
        "post_number": p.post_number,
        "post_type": 1,
        "posts_count": len(topic.post_ids),
        "updated_at": iso(p.updated_at),
        "reply_count": 0,
        "reply_to_post_number": None,
        "quote_count": 0,
        "incoming_link_count": 0,
        "reads": 1,
        "readers_count": 0,
        "score": 0,
        "yours": True,
        "topic_id": topic.id,
        "topic_slug": topic.slug,
        "topic_title": topic.title,
        "display_username": author.name if author else None,
        "primary_group_name": None,
        "flair_name": None,
        "flair_url": None,
        "flair_bg_color": None,
        "flair_color": None,
        "version": p.version,
        "can_edit": True,
        "can_delete": p.post_number != 1,
        "can_recover": False,
        "can_wiki": True,
        "user_title": author.title if author else None,
        "bookmarked": False,
        "actions_summary": [],
        "moderator": bool(author and author.moderator),
        "admin": bool(author and author.admin),
        "staff": bool(author and author.staff),
        "user_id": p.user_id,
        "draft_sequence": 0,
        "hidden": False,
        "trust_level": author.trust_level if author else 0,
        "deleted_at": iso(p.deleted_at),
        "user_deleted": False,
        "edit_reason": p.edit_reason,
        "can_view_edit_history": True,
        "wiki": False,
        "reviewable_id": 0,
        "reviewable_score_count": 0,
        "reviewable_score_pending_count": 0,
        "post_url": f"/t/{topic.slug}/{topic.id}/{p.post_number}",
    }
    if include_raw:
        data["raw"] = p.raw
    return data


def topic_view(store: Store, t: Topic, *, include_raw: bool) -> dict[str, Any]:
    posts = [store.posts[pid] for pid in t.post_ids if store.posts[pid].deleted_at is None]
    cat = store.categories.get(t.category_id)
    return {
        "post_stream": {
            "posts": [post(store, p, include_raw=include_raw) for p in posts],
            "stream": [p.id for p in posts],
        },
        "timeline_lookup": [],
        "suggested_topics": [],
        # current Discourse (and the document) sends tag objects here
        "tags": [{"id": _tag_id(name), "name": name, "slug": name} for name in t.tags],
        "tags_descriptions": {},
        "id": t.id,
        "title": t.title,
        "fancy_title": html.escape(t.title),
        "posts_count": len(posts),
        "created_at": iso(t.created_at),
        "views": 0,
        "reply_count": 0,
        "like_count": 0,
        "last_posted_at": iso(t.bumped_at),
        "visible": t.visible,
        "closed": t.closed,
        "archived": t.archived,
        "has_summary": False,
        "archetype": "regular",
        "slug": t.slug,
        "category_id": t.category_id,
        "word_count": sum(len(p.raw.split()) for p in posts),
        "deleted_at": iso(t.deleted_at),
        "user_id": t.user_id,
        "featured_link": None,
        "pinned_globally": t.pinned_globally,
        "pinned_at": iso(t.pinned_at),
        "pinned_until": t.pinned_until,
        "image_url": None,
        "slow_mode_seconds": 0,
        "draft": None,
        "draft_key": f"topic_{t.id}",
        "draft_sequence": 0,
        "unpinned": None,
        "pinned": t.pinned_at is not None,
        "highest_post_number": len(t.post_ids),
        "deleted_by": None,
        "has_deleted": False,
        "actions_summary": [],
        "chunk_size": 20,
        "bookmarked": False,
        "bookmarks": [],
        "topic_timer": None,
        "message_bus_last_id": 0,
        "participant_count": 1,
        "show_read_indicator": False,
        "thumbnails": None,
        "slow_mode_enabled_until": None,
        "external_id": t.external_id,
        "category_slug": cat.slug if cat else None,
        "details": {
            "can_edit": True,
            "created_by": basic_user(store.users[t.user_id]) if t.user_id in store.users else None,
        },
    }


def _tag_id(name: str) -> int:
    return int.from_bytes(name.encode()[:6].ljust(6, b"\0"), "big") % 1_000_000


def basic_topic(t: Topic, posts_count: int) -> dict[str, Any]:
    return {
        "id": t.id,
        "title": t.title,
        "fancy_title": html.escape(t.title),
        "slug": t.slug,
        "posts_count": posts_count,
    }


def admin_list_user(user: User, *, show_emails: bool) -> dict[str, Any]:
    """AdminUserListSerializer (GET /admin/users/list/{flag}.json)."""
    data = {
        **basic_user(user),
        "active": user.active,
        "admin": user.admin,
        "moderator": user.moderator,
        "last_seen_at": None,
        "last_emailed_at": None,
        "created_at": iso(user.created_at),
        "last_seen_age": None,
        "last_emailed_age": None,
        "created_at_age": 0,
        "trust_level": user.trust_level,
        "manual_locked_trust_level": None,
        "title": user.title,
        "time_read": 0,
        "staged": False,
        "days_visited": 0,
        "posts_read_count": 0,
        "topics_entered": 0,
        "post_count": 0,
    }
    if show_emails:
        data["email"] = user.email
        data["secondary_emails"] = []
    return data
