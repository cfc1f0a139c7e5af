"""The external id of an event's topic: how the bridge finds its topic again on the forum."""

from __future__ import annotations

import base64
import hashlib
import re

#: Discourse: topic external ids are ≤ 50 characters of [\w-], unique ignoring case.
TOPIC_EXTERNAL_ID_MAX = 50
_TOPIC_PREFIX = "ev-"
_READABLE_MAX = 26  # "ev-" + 26 + "-" + 16 (hash) + "-g999" ≤ 50


def topic_external_id(external_id: str, generation: int = 1) -> str:
    """The Discourse external id of the event's topic.

    Discourse allows only ≤ 50 characters of [A-Za-z0-9_-], compared ignoring
    case, while event ids are up to 64 characters that may hold `.` and `:` and
    differ only in case. So: a readable lowercase prefix for people, and a hash
    of the exact id for uniqueness. Generation 2, 3 … (`-g2`) is used when the
    topic was deleted by hand: Discourse keeps a deleted topic's external id.
    `external_id` is the stored id, `S:X` for source S's event X (bare X for
    the legacy source), so the same X of two sources hashes apart.
    """
    readable = re.sub(r"[^a-z0-9]+", "-", external_id.lower()).strip("-")[:_READABLE_MAX]
    readable = readable.strip("-") or "event"
    digest = hashlib.blake2b(external_id.encode(), digest_size=10).digest()
    code = _base32(digest)  # 16 characters, 80 bits
    topic_id = f"{_TOPIC_PREFIX}{readable}-{code}"
    if generation > 1:
        topic_id += f"-g{generation}"
    return topic_id[:TOPIC_EXTERNAL_ID_MAX]


def _base32(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=").lower()
