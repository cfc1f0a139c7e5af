"""The audit log: read by subject through an index, never by scanning the stream,
and the index is trimmed with the log (issue 9, item 18)."""

from __future__ import annotations

import pytest

from bridge import audit as audit_module
from bridge.audit import AuditLog


def entry(subject: str, target: str) -> dict:
    return {"subject": subject, "action": "group.add", "target": target, "cause": "roster",
            "result": "ok", "detail": ""}


def commands(services, name: str) -> int:
    stats = services.redis.info("commandstats").get(f"cmdstat_{name}", {})
    return int(stats.get("calls", 0))


def test_reading_a_subject_does_not_scan_the_log(services):
    log = services.audit
    log.record_many([entry("member:t-1", f"old-{i}") for i in range(3)])
    log.record_many([entry(f"member:x-{i % 50}", f"g{i}") for i in range(5000)])
    scans = commands(services, "xrevrange")
    found = log.newest(subject="member:t-1")
    assert [e.target for e in found] == ["old-2", "old-1", "old-0"]
    assert commands(services, "xrevrange") - scans <= 1  # the index, not 10 pages of the log


def test_subject_pages_follow_before(services):
    log = services.audit
    log.record_many([entry("member:t-1" if i % 2 else "member:t-2", f"g{i}")
                     for i in range(40)])
    first = log.newest(subject="member:t-1", limit=15)
    rest = log.newest(subject="member:t-1", limit=15, before=first[-1].id)
    targets = [e.target for e in first + rest]
    assert targets == [f"g{i}" for i in range(39, 0, -2)]
    assert all(e.subject == "member:t-1" for e in first + rest)
    assert log.newest(subject="member:nobody") == []


def test_the_index_never_outlives_the_log(services, monkeypatch):
    monkeypatch.setattr(audit_module, "MAX_ENTRIES", 50)
    log = services.audit
    for i in range(200):
        log.record(subject="member:t-1", action="group.add", target=f"g{i}", cause="api")
    log.trim()
    kept = log.newest(subject="member:t-1", limit=1000)
    assert len(kept) == services.redis.xlen(audit_module.AUDIT_KEY) <= 200
    assert services.redis.xlen(audit_module.SUBJECT_PREFIX + "member:t-1") == len(kept)


def test_trimming_by_age_drops_the_index_too(services):
    services.audit.record(subject="member:t-1", action="group.add", target="club", cause="api")
    expired = AuditLog(services.redis, retention_days=-1)  # everything is older than that
    assert expired.trim() == 1
    assert expired.newest(subject="member:t-1") == []
    left = set(services.redis.keys(audit_module.AUDIT_KEY + "*"))  # the log and its indexes
    assert left <= {audit_module.AUDIT_KEY}  # the log itself may stay, empty


@pytest.mark.parametrize("subject", ["member:t-1\n", "a" * 101, "member t-1"])
def test_the_api_refuses_a_malformed_subject(client, auth, subject):
    response = client.get("/api/v1/audit", query_string={"subject": subject}, headers=auth)
    assert response.status_code == 422


@pytest.mark.parametrize("before", ["0-0", "00-0", "0-00"])
def test_nothing_is_older_than_the_first_id(client, auth, services, before):
    """Redis refuses the exclusive range `(0-0`: that was a 503 (found by Schemathesis)."""
    services.audit.record(subject="member:t-1", action="group.add", target="club", cause="api")
    for query in ({"before": before}, {"before": before, "subject": "member:t-1"}):
        response = client.get("/api/v1/audit", query_string=query, headers=auth)
        assert response.status_code == 200
        assert response.json == {"entries": [], "next": None}
