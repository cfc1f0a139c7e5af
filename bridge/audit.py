"""The audit log: every change applied to the forum, kept with bounded retention.

A Redis stream: entries are ordered, ids carry the time, and trimming by age
(`XTRIM MINID`) is one command. Entries hold ids only, never e-mails or names.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import redis

AUDIT_KEY = "bridge:audit"
MAX_ENTRIES = 200_000
#: An entry id `<ms>-<seq>` in ASCII digits; 19 digits stay below Redis's limit of 2^64.
ENTRY_ID = re.compile(r"\A[0-9]{1,19}-[0-9]{1,19}\Z")


@dataclass(frozen=True)
class AuditEntry:
    subject: str  # "member:<external_id>", "event:<external_id>", "group:<name>"
    action: str  # e.g. "group.add", "staff.moderator", "topic.create"
    target: str  # the group, flag or topic touched
    cause: str  # "api", "roster", "reconcile", "login", "ics", "admin"
    result: str  # "ok" or an error text
    detail: str = ""
    at: float = 0.0
    id: str = ""


class AuditLog:
    def __init__(self, connection: redis.Redis, *, retention_days: int = 90):
        self.connection = connection
        self.retention_seconds = retention_days * 86400

    def record(
        self,
        *,
        subject: str,
        action: str,
        target: str,
        cause: str,
        result: str = "ok",
        detail: str = "",
    ) -> None:
        entry = {
            "subject": subject,
            "action": action,
            "target": target,
            "cause": cause,
            "result": result,
            "detail": detail,
        }
        self.connection.xadd(AUDIT_KEY, {"e": json.dumps(entry)}, maxlen=MAX_ENTRIES)

    def record_many(self, entries: list[dict]) -> None:
        pipe = self.connection.pipeline(transaction=False)
        for entry in entries:
            pipe.xadd(AUDIT_KEY, {"e": json.dumps(entry)}, maxlen=MAX_ENTRIES)
        pipe.execute()

    def trim(self) -> int:
        """Drop entries older than the retention; returns how many went."""
        oldest_ms = int((time.time() - self.retention_seconds) * 1000)
        return int(self.connection.xtrim(AUDIT_KEY, minid=f"{oldest_ms}-0"))

    def newest(
        self, *, limit: int = 100, before: str | None = None, subject: str | None = None
    ) -> list[AuditEntry]:
        return list(self._iter(limit=limit, before=before, subject=subject))

    def _iter(self, *, limit: int, before: str | None, subject: str | None) -> Iterator[AuditEntry]:
        end = f"({before}" if before else "+"
        found = 0
        while found < limit:
            batch = self.connection.xrevrange(AUDIT_KEY, max=end, min="-", count=500)
            if not batch:
                return
            for entry_id, fields in batch:
                entry_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                raw = fields.get(b"e") or fields.get("e")
                data = json.loads(raw)
                end = f"({entry_id}"
                if subject and data.get("subject") != subject:
                    continue
                yield AuditEntry(**data, at=int(entry_id.split("-")[0]) / 1000, id=entry_id)
                found += 1
                if found >= limit:
                    return


def entry_dict(entry: AuditEntry) -> dict:
    return asdict(entry)
