"""The API's input rules (PRODUCT.md, "The HTTP API"): each broken rule is a 4xx
with the error body, and nothing is stored or queued.

Each test here reproduces a finding of the security review and the API fuzzing
(issue 9): versions beyond 2^53, nulls, ids with a trailing newline, deeply
nested JSON, non-ASCII digits, odd job ids, 405 without `Allow`.
"""

from __future__ import annotations

import pytest

from bridge.events import PREFIX as EVENT_PREFIX
from bridge.members import PREFIX as MEMBER_PREFIX
from workers.queue import queue

MEMBER = {"email": "ivanova@example.org", "name": "Иванова Мария Петровна",
          "roles": ["winner"], "version": 1}
EVENT = {"title": "Семинар", "kind": "seminar", "starts_at": "2026-12-03T15:00:00+03:00",
         "version": 1}
MAX_VERSION = 2**53 - 1


def nothing_stored(services) -> bool:
    return (len(queue(services.redis_raw)) == 0 and services.members.all_ids() == []
            and not services.redis.keys(EVENT_PREFIX + "*"))


def assert_refused(response, services, status: int = 422) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert set(response.json) == {"error", "message", "details"}
    assert nothing_stored(services)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# -- 1. versions are integers 0 ≤ v ≤ 2^53−1, compared exactly --------------------------


@pytest.mark.parametrize("version", [2**53, 2**63, 1_700_000_000_000_000_000, -1])
@pytest.mark.parametrize(("path", "body"), [("/api/v1/members/t-1", MEMBER),
                                            ("/api/v1/events/e-1", EVENT)])
def test_a_version_out_of_range_is_refused(client, auth, services, path, body, version):
    assert_refused(client.put(path, json={**body, "version": version}, headers=auth), services)


def test_a_roster_version_out_of_range_is_refused(client, auth, services):
    row = {**MEMBER, "external_id": "t-1", "version": 2**63}
    assert_refused(client.post("/api/v1/roster", json=[row], headers=auth), services)


def test_the_largest_version_is_stored_and_compared_exactly(client, auth, services):
    path = "/api/v1/members/t-1"
    assert client.put(path, json={**MEMBER, "version": MAX_VERSION - 1},
                      headers=auth).status_code == 202
    assert client.put(path, json={**MEMBER, "version": MAX_VERSION},
                      headers=auth).status_code == 202
    assert client.put(path, json={**MEMBER, "version": MAX_VERSION - 1},
                      headers=auth).status_code == 200  # older: ignored
    assert client.get(path, headers=auth).json["version"] == MAX_VERSION


@pytest.mark.parametrize("version", [0, 9, 10**15 - 1, 10**15, MAX_VERSION - 1, MAX_VERSION])
def test_the_next_version_keeps_every_digit(client, auth, services, version):
    """Lua numbers are doubles: the script counts in decimal strings instead."""
    assert client.put("/api/v1/events/e-1", json={**EVENT, "version": version},
                      headers=auth).status_code == 202
    withdrawn = client.delete("/api/v1/events/e-1", headers=auth)  # no version: the next one
    assert withdrawn.status_code == 202
    assert withdrawn.json["version"] == version + 1
    assert client.get("/api/v1/events/e-1", headers=auth).json["version"] == version + 1
    assert services.redis.hget(EVENT_PREFIX + "e-1", "version") == str(version + 1)


def test_a_stored_legacy_float_version_breaks_nothing(client, auth, services):
    """Before the fix, 2^63 was stored as the float `9.2233720368547758e+18`: reads crashed."""
    assert client.put("/api/v1/members/t-1", json=MEMBER, headers=auth).status_code == 202
    services.redis.hset(MEMBER_PREFIX + "t-1", "version", "9.2233720368547758e+18")
    assert client.get("/api/v1/members/t-1", headers=auth).status_code == 200
    roster = [{**MEMBER, "external_id": "t-1", "version": 2}]
    assert client.post("/api/v1/roster?dry_run=true", json=roster, headers=auth).status_code == 200
    renewed = client.put("/api/v1/members/t-1", json={**MEMBER, "version": 5}, headers=auth)
    assert renewed.status_code == 202  # a real version replaces the unusable one
    assert client.get("/api/v1/members/t-1", headers=auth).json["version"] == 5


# -- 2. null only where the document says nullable -------------------------------------


@pytest.mark.parametrize("field", ["version", "username", "name", "email", "roles", "active"])
def test_null_member_fields_are_refused(client, auth, services, field):
    response = client.put("/api/v1/members/t-1", json={**MEMBER, field: None}, headers=auth)
    assert_refused(response, services)


@pytest.mark.parametrize("field", ["version", "title", "kind", "starts_at", "status", "audience"])
def test_null_event_fields_are_refused(client, auth, services, field):
    response = client.put("/api/v1/events/e-1", json={**EVENT, field: None}, headers=auth)
    assert_refused(response, services)


def test_documented_nullable_event_fields_accept_null(client, auth):
    body = {**EVENT, "location": None, "url": None, "description": None, "ends_at": None}
    assert client.put("/api/v1/events/e-1", json=body, headers=auth).status_code == 202


# -- 3. ids match whole strings ---------------------------------------------------------


