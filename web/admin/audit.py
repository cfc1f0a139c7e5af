"""The audit log, newest first."""

from __future__ import annotations

from flask import (
    render_template,
    request,
)

from bridge.audit import ENTRY_ID, SUBJECT
from web.admin.access import (
    PAGE,
    bp,
)
from web.current import current_services


@bp.get("/audit")
def audit():
    svc = current_services()
    subject = request.args.get("subject", "").strip() or None
    before = request.args.get("before", "").strip() or None
    problem = None
    if subject is not None and not SUBJECT.match(subject):
        problem, subject = "Фильтр по объекту: например, member:t-1 или group:club.", None
    if before is not None and not ENTRY_ID.match(before):
        before = None
    entries = svc.audit.newest(limit=PAGE + 1, before=before, subject=subject)
    more = len(entries) > PAGE
    entries = entries[:PAGE]
    return render_template(
        "admin/audit.html",
        entries=entries,
        subject=subject or "",
        before=before,
        problem=problem,
        next_before=entries[-1].id if more and entries else None,
    )
