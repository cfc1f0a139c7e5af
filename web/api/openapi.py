"""The API's own OpenAPI document, served at /api/v1/openapi.json.

`openapi.yml` holds everything that does not depend on the installation; the
served document adds what does (the role codes of roles.yml, the kinds of
events.yml) and the username rules of `bridge.names`, so a client or a fuzzer
reading it knows every value the bridge accepts.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import email_validator
import yaml
from flask import jsonify

from bridge import names
from config import AppConfig
from web.api import bp
from web.current import current_services

SPEC_FILE = Path(__file__).with_name("openapi.yml")


@cache
def spec() -> dict:
    return yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))


def document(config: AppConfig) -> dict[str, Any]:
    """The document as served: `spec()` with the enums of this configuration filled in."""
    served = copy.deepcopy(spec())
    schemas = served["components"]["schemas"]
    schemas["RoleCode"]["enum"] = sorted(config.roles.roles)
    schemas["EventKind"]["enum"] = sorted(config.events.kinds)
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
    return jsonify(document(current_services().config))
