"""Categories (categories_controller.rb; REFERENCE §6)."""

from __future__ import annotations

import re

from flask import Blueprint, request

from .. import names, serializers
from ..context import api_view, require_admin, sandbox
from ..errors import not_found, param_missing, unprocessable
from ..params import all_params, as_text
from ..state import Category

bp = Blueprint("categories", __name__)
_COLOR = re.compile(r"\A(?:[0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})\Z")


@bp.get("/categories.json")
@api_view
def list_categories():
    store = sandbox().store
    include_sub = request.args.get("include_subcategories") == "true"
    cats = sorted(store.categories.values(), key=lambda c: (c.position, c.id))
    if not include_sub:
        cats = [c for c in cats if c.parent_category_id is None]
    return {
        "category_list": {
            "can_create_category": True,
            "can_create_topic": True,
            "categories": [serializers.category(store, c) for c in cats],
        }
    }


@bp.get("/c/<int:category_id>/show.json")
@api_view
def show_category(category_id: int):
    store = sandbox().store
    cat = store.categories.get(category_id)
    if cat is None:
        raise not_found()
    return {"category": serializers.category(store, cat)}


@bp.post("/categories.json")
@bp.post("/categories")
@api_view
def create_category():
    require_admin()
    store = sandbox().store
    params = all_params(request)
    name = (as_text(params.get("name")) or "").strip()
    if not name:
        raise param_missing("name")
    errors: list[str] = []
    parent_id = params.get("parent_category_id")
    parent = None
    if parent_id not in (None, ""):
        parent = store.categories.get(int(as_text(parent_id) or 0))
        if parent is None:
            errors.append("Parent category is invalid")
    for other in store.categories.values():
        if other.name.lower() == name.lower() and other.parent_category_id == (
            parent.id if parent else None
        ):
            errors.append("Category Name has already been taken")
            break
    if len(name) > 50:
        errors.append("Name is too long (maximum is 50 characters)")
    color = as_text(params.get("color")) or "0088CC"
    text_color = as_text(params.get("text_color")) or "FFFFFF"
    for label, value in (("Color", color), ("Text color", text_color)):
        if not _COLOR.match(value):
            errors.append(f"{label} is invalid")
    slug = (as_text(params.get("slug")) or "").strip()
    if slug and any(c.slug.lower() == slug.lower() for c in store.categories.values()):
        errors.append("Slug is already in use")
    permissions = params.get("permissions")
    if permissions is not None and not isinstance(permissions, dict):
        errors.append("Permissions are invalid")
    if errors:
        raise unprocessable(errors)
    new_id = store.new_category_id()
    cat = Category(
        id=new_id,
        name=name,
        slug=slug or names.slugify(name) or f"{new_id}-category",
        color=color,
        text_color=text_color,
        parent_category_id=parent.id if parent else None,
        permissions={str(k): int(as_text(v) or 1) for k, v in (permissions or {}).items()},
        position=len(store.categories),
    )
    store.categories[new_id] = cat
    return {"category": serializers.category(store, cat)}