@pytest.mark.parametrize("resource", ["members", "events"])
def test_an_id_with_a_trailing_newline_is_refused(client, auth, services, resource):
    body = MEMBER if resource == "members" else EVENT
    assert_refused(client.put(f"/api/v1/{resource}/t-1%0A", json=body, headers=auth), services)
    assert client.get(f"/api/v1/{resource}/t-1%0A", headers=auth).status_code in (404, 422)


def test_a_roster_id_with_a_trailing_newline_is_refused(client, auth, services):
    row = {**MEMBER, "external_id": "t-1\n"}
    assert_refused(client.post("/api/v1/roster", json=[row], headers=auth), services)


def test_an_existing_member_is_not_found_by_its_id_and_a_newline(client, auth):
    assert client.put("/api/v1/members/t-1", json=MEMBER, headers=auth).status_code == 202
    assert client.get("/api/v1/members/t-1%0A", headers=auth).status_code == 404
    assert client.delete("/api/v1/members/t-1%0A", headers=auth).status_code in (404, 422)


def whole_string_patterns():
    from bridge import audit, discourse_connect, members
    from sso import _ERROR_CODE, _NONCE
    from web.admin import roster as admin
    from workers.queue import JOB_ID

    return [(members.EXTERNAL_ID, "t-1"), (JOB_ID, "job-1"), (audit.ENTRY_ID, "1-1"),
            (admin._ROSTER_KEY, "k" * 16), (audit.SUBJECT, "member:t-1"), (_NONCE, "n0"),
            (_ERROR_CODE, "access_denied"), (discourse_connect._HEX_SIGNATURE, "a" * 64)]


def test_id_patterns_match_whole_strings_only():
    """Python's `$` also matches before a final newline: every id check uses `\\Z`."""
    for pattern, valid in whole_string_patterns():
        assert pattern.match(valid), pattern
        assert not pattern.match(valid + "\n"), pattern


# -- 4. JSON nested deeper than 32 levels ----------------------------------------------


@pytest.mark.parametrize(("method", "path"), [
    ("PUT", "/api/v1/members/t-1"), ("PUT", "/api/v1/events/e-1"), ("POST", "/api/v1/roster")])
@pytest.mark.parametrize("depth", [33, 100_000])
def test_deeply_nested_json_is_refused(client, auth, services, method, path, depth):
    response = client.open(path, method=method, data=nested(depth),
                           headers={**auth, "Content-Type": "application/json"})
    assert_refused(response, services)
    assert response.json["error"] == "too_deeply_nested"


def test_json_nested_32_levels_is_read(client, auth, services):
    """32 levels are fine: the refusal is then about the content, not the depth."""
    body = '{"email": "a@example.org", "attributes": {"x": ' + nested(30) + "}}"
    response = client.put("/api/v1/members/t-1", data=body,
                          headers={**auth, "Content-Type": "application/json"})
    assert_refused(response, services)
    assert response.json["error"] != "too_deeply_nested"


def test_brackets_inside_strings_do_not_count_as_depth(client, auth):
    body = {**MEMBER, "name": "[{" * 100 + '"\\' + "}]" * 3}
    assert client.put("/api/v1/members/t-1", json=body, headers=auth).status_code == 202


# -- 5. numbers in query strings are ASCII digits --------------------------------------


@pytest.mark.parametrize("version", ["²", "١", "１", "+1", " 1", "1_0", str(2**53)])
def test_a_withdrawal_version_must_be_ascii_digits_in_range(client, auth, services, version):
    assert client.put("/api/v1/events/e-1", json=EVENT, headers=auth).status_code == 202
    before = services.redis.hgetall(EVENT_PREFIX + "e-1")
    response = client.delete("/api/v1/events/e-1", query_string={"version": version},
                             headers=auth)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert set(response.json) == {"error", "message", "details"}
    assert services.redis.hgetall(EVENT_PREFIX + "e-1") == before


@pytest.mark.parametrize("query", [{"before": "١-١"}, {"before": "1-1\n"}, {"limit": "١٠"},
                                   {"limit": "²"}, {"limit": " 10"}, {"limit": "0"},
                                   {"before": "99999999999999999999-0"}])
def test_audit_parameters_must_be_ascii(client, auth, query):
    response = client.get("/api/v1/audit", query_string=query, headers=auth)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert set(response.json) == {"error", "message", "details"}


# -- 6. a job id of any shape -----------------------------------------------------------


@pytest.mark.parametrize("job_id", ["a.b", "a%20b", "..", "a:b", "%0A", "x" * 300])
def test_a_job_id_of_any_shape_is_404(client, auth, job_id):
    response = client.get(f"/api/v1/jobs/{job_id}", headers=auth)
    assert response.status_code == 404
    assert set(response.json) == {"error", "message", "details"}


# -- 8. 405 says which methods there are -----------------------------------------------


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("POST", "/api/v1/members/t-1", {"GET", "PUT", "DELETE"}),
    ("PUT", "/api/v1/roster", {"POST"}),
    ("DELETE", "/api/v1/audit", {"GET"}),
])
def test_405_keeps_the_allow_header(client, auth, method, path, allowed):
    response = client.open(path, method=method, headers=auth)
    assert response.status_code == 405
    assert set(response.json) == {"error", "message", "details"}
    assert allowed <= {m.strip() for m in response.headers.get("Allow", "").split(",")}
