"""Finding members by name, e-mail or id, for the admin pages: bounded work, no index.

Each member is one hash (bridge/members.py); a search reads the names and
e-mails in pipelined batches and compares in Python, because Cyrillic case
folding (and «ё» typed as «е») is beyond Redis. The work is capped: at most
`scan_cap` members are read per search, which holds a club of thousands whole;
a bigger roster is read in part, and the result says so.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import redis

from bridge.members import ALL_MEMBERS, PREFIX

SCAN_CAP = 20_000
BATCH = 1000
MIN_QUERY = 2
MAX_QUERY = 100
SHOWN = 50


@dataclass(frozen=True)
class Found:
    external_id: str
    name: str
    email: str
    active: bool


@dataclass(frozen=True)
class Search:
    matches: list[Found]  # sorted by name, at most `limit`
    total: int  # matches among the members read
    read: int  # members read
    cut_short: bool  # the roster has more members than one search reads


def normalized(text: str) -> str:
    """Case-free, «ё» as «е», single spaces: how people type a name into a search box."""
    return " ".join(text.casefold().replace("ё", "е").split())


def find_members(connection: redis.Redis, query: str, *, limit: int = SHOWN,
                 scan_cap: int = SCAN_CAP,
                 within: Callable[[str], bool] | None = None) -> Search:
    """Members whose name, e-mail or external id contains `query` (case-insensitive).

    `within` narrows the search to the external ids it accepts (an administrator's
    sources); the others are not read and do not count towards `scan_cap`.
    """
    needle = normalized(query)
    matches: list[Found] = []
    seen: set[str] = set()  # SSCAN may return a member twice
    batch: list[str] = []
    for external_id in connection.sscan_iter(ALL_MEMBERS, count=BATCH):
        if len(seen) == scan_cap:
            break
        if external_id in seen or (within is not None and not within(external_id)):
            continue
        seen.add(external_id)
        batch.append(external_id)
        if len(batch) == BATCH:
            matches += _matching(connection, batch, needle)
            batch = []
    matches += _matching(connection, batch, needle)
    cut_short = len(seen) == scan_cap and connection.scard(ALL_MEMBERS) > scan_cap
    matches.sort(key=lambda found: (normalized(found.name), found.external_id))
    return Search(matches=matches[:limit], total=len(matches), read=len(seen),
                  cut_short=cut_short)


def _matching(connection: redis.Redis, external_ids: list[str], needle: str) -> list[Found]:
    if not external_ids:
        return []
    pipe = connection.pipeline(transaction=False)
    for external_id in external_ids:
        pipe.hmget(PREFIX + external_id, "desired", "removed")
    found = []
    for external_id, (desired, removed) in zip(external_ids, pipe.execute(), strict=True):
        member = json.loads(desired) if desired else {}
        name, email = str(member.get("name") or ""), str(member.get("email") or "")
        if any(needle in normalized(text) for text in (name, email, external_id)):
            active = bool(member.get("active", True)) and removed != "1"
            found.append(Found(external_id, name, email, active))
    return found
