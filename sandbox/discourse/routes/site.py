"""Site-level read endpoints used for health checks and `flask doctor`."""

from __future__ import annotations

from flask import Blueprint, request

from ..context import api_view, require_admin, sandbox

bp = Blueprint("site", __name__)


def _setting_rows() -> list[dict[str, str]]:
    settings = sandbox().settings
    values = {
        "enable_discourse_connect": settings.enable_discourse_connect,
        "discourse_connect_url": settings.connect_url or "",
        "discourse_connect_overrides_groups": settings.discourse_connect_overrides_groups,
        "auth_overrides_email": settings.auth_overrides_email,
        "auth_overrides_username": settings.auth_overrides_username,
        "auth_overrides_name": settings.auth_overrides_name,
        "logout_redirect": settings.logout_redirect or "",
        "allow_duplicate_topic_titles": settings.allow_duplicate_topic_titles,
        "allow_uncategorized_topics": False,
        "min_first_post_length": 20,
        "max_topic_title_length": 255,
        "min_topic_title_length": 15,
        "max_username_length": 20,
        "min_username_length": 3,
        "unicode_usernames": False,
        "tagging_enabled": True,
        "max_tags_per_topic": 5,
        "discourse_connect_secret": "",  # secrets are never echoed
    }
    rows = []
    for key, value in values.items():
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        rows.append(
            {
                "setting": key,
                "value": text,
                "category": "login",
                "type": "bool" if isinstance(value, bool) else "string",
            }
        )
    return rows


@bp.get("/admin/site_settings.json")
@api_view
def site_settings():
    require_admin()
    wanted = (request.args.get("filter") or "").lower()
    rows = [r for r in _setting_rows() if wanted in r["setting"]]
    return {"site_settings": rows}


@bp.get("/about.json")
@api_view
def about():
    store = sandbox().store
    return {
        "about": {
            "title": "Sandbox Discourse",
            "description": "sandbox",
            "version": "sandbox",
            "user_count": len(store.human_users()),
            "topic_count": len(store.topics),
        }
    }


@bp.get("/site.json")
@api_view
def site():
    store = sandbox().store
    return {
        "default_archetype": "regular",
        "categories": [
            {"id": c.id, "name": c.name, "slug": c.slug} for c in store.categories.values()
        ],
        "groups": [{"id": g.id, "name": g.name} for g in store.groups.values()],
        "can_create_tag": True,
    }


@bp.get("/srv/status")
def srv_status():
    """Discourse's unauthenticated health check: plain text "ok"."""
    return "ok", 200, {"Content-Type": "text/plain; charset=utf-8"}
