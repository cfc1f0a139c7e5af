"""Every known gap between the Discourse OpenAPI document and Discourse itself.

One place, one entry per gap, each with the reason and where it was read
(REFERENCE = /work/shared/discourse/REFERENCE.md, source = discourse/discourse).
`spec.validate_request` applies these before asking openapi-core, so a request
is only rejected for what real Discourse would also reject or misread.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # regex over the request path
    reason: str
    source: str

    def matches(self, method: str, path: str) -> bool:
        return self.method == method.upper() and re.fullmatch(self.path, path) is not None


# --- 1. Endpoints Discourse has but the OpenAPI document does not describe ----------
NOT_IN_SPEC: tuple[Route, ...] = (
    Route(
        "POST",
        r"/admin/users/sync_sso(\.json)?",
        "sync_sso is an admin endpoint missing from the document (form-encoded sso, sig)",
        "REFERENCE §2; app/controllers/admin/users_controller.rb#sync_sso",
    ),
    Route(
        "PUT",
        r"/admin/users/\d+/(grant|revoke)_(admin|moderation)(\.json)?",
        "staff-flag endpoints are not in the document",
        "REFERENCE §3; admin/users_controller.rb#grant_admin/revoke_admin/grant_moderation",
    ),
    Route(
        "PUT",
        r"/admin/users/\d+/unsuspend(\.json)?",
        "unsuspend is not in the document",
        "REFERENCE §3; admin/users_controller.rb#unsuspend",
    ),
    Route(
        "GET",
        r"/t/[^/]+/\d+\.json",
        "slugged topic URL is where /t/external_id/{id}.json redirects; the document only "
        "lists /t/{id}.json",
        "REFERENCE §5; topics_controller.rb#show_by_external_id",
    ),
    Route(
        "GET",
        r"/admin/api/web_hooks\.json",
        "the webhooks admin API is not in the document",
        "REFERENCE §10; admin/web_hooks_controller.rb#index",
    ),
    Route(
        "POST",
        r"/admin/api/web_hooks\.json",
        "the webhooks admin API is not in the document (web_hook[...] fields)",
        "REFERENCE §10; admin/web_hooks_controller.rb#create",
    ),
    Route(
        "PUT",
        r"/admin/api/web_hooks/\d+\.json",
        "the webhooks admin API is not in the document (web_hook[...] fields)",
        "REFERENCE §10; admin/web_hooks_controller.rb#update",
    ),
    Route(
        "GET",
        r"/admin/site_settings\.json",
        "admin site settings are not in the document",
        "admin/site_settings_controller.rb#index",
    ),
    Route(
        "GET",
        r"/about\.json",
        "about page JSON is not in the document",
        "about_controller.rb#index",
    ),
    Route(
        "GET",
        r"/session/current\.json",
        "current session user is not in the document",
        "session_controller.rb#current",
    ),
)

# --- 2. Operations whose responses are not checked against the document ------------
RESPONSE_UNCHECKED: tuple[Route, ...] = (
    Route(
        "GET",
        r"/site\.json",
        "the sandbox serves a minimal /site.json for health checks only",
        "sandbox choice",
    ),
)


# --- 3. Body fields Discourse reads that the document omits -------------------------
def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_int(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, str) and value.isdigit()
    )


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool) or value in ("true", "false")


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_csv_or_int(value: Any) -> bool:
    return _is_str(value) or _is_int(value)


@dataclass(frozen=True)
class ExtraFields:
    method: str
    template: str  # OpenAPI path template
    container: tuple[str, ...]  # where the fields sit in the body ('' = top level)
    fields: dict[str, Callable[[Any], bool]]
    reason: str
    source: str


EXTRA_BODY_FIELDS: tuple[ExtraFields, ...] = (
    ExtraFields(
        "POST",
        "/posts.json",
        (),
        {"tags": _is_str_list, "skip_validations": _is_bool, "visible": _is_bool},
        "the create-post body accepts tags[], skip_validations and visible",
        "REFERENCE §5, §13; posts_controller.rb#create (permitted params)",
    ),
    ExtraFields(
        "PUT",
        "/posts/{id}.json",
        (),
        {"title": _is_str},
        "editing the first post also takes a top-level title",
        "REFERENCE §5; posts_controller.rb#update",
    ),
    ExtraFields(
        "PUT",
        "/posts/{id}.json",
        ("post",),
        {"original_text": _is_str, "category_id": _is_int},
        "post[original_text] (409 on conflict) and post[category_id] are read",
        "REFERENCE §5; posts_controller.rb#update",
    ),
    ExtraFields(
        "PUT",
        "/t/-/{id}.json",
        (),
        {"title": _is_str, "category_id": _is_int, "tags": _is_str_list},
        "the controller reads top-level title/category_id/tags[]; the document's "
        "`topic` wrapper is ignored by Discourse",
        "REFERENCE §5, §13; topics_controller.rb#update",
    ),
    ExtraFields(
        "PUT",
        "/groups/{id}/members.json",
        (),
        {
            "user_id": _is_csv_or_int,
            "user_ids": _is_csv_or_int,
            "user_emails": _is_str,
            "emails": _is_str,
            "notify_users": _is_bool,
        },
        "users_from_params also takes user_id(s)/user_emails; emails invites",
        "REFERENCE §4; groups_controller.rb#add_members/users_from_params",
    ),
    ExtraFields(
        "DELETE",
        "/groups/{id}/members.json",
        (),
        {
            "user_id": _is_csv_or_int,
            "user_ids": _is_csv_or_int,
            "user_emails": _is_str,
            "username": _is_str,
            "user_email": _is_str,
        },
        "users_from_params also takes user_id(s)/user_emails (+ singular aliases)",
        "REFERENCE §4; groups_controller.rb#remove_member",
    ),
    ExtraFields(
        "POST",
        "/admin/groups.json",
        ("group",),
        {
            "title": _is_str,
            "members_visibility_level": _is_int,
            "mentionable_level": _is_int,
            "messageable_level": _is_int,
            "grant_trust_level": _is_int,
            "flair_color": _is_str,
            "allow_membership_requests": _is_bool,
            "membership_request_template": _is_str,
        },
        "group_params permits these attributes for staff",
        "REFERENCE §4; groups_controller.rb#group_params",
    ),
    ExtraFields(
        "PUT",
        "/groups/{id}.json",
        ("group",),
        {
            "title": _is_str,
            "members_visibility_level": _is_int,
            "mentionable_level": _is_int,
            "messageable_level": _is_int,
            "flair_color": _is_str,
        },
        "update takes the same group_params as create",
        "REFERENCE §4; groups_controller.rb#update/group_params",
    ),
    ExtraFields(
        "PUT",
        "/admin/users/{id}/suspend.json",
        (),
        {"post_id": _is_int, "other_user_ids": lambda v: isinstance(v, list)},
        "suspend also reads post_id and other_user_ids",
        "REFERENCE §3; admin/users_controller.rb#suspend",
    ),
    ExtraFields(
        "PUT",
        "/admin/users/{id}/anonymize.json",
        (),
        {"anonymize_ip": _is_str},
        "anonymize reads anonymize_ip",
        "REFERENCE §3; admin/users_controller.rb",
    ),
)

# --- 4. Form-encoded bodies ----------------------------------------------------------
FORM_BODIES = (
    "Discourse (Rails) accepts application/x-www-form-urlencoded bodies everywhere; the "
    "document lists only application/json, so a form body is not schema-checked (its "
    "values are all strings). sync_sso is sent form-encoded (REFERENCE §2)."
)

# --- 5. Requests where Discourse's own failure comes first ---------------------------
ARRAY_WHERE_CSV = (
    "usernames / user_emails as a JSON array: Ruby calls split on an Array and Discourse "
    "answers 500 (REFERENCE §13). The sandbox records the spec violation and answers 500 "
    "like Discourse instead of the sandbox's 400."
)
_CSV_FIELDS = ("usernames", "user_emails", "username", "user_email")


def discourse_fails_first(method: str, template: str, body: dict[str, Any]) -> bool:
    if template == "/groups/{id}/members.json" and method.upper() in ("PUT", "DELETE"):
        return any(isinstance(body.get(k), list) for k in _CSV_FIELDS)
    return False


# --- 6. Responses: fields the document marks non-null are null in practice ----------
NULLABLE_IN_PRACTICE = (
    "last_seen_at, name, featured_topic, … are null in practice although the document "
    "marks them non-null (REFERENCE §13). The sandbox fills them with non-null defaults "
    "so its answers satisfy the document; clients must still parse defensively."
)


# --- 7. Response fields whose documented type is wrong -----------------------------
RESPONSE_FIELD_GAPS: dict[str, tuple[str, ...]] = {
    # AdminDetailedUserSerializer sends an object (external_id, last_payload, ...);
    # the document types it string|null. Source: admin_detailed_user_serializer.rb,
    # single_sign_on_record_serializer.rb.
    "/admin/users/{id}.json": ("single_sign_on_record",),
}


# Keys Discourse sends that a response schema with additionalProperties: false omits.
# `raw` in post_stream posts with ?include_raw=1 (topics_controller.rb#show,
# TopicViewSerializer → PostSerializer#include_raw?).
RESPONSE_EXTRA_KEYS: dict[str, tuple[str, ...]] = {"/t/{id}.json": ("raw",)}


def response_error_known(template: str, error: str) -> bool:
    fields = RESPONSE_FIELD_GAPS.get(template, ())
    extras = RESPONSE_EXTRA_KEYS.get(template, ())
    parts = [p.strip() for p in error.split(":", 1)[-1].split(";") if p.strip()]

    def known(part: str) -> bool:
        if any(part.startswith(f) for f in fields):
            return True
        return any(f"('{key}' was unexpected)" in part for key in extras)

    return bool(parts) and all(known(p) for p in parts)


# --- helpers used by spec.py --------------------------------------------------------
def not_in_spec(method: str, path: str) -> bool:
    return any(route.matches(method, path) for route in NOT_IN_SPEC)


def response_unchecked(method: str, path: str) -> bool:
    return any(route.matches(method, path) for route in RESPONSE_UNCHECKED)


def prepare_body(method: str, template: str, body: dict[str, Any]) -> tuple[Any, list[str]]:
    """Strip the extra fields Discourse reads (after checking their type)."""
    prepared = copy.deepcopy(body)
    errors: list[str] = []
    for gap in EXTRA_BODY_FIELDS:
        if gap.method != method.upper() or gap.template != template:
            continue
        node: Any = prepared
        for key in gap.container:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        for name, check in gap.fields.items():
            if name in node:
                value = node.pop(name)
                if not check(value):
                    where = "/".join((*gap.container, name))
                    errors.append(f"gap field {where}: unexpected value {value!r}")
    return prepared, errors
