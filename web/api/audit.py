"""The audit log, newest first; in a federation, only the acting source's entries.

Subjects name members and events by their id in the acting source (`member:t-1`),
in the `subject` filter as in the answer; the log itself keeps forum external
ids (`member:vyazma:t-1`). An entry about another source's member (a linked
account changed by this source) keeps that member's forum external id.
"""

from __future__ import annotations

from flask import g, jsonify

from bridge.audit import ENTRY_ID, SOURCED_SUBJECTS, SUBJECT, AuditEntry, entry_dict
from web.api.common import (
    ApiError,
    forum_id,
    in_source,
    query_number,
    query_text,
    require_token,
    scoped,
)
from web.current import current_services


@scoped("/audit", methods=["GET"])
@require_token
def audit():
    limit = query_number("limit", low=1, high=1000, default=100)
    before = query_text("before", ENTRY_ID, hint="an entry id: the `next` of a previous page")
    subject = query_text("subject", SUBJECT, hint="like member:t-1 or group:club "
                         "(1-100 characters of A-Z a-z 0-9 . _ : -)")
    services = current_services()
    stored = _stored_subject(subject) if subject is not None else None
    # One source alone: every entry is its own (the shared ones and older ones too).
    source = g.source.code if services.config.federated else None
    entries = [] if stored == "" else services.audit.newest(
        limit=limit, before=before, subject=stored, source=source)
    return jsonify({"entries": [_present(e) for e in entries],
                    "next": entries[-1].id if len(entries) == limit else None})


def _stored_subject(subject: str) -> str:
    """The log's subject for a filter in the acting source's ids; "" when none can match."""
    kind, _, local_id = subject.partition(":")
    if not subject.startswith(SOURCED_SUBJECTS):
        return subject
    try:
        return f"{kind}:{forum_id(local_id)}"
    except ApiError:
        return ""  # no member or event of this source has such an id


def _present(entry: AuditEntry) -> dict:
    data = entry_dict(entry)
    if not current_services().config.federated:
        del data["source"]  # a single source's answers are as they always were
        return data
    if entry.subject.startswith(SOURCED_SUBJECTS):
        kind, _, forum_id = entry.subject.partition(":")
        try:
            local_id = in_source(forum_id)
        except KeyError:  # an id of a source no longer configured
            local_id = None
        if local_id is not None:
            data["subject"] = f"{kind}:{local_id}"
    return data
