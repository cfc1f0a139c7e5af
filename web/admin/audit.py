"""The audit log, newest first."""

from __future__ import annotations

from flask import (
    render_template,
    request,
)

from bridge.audit import ENTRY_ID, SUBJECT, AuditEntry
from bridge.services import Services
from web.admin.access import (
    PAGE,
    bp,
)
from web.admin.scope import Scope, noted_sources, scope, subject_sources
from web.current import current_services

READ_BATCH = 500  # entries read at once while looking for the administrator's sources
READ_CAP = 20 * READ_BATCH  # entries one page reads at most; the rest on the next page


def entry_sources(entry: AuditEntry) -> frozenset[str] | None:
    """The sources an entry belongs to: its own note, else the source of its subject."""
    noted = noted_sources(getattr(entry, "source", None))
    return noted if noted is not None else subject_sources(entry.subject)


def newest_in_scope(
    services: Services, shown: Scope, *, before: str | None, subject: str | None
) -> tuple[list[AuditEntry], str | None]:
    """A page of the scope's entries, newest first, and where the next page starts.

    The log is one stream of every source's entries: a narrowed page reads it in
    batches, at most READ_CAP entries, and says where it stopped.
    """
    if shown.everything:
        entries = services.audit.newest(limit=PAGE + 1, before=before, subject=subject)
        more = len(entries) > PAGE
        entries = entries[:PAGE]
        return entries, entries[-1].id if more and entries else None
    found: list[AuditEntry] = []
    cursor, read = before, 0
    while read < READ_CAP:
        batch = services.audit.newest(limit=READ_BATCH, before=cursor, subject=subject)
        for entry in batch:
            if shown.has_all(entry_sources(entry)):
                found.append(entry)
                if len(found) > PAGE:
                    return found[:PAGE], found[PAGE - 1].id
        read += len(batch)
        if len(batch) < READ_BATCH:
            return found, None  # the log has no older entries
        cursor = batch[-1].id
    return found, cursor  # READ_CAP entries read: the next page goes on from here


@bp.context_processor
def _entry_helpers() -> dict:
    return {"entry_sources": entry_sources}


@bp.get("/audit")
def audit():
    services = current_services()
    shown = scope()
    subject = request.args.get("subject", "").strip() or None
    before = request.args.get("before", "").strip() or None
    problem = None
    if subject is not None and not SUBJECT.match(subject):
        problem, subject = "Фильтр по объекту: например, member:t-1 или group:club.", None
    if before is not None and not ENTRY_ID.match(before):
        before = None
    entries, next_before = newest_in_scope(services, shown, before=before, subject=subject)
    return render_template(
        "admin/audit.html",
        entries=entries,
        subject=subject or "",
        before=before,
        problem=problem,
        next_before=next_before,
    )
