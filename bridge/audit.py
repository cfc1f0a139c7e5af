"""The audit log: every change applied to the forum, kept with bounded retention.

A Redis stream: entries are ordered, ids carry the time, and trimming by age
(`XTRIM MINID`) is one command. Entries hold ids only, never e-mails or names.

Reading one subject's entries (a member's page, `GET /api/v1/audit?subject=`)
goes through an index: one small stream per subject holding the ids of its
entries, written in the same Lua step as the entry. Scanning the log instead
took 11-15 s at 200,000 entries. Each index is capped like the log and trimmed
with it, so it never holds more than the log does.

Each entry belongs to a *source* (`config/sources.py`): the one whose change
caused it. A caller may say so (`source=`); else a `member:` or `event:`
subject names it (its forum external id, `S:X` or a legacy bare id); entries
about the forum as a whole (groups, categories, accounts no member is bound
to) have the empty source. A second index per source serves a source's reads
(`GET /api/v1/audit` in a federation) the way the subject index serves a
subject's.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import redis

if TYPE_CHECKING:
    from config.sources import Federation

AUDIT_KEY = "bridge:audit"
SUBJECT_PREFIX = "bridge:audit:subject:"  # + subject: a stream of that subject's entry ids
SUBJECTS_KEY = "bridge:audit:subjects"  # every subject that has an index
SOURCE_PREFIX = "bridge:audit:source:"  # + source code: a stream of that source's entry ids
SOURCES_KEY = "bridge:audit:sources"  # every source that has an index
#: The source of entries about the forum as a whole (groups, categories, outsiders' accounts).
SHARED = ""
SOURCED_SUBJECTS = ("member:", "event:")  # their rest is a forum external id
MAX_ENTRIES = 200_000
#: An entry id `<ms>-<seq>` in ASCII digits; 19 digits stay below Redis's limit of 2^64.
ENTRY_ID = re.compile(r"\A[0-9]{1,19}-[0-9]{1,19}\Z")
#: "member:<external_id>", "event:<external_id>", "group:<name>", "category:<slug>".
SUBJECT = re.compile(r"\A[A-Za-z0-9._:-]{1,100}\Z")

_RECORD = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], id, 'i', '')
redis.call('SADD', KEYS[3], ARGV[3])
if ARGV[4] ~= '' then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[2], id, 'i', '')
  redis.call('SADD', KEYS[5], ARGV[4])
end
return id
"""

_TRIM_INDEX = """
redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
if redis.call('XLEN', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[2])
end
"""


@dataclass(frozen=True)
class AuditEntry:
    subject: str  # "member:<external_id>", "event:<external_id>", "group:<name>"
    action: str  # e.g. "group.add", "staff.moderator", "topic.create"
    target: str  # the group, flag or topic touched
    cause: str  # "api", "roster", "reconcile", "login", "ics", "admin"
    result: str  # "ok" or an error text
    detail: str = ""
    source: str = SHARED  # the source whose change it was; "" for the forum as a whole
    at: float = 0.0
    id: str = ""


