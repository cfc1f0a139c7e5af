"""DiscourseConnect payload signing and parsing (consumer side), written from
REFERENCE §1 (lib/discourse_connect_base.rb@0a9b83a) without reusing product code.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

PAYLOAD_ALPHABET = re.compile(r"\A[A-Za-z0-9+/=\r\n]*\Z")
NONCE_TTL_S = 30 * 60  # PR #26261 (2024): 30 minutes
USED_NONCE_TTL_S = 24 * 3600

BOOL_FIELDS = (
    "admin",
    "moderator",
    "avatar_force_update",
    "locale_force_update",
    "require_activation",
    "suppress_welcome_message",
    "confirmed_2fa",
    "no_2fa_methods",
    "require_2fa",
    "prompt",
    "logout",
    "failed",
)
KNOWN_FIELDS = (
    "add_groups",
    "avatar_url",
    "bio",
    "card_background_url",
    "email",
    "external_id",
    "groups",
    "locale",
    "location",
    "name",
    "nonce",
    "profile_background_url",
    "remove_groups",
    "return_sso_url",
    "title",
    "username",
    "website",
    *BOOL_FIELDS,
)


class ConnectError(Exception):
    """Unparseable payload or bad signature (Discourse answers 422)."""


def sign(payload: str, secret: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def encode(fields: dict[str, Any], secret: str) -> tuple[str, str]:
    """Build (base64 payload, hex signature) for the given fields."""
    query = urlencode({k: v for k, v in fields.items() if v is not None})
    payload = base64.b64encode(query.encode()).decode()
    return payload, sign(payload, secret)


@dataclass
class Payload:
    fields: dict[str, str]
    bools: dict[str, bool]
    custom: dict[str, str]

    def get(self, key: str) -> str | None:
        return self.fields.get(key)


def parse(sso: str | None, sig: str | None, secret: str) -> Payload:
    if not sso or not sig:
        raise ConnectError("missing sso or sig")
    if not PAYLOAD_ALPHABET.match(sso):
        raise ConnectError("payload contains characters outside standard base64")
    if not hmac.compare_digest(sign(sso, secret), sig):
        raise ConnectError("bad signature")
    try:
        decoded = base64.b64decode(sso.replace("\r", "").replace("\n", ""), validate=False)
        text = decoded.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ConnectError("payload is not valid base64 text") from exc
    fields: dict[str, str] = {}
    custom: dict[str, str] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        if key.startswith("custom."):
            custom[key[len("custom.") :]] = value
        else:
            fields[key] = value
    bools: dict[str, bool] = {}
    for key in BOOL_FIELDS:
        raw = fields.get(key)
        # only the exact strings true/false count; anything else = not sent
        if raw == "true":
            bools[key] = True
        elif raw == "false":
            bools[key] = False
    return Payload(fields=fields, bools=bools, custom=custom)


def blank_external_id(value: str | None) -> bool:
    return value is None or value.strip().lower() in ("", "none", "nil", "blank", "null")


@dataclass
class NonceEntry:
    browser_sid: str
    return_path: str
    expires_at: float


class NonceStore:
    """Server-side nonces bound to a browser session; single use."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._live: dict[str, NonceEntry] = {}
        self._used: dict[str, float] = {}

    def create(self, browser_sid: str, return_path: str) -> str:
        nonce = secrets.token_hex(16)
        with self._lock:
            self._live[nonce] = NonceEntry(browser_sid, return_path, self.clock() + NONCE_TTL_S)
        return nonce

    def consume(self, nonce: str | None, browser_sid: str | None) -> NonceEntry | None:
        """Return the entry if valid for this browser, and burn it; else None."""
        if not nonce or not browser_sid:
            return None
        with self._lock:
            now = self.clock()
            self._used = {n: t for n, t in self._used.items() if t > now}
            if nonce in self._used:
                return None
            entry = self._live.get(nonce)
            if entry is None or entry.expires_at <= now:
                self._live.pop(nonce, None)
                return None
            if not hmac.compare_digest(entry.browser_sid, browser_sid):
                return None
            del self._live[nonce]
            self._used[nonce] = now + USED_NONCE_TTL_S
            return entry

    def clear(self) -> None:
        with self._lock:
            self._live.clear()
            self._used.clear()
