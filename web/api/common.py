"""What every endpoint of the inbound API shares: auth, errors, body parsing."""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable, Mapping
from functools import wraps
from itertools import accumulate
from typing import Any

from flask import g, jsonify, request, url_for
from pydantic import ValidationError

from bridge.members import EXTERNAL_ID
from config import Federation, Source
from web.current import current_services

MAX_BODY = 1024 * 1024  # 1 MiB for one member or event
MAX_ROSTER_BODY = 20 * 1024 * 1024
MAX_JSON_DEPTH = 32

# A JSON string, or an unterminated one up to the end; possessive, so linear time.
_JSON_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_A_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
_ASCII_NUMBER = re.compile(r"\A[0-9]{1,19}\Z")


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, details: Any = None):
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.details = details

    def response(self):
        body = {"error": self.error, "message": self.message, "details": self.details}
        response = jsonify(body)
        response.status_code = self.status
        if self.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="bridge"'
        return response


def token_owner(tokens: Mapping[str, str], presented: str) -> str | None:
    """The name of the token `presented` is, compared in constant time with every one."""
    owner = None
    if presented:
        for name, token in tokens.items():  # no early exit: the same time for every token
            if hmac.compare_digest(presented.encode(), token.encode()):
                owner = name
    return owner


def require_token(view: Callable) -> Callable:
    """Bearer tokens from BRIDGE_API_TOKENS, each compared in constant time.

    The token also decides the source the request acts for (`g.source`): the
    one its path names (`/api/v1/sources/{source}/…`, 403 when the token does
    not act for it), else the token's only source (400 `source_required`
    when it acts for several).
    """

    @wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        client = None
        services = current_services()
        if scheme.lower() == "bearer":
            client = token_owner(services.settings.api_tokens, presented)
        if client is None:
            raise ApiError(401, "unauthorized", "A valid bearer token is required.")
        g.api_client = client
        g.source = _acting_source(services.config.sources, client, kwargs.pop("source", None))
        return view(*args, **kwargs)

    return wrapper


def _acting_source(federation: Federation, client: str, named: str | None) -> Source:
    mine = federation.for_token(client)
    if named is not None:
        if named not in federation.sources:
            raise ApiError(404, "not_found", "No such source.")
        if all(source.code != named for source in mine):
            raise ApiError(403, "forbidden_source",
                           f"This token does not act for the source {named!r}.",
                           {"source": named, "token_sources": [s.code for s in mine]})
        return federation[named]
    if len(mine) != 1:
        raise ApiError(400, "source_required",
                       "This token acts for several sources: name one in the path "
                       "(/api/v1/sources/{source}/...).", {"token_sources": [s.code for s in mine]})
    return mine[0]


def scoped(rule: str, **options: Any) -> Callable:
    """Register a view at `rule` and at `/sources/<source>` + `rule`."""

    def register(view: Callable) -> Callable:
        api = _blueprint()
        api.add_url_rule(rule, view_func=view, **options)
        api.add_url_rule("/sources/<source>" + rule, endpoint=f"{view.__name__}_in_source",
                         view_func=view, **options)
        return view

    return register


def _blueprint():
    from web.api import bp  # the package's blueprint; it imports this module first

    return bp


def forum_id(local_id: str) -> str:
    """The store's (and the forum's) external id of `local_id` in the acting source.

    A bare id of the legacy source may not look like another source's `code:…`
    (it would be read as that source's member): 422.
    """
    check_external_id(local_id)
    source: Source = g.source
    if source.legacy_ids:
        other = current_services().config.sources.legacy_conflict(local_id)
        if other is not None:
            raise ApiError(422, "invalid_external_id",
                           f"external_id may not begin with another source's code ({other}:).",
                           {"external_id": local_id[:80]})
    return source.forum_id(local_id)


def sourced(public: dict, forum_id: str) -> dict:
    """A stored member's or event's answer in its source's own id, with the source.

    A single source's answers are as they always were.
    """
    federation = current_services().config.sources
    if not federation.federated:
        return public
    source, local_id = federation.split(forum_id)
    return {**public, "external_id": local_id, "source": source.code}


