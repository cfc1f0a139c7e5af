"""Contract checks against the official Discourse OpenAPI document.

The spec is loaded once per process. Requests are validated with openapi-core
after the documented gaps in :mod:`spec_gaps` are applied; responses are filled
with the keys the spec lists (type-appropriate defaults) and can be validated too.
"""

from __future__ import annotations

import copy
import json
import os
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import spec_gaps

SPEC_PATH = Path(os.environ.get("SANDBOX_DISCOURSE_OPENAPI", "/work/shared/discourse/openapi.json"))
SPEC_HOST = "https://discourse.example.com"  # the spec's only server

_lock = threading.Lock()
_openapi: Any = None


@lru_cache(maxsize=1)
def raw_spec() -> dict[str, Any]:
    with open(SPEC_PATH, encoding="utf-8") as handle:
        return json.load(handle)


def openapi() -> Any:
    global _openapi
    with _lock:
        if _openapi is None:
            from openapi_core import OpenAPI

            _openapi = OpenAPI.from_dict(copy.deepcopy(raw_spec()))
        return _openapi


@lru_cache(maxsize=1)
def _templates() -> list[tuple[re.Pattern[str], str]]:
    compiled = []
    for template in raw_spec()["paths"]:
        pattern = "".join(
            "[^/]+" if part.startswith("{") else re.escape(part)
            for part in re.split(r"(\{[^}]+\})", template)
        )
        compiled.append((re.compile(f"^{pattern}$"), template))
    # prefer the most literal template
    compiled.sort(key=lambda item: -len(re.sub(r"\{[^}]+\}", "", item[1])))
    return compiled


def operation_for(method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    method = method.lower()
    for pattern, template in _templates():
        if pattern.match(path):
            operation = raw_spec()["paths"][template].get(method)
            if operation is not None:
                return template, operation
    return None


def _resolve(schema: Any) -> Any:
    while isinstance(schema, dict) and "$ref" in schema:
        node: Any = raw_spec()
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _types(schema: dict[str, Any]) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, list):
        return kind
    return [kind] if kind else []


def _default(schema: Any) -> Any:
    schema = _resolve(schema)
    kinds = _types(schema)
    if "null" in kinds:
        return None
    if "object" in kinds or "properties" in schema:
        return _fill(schema, {})
    if "array" in kinds:
        return []
    if "boolean" in kinds:
        return False
    if "integer" in kinds or "number" in kinds:
        return 0
    if "string" in kinds:
        return ""
    return None


def _fill(schema: Any, value: Any, keep: tuple[str, ...] = ()) -> Any:
    schema = _resolve(schema)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is False and props:
            for key in [k for k in value if k not in props and k not in keep]:
                del value[key]  # the document forbids keys it does not list
        for key in schema.get("required", []):
            if key not in value:
                value[key] = _default(props.get(key, {}))
        for key, sub in value.items():
            if key in props and isinstance(sub, (dict, list)):
                _fill(props[key], sub, keep)
    elif isinstance(value, list):
        items = schema.get("items")
        if items:
            for item in value:
                if isinstance(item, dict):
                    _fill(items, item, keep)
    return value


def response_schema(method: str, path: str, status: int) -> Any:
    found = operation_for(method, path)
    if not found:
        return None
    response = found[1].get("responses", {}).get(str(status))
    if not response:
        return None
    return response.get("content", {}).get("application/json", {}).get("schema")


def fill_response(method: str, path: str, status: int, body: Any) -> Any:
    """Add the keys the spec's response schema requires that the handler left out."""
    schema = response_schema(method, path, status)
    if schema is not None and isinstance(body, (dict, list)):
        found = operation_for(method, path)
        keep = spec_gaps.RESPONSE_EXTRA_KEYS.get(found[0], ()) if found else ()
        _fill(schema, body, keep)
    return body


def _describe(error: Exception) -> str:
    cause = error.__cause__
    details = getattr(cause, "schema_errors", None)
    if details:
        parts = []
        for item in details:
            where = "/".join(str(p) for p in getattr(item, "absolute_path", [])) or "body"
            parts.append(f"{where}: {getattr(item, 'message', item)}")
        return f"{type(error).__name__}: " + "; ".join(parts)
    text = str(error)
    if cause is not None and str(cause) not in text:
        text = f"{text} ({cause})"
    return f"{type(error).__name__}: {text}"


def _mock_request(method, path, query, headers, body):
    from openapi_core.testing import MockRequest

    data = None if body is None else json.dumps(body)
    return MockRequest(
        SPEC_HOST,
        method.lower(),
        path,
        args=query,
        headers=headers,
        data=data,
        content_type="application/json",
    )


def validate_request(
    method: str,
    path: str,
    query: dict[str, Any],
    headers: dict[str, str],
    body: dict[str, Any] | None,
    body_kind: str,
) -> list[str]:
    """Return spec violations of a request (after the documented gaps)."""
    if spec_gaps.not_in_spec(method, path):
        return []
    found = operation_for(method, path)
    if found is None:
        return [f"{method} {path} is not an operation of the OpenAPI document"]
    template = found[0]
    check_body = body_kind == "json" and method.upper() not in ("GET", "HEAD")
    prepared, gap_errors = spec_gaps.prepare_body(method, template, body or {})
    request = _mock_request(method, path, query, headers, prepared if check_body else None)
    errors = list(gap_errors)
    for error in openapi().iter_request_errors(request):
        name = type(error).__name__
        if not check_body and "Body" in name:
            continue  # form-encoded or bodyless requests: see spec_gaps.FORM_BODIES
        errors.append(_describe(error))
    return errors


def validate_response(
    method: str,
    path: str,
    query: dict[str, Any],
    headers: dict[str, str],
    status: int,
    body: Any,
) -> list[str]:
    from openapi_core.testing import MockResponse

    if spec_gaps.not_in_spec(method, path) or spec_gaps.response_unchecked(method, path):
        return []
    found = operation_for(method, path)
    if found is None or str(status) not in found[1].get("responses", {}):
        return []
    request = _mock_request(method, path, query, headers, None)
    response = MockResponse(
        json.dumps(body).encode() if body is not None else b"",
        status_code=status,
        content_type="application/json",
    )
    errors = [_describe(e) for e in openapi().iter_response_errors(request, response)]
    return [e for e in errors if not spec_gaps.response_error_known(found[0], e)]
