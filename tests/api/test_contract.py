"""The API keeps to its own OpenAPI document, and bad input never gets a 5xx.

Every exchange below is checked against `/api/v1/openapi.json` with openapi-core
(request and response), and hypothesis throws arbitrary bodies and ids at the
write endpoints: the answer is a 4xx with the error shape, and nothing is
stored or queued.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import email_validator
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_core import OpenAPI
from openapi_core.exceptions import OpenAPIError
from openapi_core.testing import MockRequest, MockResponse
from openapi_spec_validator import validate

from bridge import names
from bridge.events import PREFIX as EVENT_PREFIX
from web.api.openapi import document, email_pattern, spec, username_pattern
from workers.queue import queue

MEMBER = {"email": "ivanova@example.org", "name": "Иванова Мария Петровна",
          "roles": ["winner"], "attributes": {"district": "Вяземский район"}, "version": 1}
EVENT = {"title": "Семинар по наставничеству", "kind": "seminar",
         "starts_at": "2026-12-03T15:00:00+03:00", "ends_at": "2026-12-03T17:00:00+03:00",
         "location": "СОИРО", "description": "Разговор о наставничестве.", "version": 1}


@pytest.fixture(scope="module")
def openapi():
    document = spec()
    validate(document)
    return OpenAPI.from_dict(document)


def check(openapi, response, *, bad_request: bool = False):
    """Validate one exchange of the Flask test client against the document.

    With `bad_request`, the document must refuse the request too: the
    implementation and its description agree on what is invalid.
    """
    sent = response.request
    request = MockRequest(
        "http://localhost", sent.method.lower(), sent.path, args=dict(sent.args),
        headers=dict(sent.headers), data=sent.environ["bridge.test_body"],
        content_type=sent.mimetype or "application/json",
    )
    if bad_request:
        with pytest.raises(OpenAPIError):
            openapi.validate_request(request)
    else:
        openapi.validate_request(request)
    openapi.validate_response(request, MockResponse(
        response.get_data(), status_code=response.status_code, headers=dict(response.headers),
        content_type=response.mimetype))
    return response


@pytest.fixture
def client(app):
    """A test client that keeps each request's body, for the request's validation."""
    from flask.testing import FlaskClient

    class RecordingClient(FlaskClient):
        def open(self, *args, **kwargs):
            builder = kwargs.get("json")
            body = b"" if builder is None else json.dumps(builder).encode()
            kwargs.setdefault("environ_overrides", {})["bridge.test_body"] = body
            return super().open(*args, **kwargs)

    app.test_client_class = RecordingClient
    return app.test_client()


def test_unrouted_api_paths_answer_in_the_error_format(client, auth):
    for path in ("/api/v1/members/", "/api/v1/nothing", "/api/v2/members/x"):
        response = client.get(path, headers=auth)
        assert response.status_code == 404
        assert set(response.json) == {"error", "message", "details"}
    assert client.post("/api/v1/members/x", headers=auth).status_code == 405


def test_the_document_is_served_and_covers_every_route(client, app, services):
    served = client.get("/api/v1/openapi.json").json
    assert served == document(services.config)
    schemas = served["components"]["schemas"]
    assert schemas["RoleCode"]["enum"] == sorted(services.config.roles.roles)
    assert schemas["EventKind"]["enum"] == sorted(services.config.events.kinds)
    documented = {re.sub(r"\{(\w+)\}", r"<\1>", path) for path in served["paths"]}
    routes = {rule.rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")}
    assert routes == documented


def test_member_exchanges_match_the_document(openapi, client, auth, sandbox, work):
    check(openapi, client.put("/api/v1/members/t-1", json=MEMBER, headers=auth))
    check(openapi, client.put("/api/v1/members/t-1", json=MEMBER, headers=auth))  # ignored
    check(openapi, client.get("/api/v1/members/t-1", headers=auth))
    accepted = check(openapi, client.delete("/api/v1/members/t-1", headers=auth))
    check(openapi, client.get(accepted.json["status_url"], headers=auth))
    work()
    check(openapi, client.get("/api/v1/audit?limit=5", headers=auth))
    for bad in ({**MEMBER, "email": "nope"}, {**MEMBER, "active": "yes"}, {**MEMBER, "x": 1}):
        check(openapi, client.put("/api/v1/members/t-2", json=bad, headers=auth),
              bad_request=True)
    check(openapi, client.get("/api/v1/members/t-404", headers=auth))
    check(openapi, client.get("/api/v1/members/t-1"), bad_request=True)  # no token
    roster = [{**MEMBER, "external_id": "t-3"}]
    check(openapi, client.post("/api/v1/roster?dry_run=true", json=roster, headers=auth))
    check(openapi, client.post("/api/v1/roster", json=roster, headers=auth))


def test_event_exchanges_match_the_document(openapi, client, auth, sandbox):
    check(openapi, client.put("/api/v1/events/ev-1", json=EVENT, headers=auth))
    check(openapi, client.get("/api/v1/events/ev-1", headers=auth))
    check(openapi, client.put("/api/v1/events/ev-1", json={**EVENT, "title": ""},
                              headers=auth), bad_request=True)
    check(openapi, client.put("/api/v1/events/ev-1", json={**EVENT, "kind": "party"},
                              headers=auth))  # the document cannot know events.yml
    check(openapi, client.delete("/api/v1/events/ev-1", headers=auth))
    check(openapi, client.get("/api/v1/events/ev-404", headers=auth))


def test_source_path_exchanges_match_the_document(openapi, client, auth, sandbox, work):
    base = "/api/v1/sources/default"
    accepted = check(openapi, client.put(f"{base}/events/ev-1", json=EVENT, headers=auth))
    assert "source" not in accepted.json  # one source: the answers are as they always were
    check(openapi, client.get(accepted.json["status_url"], headers=auth))
    check(openapi, client.get(f"{base}/events/ev-1", headers=auth))
    check(openapi, client.put(f"{base}/members/t-1", json=MEMBER, headers=auth))
    work()
    check(openapi, client.get(f"{base}/members/t-1", headers=auth))
    entries = check(openapi, client.get(f"{base}/audit?limit=5", headers=auth)).json["entries"]
    assert entries
    assert all("source" not in e for e in entries)
    check(openapi, client.delete(f"{base}/members/t-1", headers=auth))
    check(openapi, client.get("/api/v1/sources/nowhere/events/ev-1", headers=auth))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
member_like = st.fixed_dictionaries(
    {}, optional={key: json_values for key in (*MEMBER, "username", "active", "extra")})
event_like = st.fixed_dictionaries(
    {}, optional={key: json_values for key in (*EVENT, "url", "audience", "status", "extra")})
ids = st.text(min_size=1, max_size=80).filter(lambda s: "/" not in s and s not in (".", ".."))


def nothing_stored(services) -> bool:
    return (len(queue(services.redis_raw)) == 0 and services.members.all_ids() == []
            and not services.redis.keys(EVENT_PREFIX + "*"))


@pytest.mark.parametrize(("resource", "shape"), [("members", member_like), ("events", event_like)])
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), external_id=ids)
def test_fuzzed_writes_never_fail_the_server(client, auth, services, resource, shape, data,
                                             external_id):
    services.redis.flushdb()
    body = data.draw(st.one_of(shape, json_values), label="body")
    response = client.put(f"/api/v1/{resource}/{quote(external_id, safe='')}", json=body,
                          headers=auth)
    assert response.status_code < 500
    if response.status_code >= 400:
        assert set(response.json) == {"error", "message", "details"}
        assert nothing_stored(services)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.lists(member_like, max_size=3), json_values))
def test_fuzzed_rosters_never_fail_the_server(client, auth, services, body):
    services.redis.flushdb()
    response = client.post("/api/v1/roster", json=body, headers=auth)
    assert response.status_code < 500
    if response.status_code >= 400:
        assert set(response.json) == {"error", "message", "details"}
        assert nothing_stored(services)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200), mimetype=st.sampled_from(
    ["application/json", "text/csv", "text/plain", "application/x-www-form-urlencoded"]))
def test_raw_bodies_never_fail_the_server(client, auth, services, raw, mimetype):
    services.redis.flushdb()
    for method, path in (("PUT", "/api/v1/members/t-1"), ("PUT", "/api/v1/events/e-1"),
                         ("POST", "/api/v1/roster")):
        response = client.open(path, method=method, data=raw, headers={
            **auth, "Content-Type": mimetype})
        assert response.status_code < 500, (path, raw)
        if response.status_code >= 400:
            assert nothing_stored(services)


names_like = st.text(alphabet="abXY09_.-й \n", max_size=24) | st.sampled_from(
    sorted(names.RESERVED) + [f"ab.{ext.upper()}" for ext in names.FILE_EXTENSIONS])


@settings(max_examples=300, deadline=None)
@given(name=names_like)
def test_the_documented_username_rule_is_discourses(name):
    """The served pattern (with minLength/maxLength) says what bridge.names says."""
    documented = 3 <= len(name) <= 20 and re.fullmatch(username_pattern(), name) is not None
    assert documented == names.is_valid_name(name)


@settings(max_examples=300, deadline=None)
@given(address=st.emails() | st.text(alphabet="ab0.-_@+", max_size=20).map(lambda t: t + ".org"))
def test_every_documented_email_is_one_the_validator_accepts(address):
    if re.fullmatch(email_pattern(), address) and len(address) <= 254:
        email_validator.validate_email(address, check_deliverability=False)
