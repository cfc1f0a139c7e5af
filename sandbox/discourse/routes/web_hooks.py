"""Admin API of webhooks: `/admin/api/web_hooks.json` (Admin::WebHooksController)."""

from __future__ import annotations

from flask import Blueprint, request

from ..context import api_view, require_admin, sandbox
from ..errors import json_error, not_found, unprocessable
from ..params import all_params, as_text, truthy
from ..webhooks import EVENT_TYPES

bp = Blueprint("web_hooks", __name__)
MIN_SECRET = 12


def _fields(data: dict) -> dict:
    url = as_text(data.get("payload_url")) or ""
    secret = as_text(data.get("secret")) or ""
    errors = []
    if not url.startswith(("http://", "https://")):
        errors.append("Payload URL is invalid")
    if secret and len(secret) < MIN_SECRET:
        errors.append(f"Secret is too short (minimum is {MIN_SECRET} characters)")
    raw_ids = data.get("web_hook_event_type_ids") or []
    ids = [int(i) for i in (raw_ids if isinstance(raw_ids, list) else [raw_ids])
           if str(i).isascii() and str(i).isdigit()]
    if any(i not in EVENT_TYPES.values() for i in ids):
        raise not_found()  # the coarse ids of old Discourse versions are gone
    if errors:
        raise unprocessable(errors)
    return {
        "payload_url": url,
        "secret": secret,
        "content_type": int(as_text(data.get("content_type")) or "1"),
        "event_type_ids": sorted(set(ids)),
        "active": truthy(data.get("active")),  # defaults to false
    }


def _hook_params() -> dict:
    data = all_params(request).get("web_hook")
    if not isinstance(data, dict):
        raise json_error(400, ["param is missing or the value is empty: web_hook"],
                         "invalid_parameters")
    return data


@bp.get("/admin/api/web_hooks.json")
@api_view
def list_hooks():
    require_admin()
    hooks = sandbox().webhooks.hooks.values()
    return {"web_hooks": [h.public() for h in hooks], "total_rows_web_hooks": len(hooks)}


@bp.post("/admin/api/web_hooks.json")
@api_view
def create_hook():
    require_admin()
    hook = sandbox().webhooks.create(**_fields(_hook_params()))
    return {"web_hook": hook.public()}


@bp.put("/admin/api/web_hooks/<int:hook_id>.json")
@api_view
def update_hook(hook_id: int):
    require_admin()
    hook = sandbox().webhooks.hooks.get(hook_id)
    if hook is None:
        raise not_found()
    fields = _fields(_hook_params())
    if not fields["secret"]:
        fields.pop("secret")  # an empty secret keeps the old one, as the admin form does
    for key, value in fields.items():
        setattr(hook, key, value)
    return {"web_hook": hook.public()}
