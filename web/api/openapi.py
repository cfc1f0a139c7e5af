"""The API's own OpenAPI document, served at /api/v1/openapi.json.

`openapi.yml` holds everything that does not depend on the installation;
`spec()` adds each path's second form, `/api/v1/sources/{source}/…` (the
routes of `web.api.common.scoped`), so the two never drift apart. The served
document adds what depends on the installation (the source codes, the role
codes of every source's roles, the kinds of every source's events.yml) and the
username rules of `bridge.names`, so a client or a fuzzer reading it knows
every value the bridge accepts (with its token: every value it accepts from
that client).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import email_validator
import yaml
from flask import jsonify, request

from bridge import names
from config import AppConfig, Source
from web.api import bp
from web.api.common import token_owner
from web.current import current_services

SPEC_FILE = Path(__file__).with_name("openapi.yml")
API = "/api/v1"
UNSCOPED = frozenset({f"{API}/openapi.json"})  # the one path without a source form
_METHODS = ("get", "put", "post", "delete", "patch")
_REF = "#/components/responses/"
SOURCED_SCHEMAS = ("MemberState", "EventState", "JobState", "AuditEntry")


@cache
def spec() -> dict:
    """openapi.yml with every path also in its `/api/v1/sources/{source}/…` form."""
    document = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))
    paths = document["paths"]
    document["paths"] = {**paths, **{
        f"{API}/sources/{{source}}{path.removeprefix(API)}": in_source(item)
        for path, item in paths.items() if path not in UNSCOPED
    }}
    return document


def in_source(item: dict) -> dict:
    """A path item as the source form has it: the `source` parameter, its 403 and 404.

    The path names the source, so it never answers 400 `source_required`.
    """
    item = copy.deepcopy(item)
    item["parameters"] = [{"$ref": "#/components/parameters/Source"},
                          *item.get("parameters", [])]
    for method in _METHODS:
        responses = item.get(method, {}).get("responses")
        if responses is None:
            continue
        if responses.get("400") == {"$ref": _REF + "SourceRequired"}:
            del responses["400"]
        responses["403"] = {"$ref": _REF + "ForbiddenSource"}
        responses.setdefault("404", {"$ref": _REF + "NotFound"})
        item[method]["responses"] = dict(sorted(responses.items()))
    return item


def document(config: AppConfig, sources: Iterable[Source] | None = None) -> dict[str, Any]:
    """The document as served: `spec()` with the enums of this configuration filled in.

    With `sources` (those a client's token acts for) the enums are theirs alone:
    every source's role codes and kinds would include values that the client's
    own source refuses with 422.
    """
    served = copy.deepcopy(spec())
    schemas = served["components"]["schemas"]
    described = list(config.sources.sources.values() if sources is None else sources)
    schemas["SourceCode"]["enum"] = [s.code for s in described]
    schemas["RoleCode"]["enum"] = sorted({code for s in described for code in s.roles.roles})
    schemas["EventKind"]["enum"] = sorted({kind for s in described for kind in s.events.kinds})
    if config.federated:  # then every object of an answer says its source
        accepted = served["components"]["responses"]["Accepted"]
        for schema in (*(schemas[name] for name in SOURCED_SCHEMAS),
                       accepted["content"]["application/json"]["schema"]):
            schema["required"] = [*schema["required"], "source"]
    schemas["Username"]["pattern"] = username_pattern()
    schemas["Email"]["pattern"] = email_pattern()
    return served


def username_pattern() -> str:
    """`bridge.names.name_problems` as one ECMA-262 pattern (lengths are minLength/maxLength).

    A letter, digit or '_' first, a letter or digit last and no two of '-_.' in a
    row all follow from the shape at the end; the look-aheads refuse the
    reserved names and the file-like endings.
    """
    reserved = "|".join(_any_case(word) for word in sorted(names.RESERVED))
    endings = "|".join(_any_case(ext) for ext in names.FILE_EXTENSIONS)
    return (f"^(?!(?:{reserved})$)(?![\\s\\S]*\\.(?:{endings})$)"
            "_?[A-Za-z0-9](?:[-_.]?[A-Za-z0-9])*$")


def email_pattern() -> str:
    """ASCII addresses that email-validator (behind `EmailStr`) accepts, as an ECMA-262 pattern.

    `format: email` alone allows more than the validator does (quoted local
    parts, numeric or special-use top-level domains, `--` labels), so the
    document narrows it. Internationalized domains such as школа.рф are accepted
    too; the document says so in words, as IDNA has no pattern.
    """
    atom = "[A-Za-z0-9_!#$%&'*+/=?^`{|}~-]+"
    label = "[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*"
    top_level = "(?:[A-Za-z0-9]+-)*[A-Za-z0-9]*[A-Za-z]"  # ends with a letter, as every TLD
    special = "|".join(_any_case(name) for name in email_validator.SPECIAL_USE_DOMAIN_NAMES)
    return (f"^(?=[^@]{{1,64}}@)(?![\\s\\S]*[.@](?:{special})$)(?![^@]*@[\\s\\S]*[^.@]{{64}})"
            f"{atom}(?:\\.{atom})*@(?:{label}\\.)+{top_level}$")


def _any_case(word: str) -> str:
    """ECMA patterns have no case-insensitive flag: each letter becomes a [xX] class."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


@bp.get("/openapi.json")
def openapi_json():
    """Public; a valid bearer token narrows the enums to the sources it acts for."""
    services = current_services()
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    client = token_owner(services.settings.api_tokens, presented) \
        if scheme.lower() == "bearer" else None
    sources = services.config.sources.for_token(client) if client else None
    return jsonify(document(services.config, sources))
