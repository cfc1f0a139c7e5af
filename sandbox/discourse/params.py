"""Request parameters the way Rails sees them.

Discourse merges the query string and the body (JSON or form-encoded) into one
`params` hash; form keys like ``group[name]`` or ``tags[]`` nest.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Request

_KEY_PART = re.compile(r"\[([^\]]*)\]")


def _assign(target: dict[str, Any], key: str, value: str) -> None:
    head = key.split("[", 1)[0]
    parts = _KEY_PART.findall(key[len(head) :]) if "[" in key else []
    node: Any = target
    path = [head, *parts]
    for index, part in enumerate(path):
        last = index == len(path) - 1
        nxt = None if last else path[index + 1]
        if part == "" and isinstance(node, list):
            if last:
                node.append(value)
                return
            child: Any = [] if nxt == "" else {}
            node.append(child)
            node = child
            continue
        if not isinstance(node, dict):
            return
        if last:
            node[part] = value
            return
        if part not in node or not isinstance(node[part], (dict, list)):
            node[part] = [] if nxt == "" else {}
        node = node[part]


def form_to_nested(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        _assign(result, key, value)
    return result


class BodyError(ValueError):
    """The body could not be parsed (Discourse answers 400)."""


def body_params(request: Request) -> tuple[dict[str, Any], str]:
    """Return (body params, kind) where kind is 'json', 'form' or 'none'."""
    mimetype = request.mimetype or ""
    raw = request.get_data(cache=True)
    if mimetype == "application/json":
        if not raw.strip():
            return {}, "json"
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise BodyError(str(exc)) from exc
        if not isinstance(data, dict):
            raise BodyError("JSON body must be an object")
        return data, "json"
    if mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return form_to_nested(list(request.form.items(multi=True))), "form"
    return {}, "none"


def all_params(request: Request) -> dict[str, Any]:
    merged = form_to_nested(list(request.args.items(multi=True)))
    body, _ = body_params(request)
    merged.update(body)
    return merged


def as_text(value: Any) -> str | None:
    """Scalar param as text (Rails would see JSON numbers/booleans as strings)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    return None


def truthy(value: Any) -> bool:
    """ActiveModel boolean casting, as used for most Discourse flags."""
    if isinstance(value, bool):
        return value
    text = as_text(value)
    return text is not None and text.lower() not in ("", "0", "f", "false", "off", "no")