def in_source(forum_id: str) -> str | None:
    """The acting source's local id of a stored external id; None when it is another's."""
    source, local_id = current_services().config.sources.split(forum_id)
    return local_id if source.code == g.source.code else None


def check_external_id(external_id: str) -> str:
    if not EXTERNAL_ID.match(external_id):
        raise ApiError(
            422,
            "invalid_external_id",
            "external_id must be 1-64 characters of A-Z a-z 0-9 . _ : -",
            {"external_id": external_id[:80]},
        )
    return external_id


def json_body(*, limit: int = MAX_BODY) -> Any:
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "The body must be application/json.")
    if (request.content_length or 0) > limit:
        raise ApiError(413, "payload_too_large", f"The body must be at most {limit} bytes.")
    raw = request.get_data(cache=True)
    if len(raw) > limit:
        raise ApiError(413, "payload_too_large", f"The body must be at most {limit} bytes.")
    return parse_json(raw)


def parse_json(raw: bytes) -> Any:
    """JSON from a client: 400 when it is not JSON, 422 when nested deeper than MAX_JSON_DEPTH.

    The depth is checked before parsing: `json.loads` recurses once per level,
    so a body of 100,000 brackets would otherwise end in a RecursionError (500).
    """
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise ApiError(422, "too_deeply_nested",
                       f"The JSON is nested deeper than {MAX_JSON_DEPTH} levels.")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ApiError(400, "malformed_json", f"The body is not valid JSON: {error}") from None


def json_depth(raw: bytes) -> int:
    """How deep arrays and objects nest in `raw`, without parsing it and without recursion.

    Strings are dropped first (brackets inside them do not count; an unterminated
    one runs to the end), then the running count of open brackets is summed in C.
    Malformed JSON gets a number too; the parser refuses it afterwards.
    """
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_A_BRACKET)
    return max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0)


def ascii_number(text: str) -> int | None:
    """`text` as a number when it is 1-19 ASCII digits, else None.

    `int()` and `str.isdigit()` also take '²', '١', '１', ' 1' and '1_0'.
    """
    return int(text) if _ASCII_NUMBER.match(text) else None


def query_number(name: str, *, low: int, high: int, default: int | None = None) -> int | None:
    """An integer query parameter within [low, high], else 422; `default` when it is absent."""
    text = request.args.get(name)
    if text is None:
        return default
    number = ascii_number(text)
    if number is None or not low <= number <= high:
        raise ApiError(422, "invalid_parameter",
                       f"{name} must be an integer from {low} to {high} in ASCII digits.",
                       [{"field": name, "message": f"must be an integer from {low} to {high}"}])
    return number


def query_text(name: str, pattern: re.Pattern[str], *, hint: str) -> str | None:
    """A text query parameter matching `pattern` (anchored), else 422; None when absent or empty."""
    text = request.args.get(name) or None
    if text is not None and not pattern.match(text):
        raise ApiError(422, "invalid_parameter", f"{name} must be {hint}.",
                       [{"field": name, "message": f"must be {hint}"}])
    return text


def validation_details(error: ValidationError) -> list[dict]:
    details = []
    for item in error.errors(include_url=False, include_input=False):
        details.append(
            {"field": ".".join(str(p) for p in item["loc"]), "message": item["msg"]}
        )
    return details


def job_url(job_id: str) -> str:
    """Where a job's status is read: in the acting source's paths when sources are named."""
    if current_services().config.federated:
        return url_for("api.job_status_in_source", source=g.source.code, job_id=job_id)
    return url_for("api.job_status", job_id=job_id)


def accepted(job_id: str, **extra: Any):
    url = job_url(job_id)
    body = {"job_id": job_id, "status_url": url, **extra}
    if current_services().config.federated:
        body["source"] = g.source.code
    response = jsonify(body)
    response.status_code = 202
    response.headers["Location"] = url
    return response
