"""DiscourseConnect payloads: pure signing and verification (REFERENCE §1).

Used by the login flow (`sso/`) and by `sync_sso` in the workers. The
signature is the lowercase hex HMAC-SHA256 of the base64 text (not of the
decoded payload, not URL-escaped), compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode

# Discourse refuses anything outside standard base64 (no URL-safe alphabet).
_STRICT_BASE64 = re.compile(r"\A[A-Za-z0-9+/=\r\n]+\Z")
_HEX_SIGNATURE = re.compile(r"\A[0-9a-fA-F]{64}\Z")
MAX_PAYLOAD_LENGTH = 16 * 1024


class InvalidPayload(ValueError):
    """The payload is missing, garbled, or not strict base64."""


class InvalidSignature(ValueError):
    """The signature does not match the payload."""


def signature(sso: str, secret: str) -> str:
    return hmac.new(secret.encode(), sso.encode(), hashlib.sha256).hexdigest()


def encode_value(value: object) -> str:
    """Discourse reads booleans only as the strings `true`/`false`."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(sorted(str(v) for v in value))
    return str(value)


def sign(payload: Mapping[str, object], secret: str) -> tuple[str, str]:
    """Encode `payload` and sign it: returns `(sso, sig)`. `None` values are left out."""
    query = urlencode(
        [(key, encode_value(value)) for key, value in payload.items() if value is not None]
    )
    sso = base64.b64encode(query.encode()).decode()
    return sso, signature(sso, secret)


def verify(sso: str | None, sig: str | None, secret: str) -> dict[str, str]:
    """Check `sig` against `sso` and return the decoded fields.

    Raises InvalidPayload or InvalidSignature; never returns unverified data.
    """
    if not sso or not sig:
        raise InvalidPayload("sso and sig are required")
    if len(sso) > MAX_PAYLOAD_LENGTH or not _STRICT_BASE64.match(sso):
        raise InvalidPayload("sso is not strict base64")
    if not _HEX_SIGNATURE.match(sig):
        raise InvalidSignature("sig is not a hex HMAC-SHA256")
    if not hmac.compare_digest(signature(sso, secret), sig.lower()):
        raise InvalidSignature("signature mismatch")
    try:
        decoded = base64.b64decode(sso.replace("\r", "").replace("\n", ""), validate=True)
        text = decoded.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidPayload("sso does not decode to UTF-8 text") from None
    try:
        return dict(parse_qsl(text, keep_blank_values=True, strict_parsing=True))
    except ValueError:
        raise InvalidPayload("sso is not a query string") from None