class AuditLog:
    def __init__(self, connection: redis.Redis, *, retention_days: int = 90,
                 sources: Federation | None = None):
        self.connection = connection
        self.retention_seconds = retention_days * 86400
        self.sources = sources  # reads a member's or event's source from its subject
        self._record = connection.register_script(_RECORD)
        self._trim_index = connection.register_script(_TRIM_INDEX)

    def record(
        self,
        *,
        subject: str,
        action: str,
        target: str,
        cause: str,
        result: str = "ok",
        detail: str = "",
        source: str | None = None,
    ) -> None:
        self.record_many([{"subject": subject, "action": action, "target": target,
                           "cause": cause, "result": result, "detail": detail,
                           "source": source}])

    def record_many(self, entries: list[dict]) -> None:
        """Entries may name their `source`; without one (or None) the subject decides."""
        pipe = self.connection.pipeline(transaction=False)
        for entry in entries:
            subject = entry["subject"]
            source = entry.get("source")
            if source is None:
                source = self.source_of(subject)
            entry = {**entry, "source": source}
            self._record(keys=[AUDIT_KEY, SUBJECT_PREFIX + subject, SUBJECTS_KEY,
                               SOURCE_PREFIX + source, SOURCES_KEY],
                         args=[json.dumps(entry), MAX_ENTRIES, subject, source], client=pipe)
        pipe.execute()

    def source_of(self, subject: str) -> str:
        """The source a `member:`/`event:` subject belongs to; SHARED for any other."""
        if self.sources is None or not subject.startswith(SOURCED_SUBJECTS):
            return SHARED
        try:
            return self.sources.source_of(subject.partition(":")[2]).code
        except KeyError:  # an id of no configured source (one removed from sources.yml)
            return SHARED

    def trim(self) -> int:
        """Drop entries older than the retention, and their index entries; how many went."""
        oldest_ms = int((time.time() - self.retention_seconds) * 1000)
        # Exact (not `~`): the retention is a promise about personal actions' history.
        trimmed = int(self.connection.xtrim(AUDIT_KEY, minid=f"{oldest_ms}-0",
                                            approximate=False))
        self._trim_indexes(default_min=f"{oldest_ms}-0")
        return trimmed

    def _trim_indexes(self, *, default_min: str) -> None:
        """Index entries older than the log's oldest entry point at nothing: drop them.

        The log loses entries by age (`trim`) and by count (`MAXLEN`); both take the
        oldest, so the log's first id is where every index may start.
        """
        first = self.connection.xrange(AUDIT_KEY, count=1)
        min_id = _text(first[0][0]) if first else default_min
        pipe = self.connection.pipeline(transaction=False)
        for prefix, names in ((SUBJECT_PREFIX, SUBJECTS_KEY), (SOURCE_PREFIX, SOURCES_KEY)):
            for name in self.connection.sscan_iter(names, count=500):
                name = _text(name)
                self._trim_index(keys=[prefix + name, names], args=[min_id, name], client=pipe)
                if len(pipe) >= 500:
                    pipe.execute()
        pipe.execute()

    def newest(
        self, *, limit: int = 100, before: str | None = None, subject: str | None = None,
        source: str | None = None,
    ) -> list[AuditEntry]:
        """The newest entries, older than `before`: of one subject, of one source, or all."""
        if before is not None and _is_first_id(before):
            return []  # nothing is older; Redis refuses the range "(0-0"
        if subject is not None:
            return self._newest_in(SUBJECT_PREFIX + subject, limit=limit, before=before,
                                   source=source)
        if source is not None:
            return self._newest_in(SOURCE_PREFIX + source, limit=limit, before=before)
        batch = self.connection.xrevrange(AUDIT_KEY, max=f"({before}" if before else "+",
                                          min="-", count=limit)
        return [_entry(entry_id, fields, self.source_of) for entry_id, fields in batch]

    def _newest_in(self, index: str, *, limit: int, before: str | None,
                   source: str | None = None) -> list[AuditEntry]:
        """One read of an index, then its entries by id in one pipeline.

        With `source` (a subject's entries that one source caused) the index is
        read on, a page at a time, until `limit` entries of that source are found.
        """
        entries: list[AuditEntry] = []
        while True:
            pointers = self.connection.xrevrange(
                index, max=f"({before}" if before else "+", min="-", count=limit)
            ids = [_text(entry_id) for entry_id, _ in pointers]
            pipe = self.connection.pipeline(transaction=False)
            for entry_id in ids:
                pipe.xrange(AUDIT_KEY, min=entry_id, max=entry_id, count=1)
            for found in pipe.execute() if ids else []:
                if not found:
                    return entries  # trimmed from the log since, and so is every older one
                entry = _entry(*found[0], self.source_of)
                if source is None or entry.source == source:
                    entries.append(entry)
                    if len(entries) == limit:
                        return entries
            if len(ids) < limit:
                return entries
            before = ids[-1]


def _is_first_id(entry_id: str) -> bool:
    return all(int(part) == 0 for part in entry_id.split("-"))


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entry(entry_id: str | bytes, fields: dict, source_of: Callable[[str], str]) -> AuditEntry:
    entry_id = _text(entry_id)
    data = json.loads(fields.get(b"e") or fields.get("e"))
    if "source" not in data:  # written before entries had sources
        data["source"] = source_of(data["subject"])
    return AuditEntry(**data, at=int(entry_id.split("-")[0]) / 1000, id=entry_id)


def entry_dict(entry: AuditEntry) -> dict:
    return asdict(entry)
