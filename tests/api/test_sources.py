"""The API of a federation: audit reads limited to the acting source, and the
document describing both path forms with the configured sources (issue 11)."""

from __future__ import annotations

import re

import pytest

from bridge.audit import AUDIT_KEY, AuditLog
from tests.support.events import event_body
from tests.support.two_sources import BOTH_TOKEN, VYAZMA_TOKEN, bearer, two_sources_config
from web.api.openapi import document

VYAZMA = bearer(VYAZMA_TOKEN)
BOTH = bearer(BOTH_TOKEN)


@pytest.fixture
def app_config(environ, tmp_path):
    return two_sources_config(environ, tmp_path)


def entry(subject: str, target: str, **extra) -> dict:
    return {"subject": subject, "action": "group.add", "target": target, "cause": "api",
            "result": "ok", "detail": "", **extra}


def audit(client, headers, path="/api/v1/audit", **query):
    response = client.get(path, query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def test_entries_belong_to_the_source_their_subject_names(services):
    log = services.audit
    log.record_many([entry("member:t-1", "a"), entry("member:vyazma:t-1", "b"),
                     entry("event:vyazma:e-1", "c"), entry("group:club", "d"),
                     entry("member:t-1", "e", source="vyazma")])  # a linked account
    assert [(e.target, e.source) for e in log.newest()] == [
        ("e", "vyazma"), ("d", ""), ("c", "vyazma"), ("b", "vyazma"), ("a", "institute")]
    assert [e.target for e in log.newest(source="vyazma")] == ["e", "c", "b"]
    assert [e.target for e in log.newest(source="vyazma", limit=2)] == ["e", "c"]
    assert [e.target for e in log.newest(subject="member:t-1", source="institute")] == ["a"]
    # Entries written before they had sources get theirs from the subject.
    services.redis.xadd(AUDIT_KEY, {"e": '{"subject": "member:vyazma:old", "action": '
                        '"x", "target": "old", "cause": "api", "result": "ok", "detail": ""}'})
    assert log.newest(limit=1)[0].source == "vyazma"


def test_a_subject_read_filtered_by_source_pages_through_the_index(services):
    log = services.audit
    log.record_many([entry("member:t-1", f"g{i}", source="vyazma" if i % 3 else None)
                     for i in range(30)])
    first = log.newest(subject="member:t-1", source="institute", limit=4)
    rest = log.newest(subject="member:t-1", source="institute", limit=4, before=first[-1].id)
    assert [e.target for e in first + rest] == [f"g{i}" for i in range(27, -1, -3)][:8]


def test_audit_reads_are_limited_to_the_tokens_source(client, auth, services, sandbox, work):
    assert client.put("/api/v1/events/e-1", json=event_body(), headers=auth).status_code == 202
    assert client.put("/api/v1/events/e-1", headers=VYAZMA, json=event_body(
        audience=["teacher"])).status_code == 202
    work()
    services.audit.record(subject="group:club", action="group.create", target="1",
                          cause="admin")
    services.audit.record(subject="member:vyazma:t-1", action="group.add", target="club",
                          cause="roster")

    vyazma = audit(client, VYAZMA)["entries"]
    assert {e["source"] for e in vyazma} == {"vyazma"}
    # Its own ids; and the category its event needed is its entry too.
    assert {e["subject"] for e in vyazma} == {"event:e-1", "member:t-1",
                                              "category:vyazma-meropriyatiya"}
    assert any(e["action"] == "topic.create" for e in vyazma)
    institute = audit(client, auth)["entries"]
    assert {e["source"] for e in institute} == {"institute"}
    assert {e["subject"] for e in institute} == {"event:e-1", "category:meropriyatiya"}
    assert not {e["id"] for e in vyazma} & {e["id"] for e in institute}
    assert audit(client, BOTH, "/api/v1/sources/vyazma/audit")["entries"] == vyazma

    # subject= names the acting source's own ids.
    mine = audit(client, VYAZMA, subject="event:e-1")["entries"]
    assert mine
    assert all(e["subject"] == "event:e-1" and e["source"] == "vyazma" for e in mine)
    assert audit(client, VYAZMA, subject="group:club")["entries"] == []
    assert audit(client, auth, subject="member:t-1")["entries"] == []
    assert audit(client, auth, subject="member:vyazma:t-1") == {"entries": [], "next": None}

    response = client.get("/api/v1/sources/institute/audit", headers=VYAZMA)
    assert (response.status_code, response.json["error"]) == (403, "forbidden_source")
    response = client.get("/api/v1/audit", headers=BOTH)
    assert (response.status_code, response.json["error"]) == (400, "source_required")


def test_paging_a_sources_audit_follows_next(client, auth, services):
    services.audit.record_many([entry("member:vyazma:t-1" if i % 2 else "member:t-1", f"g{i}")
                                for i in range(25)])
    page = audit(client, VYAZMA, limit=5)
    seen = [e["target"] for e in page["entries"]]
    while page["next"]:
        page = audit(client, VYAZMA, limit=5, before=page["next"])
        seen += [e["target"] for e in page["entries"]]
    assert seen == [f"g{i}" for i in range(23, 0, -2)]


def test_the_document_lists_the_sources_and_both_path_forms(client, app, services):
    served = client.get("/api/v1/openapi.json").json
    assert served == document(services.config)
    schemas = served["components"]["schemas"]
    assert schemas["SourceCode"]["enum"] == ["institute", "vyazma"]
    assert {"webinar", "master_class"} <= set(schemas["EventKind"]["enum"])
    assert {"winner", "teacher"} <= set(schemas["RoleCode"]["enum"])
    for name in ("MemberState", "EventState", "JobState", "AuditEntry"):
        assert "source" in schemas[name]["required"], name  # every answer says its source
    documented = {re.sub(r"\{(\w+)\}", r"<\1>", path) for path in served["paths"]}
    routes = {rule.rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")}
    assert routes == documented
    item = served["paths"]["/api/v1/sources/{source}/members/{external_id}"]
    assert item["parameters"][0] == {"$ref": "#/components/parameters/Source"}
    assert item["delete"]["responses"]["403"] == {
        "$ref": "#/components/responses/ForbiddenSource"}
    assert "400" not in item["get"]["responses"]  # the path names the source
    assert served["paths"]["/api/v1/members/{external_id}"]["delete"]["responses"]["409"]


def test_a_token_gets_the_document_of_its_own_sources(client, services):
    """Every source's enums would offer values the token's own source refuses with 422."""
    vyazma = services.config.sources["vyazma"]
    schemas = client.get("/api/v1/openapi.json", headers=VYAZMA).json["components"]["schemas"]
    assert schemas["SourceCode"]["enum"] == ["vyazma"]
    assert schemas["EventKind"]["enum"] == sorted(vyazma.events.kinds)
    assert schemas["RoleCode"]["enum"] == sorted(vyazma.roles.roles)
    both = client.get("/api/v1/openapi.json", headers=BOTH).json
    assert both == document(services.config)
    stranger = client.get("/api/v1/openapi.json", headers=bearer("not-a-token-" + "x" * 16))
    assert stranger.json == document(services.config)


def test_an_audit_log_without_sources_keeps_every_entry_shared(services):
    bare = AuditLog(services.redis)
    bare.record(subject="member:vyazma:t-1", action="x", target="y", cause="api")
    assert bare.newest(limit=1)[0].source == ""
