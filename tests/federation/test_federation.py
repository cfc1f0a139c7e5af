"""Federation over the sandbox: two sources, two identity providers, one forum.

Through the public API and real logins (forum -> bridge chooser -> the chosen
source's provider -> bridge -> forum): each source's members get their own
groups; a listing whose e-mail belongs to another source's member's account
reaches nothing until the person logs in through both in one browser; then
both listings are one account with the union of their grants; each source's
roster and erasure act on that source's grants only.
"""

from __future__ import annotations

import pytest
import requests

from tests.support.federation import MARIA_EMAIL
from tests.support.flow import TIMEOUT, click, element_text, get, query

from .flow import log_in_through, start_login

pytestmark = pytest.mark.usefixtures("bridge")

MARIA_INSTITUTE = {"email": MARIA_EMAIL, "name": "Иванова Мария Петровна",
                   "roles": ["participant"], "attributes": {"district": "Вяземский район"}}
MARIA_VYAZMA = {"email": MARIA_EMAIL, "name": "Иванова Мария Петровна", "roles": ["mentor"]}
INSTITUTE_GROUPS = {"club", "participants", "r-vyazma"}
VYAZMA_GROUPS = {"club", "r-vyazma", "vyazma-mo"}


def put(client, headers, source, external_id, body, version=1):
    response = client.put(f"/api/v1/sources/{source}/members/{external_id}",
                          json={**body, "version": version}, headers=headers)
    assert response.status_code == 202, response.json
    return response


def users(forum, **match) -> list[dict]:
    return [u for u in forum.state()["users"]
            if all(u.get(key) == value for key, value in match.items())]


def the_user(forum, **match) -> dict:
    found = users(forum, **match)
    assert len(found) == 1, (match, forum.state()["users"])
    return found[0]


def current_user(forum, browser) -> dict:
    response = browser.get(forum.url + "/session/current.json", timeout=TIMEOUT)
    if response.status_code == 404:  # Discourse's answer when nobody is logged in
        return None
    assert response.status_code == 200, response.text
    return response.json()["current_user"]


@pytest.fixture
def maria(client, tokens, forum):
    """Maria, listed by both sources with one e-mail; Ivan (Vyazma) and Olga (institute)."""
    put(client, tokens["institute"], "institute", "t-1001", MARIA_INSTITUTE)
    put(client, tokens["vyazma"], "vyazma", "v-2001", MARIA_VYAZMA)


def test_each_source_member_gets_their_sources_groups(client, tokens, forum, browser, work):
    put(client, tokens["institute"], "institute", "t-1003",
        {"email": "kuznetsova.oi@teachers.example.org", "name": "Кузнецова Ольга Игоревна",
         "roles": ["winner"], "attributes": {"district": "город Смоленск"}})
    put(client, tokens["vyazma"], "vyazma", "v-2002",
        {"email": "petrov.is@vyazma.example.org", "name": "Петров Иван Сергеевич",
         "roles": ["teacher"]})
    work()
    log_in_through(browser, forum.url, "institute", "t-1003")
    with requests.Session() as other:
        log_in_through(other, forum.url, "vyazma", "v-2002")
    work()
    assert set(the_user(forum, external_id="t-1003")["groups"]) == {"club", "winners",
                                                                     "r-smolensk"}
    assert set(the_user(forum, external_id="vyazma:v-2002")["groups"]) == {"club", "r-vyazma"}
    olga = client.get("/api/v1/members/t-1003", headers=tokens["institute"]).json
    assert (olga["source"], olga["external_id"]) == ("institute", "t-1003")
    assert olga["account"] == "bound"
    ivan = client.get("/api/v1/sources/vyazma/members/v-2002", headers=tokens["vyazma"]).json
    assert (ivan["source"], ivan["external_id"]) == ("vyazma", "v-2002")


def test_before_linking_the_other_sources_login_changes_nothing(forum, maria, browser, work,
                                                                 sandbox):
    log_in_through(browser, forum.url, "institute", "t-1001")
    work()
    before = forum.state()["users"]
    calls = sandbox.stats()
    with requests.Session() as fresh:  # another browser: nothing proves the institute login
        trace = log_in_through(fresh, forum.url, "vyazma", "v-2001")
        assert trace.last.status_code == 409
        assert 'data-testid="link-required"' in trace.last.text
        assert "Смоленский областной институт развития образования" in trace.last.text
        assert not trace.visited(forum.url, "/session/sso_login")
        assert current_user(forum, fresh) is None
    work()
    assert forum.state()["users"] == before
    assert sandbox.stats() == calls  # not one call reached the forum


def test_logging_in_through_both_links_the_listings(client, tokens, forum, maria, browser,
                                                     work):
    log_in_through(browser, forum.url, "institute", "t-1001")
    work()
    maria_account = the_user(forum, external_id="t-1001")
    trace = log_in_through(browser, forum.url, "vyazma", "v-2001")  # the same browser
    assert trace.visited(forum.url, "/session/sso_login"), trace.urls
    work()
    assert current_user(forum, browser)["id"] == maria_account["id"]
    assert users(forum, external_id="vyazma:v-2001") == []
    assert set(the_user(forum, external_id="t-1001")["groups"]) == INSTITUTE_GROUPS | VYAZMA_GROUPS
    linked = client.get("/api/v1/sources/vyazma/members/v-2001", headers=tokens["vyazma"]).json
    assert linked["account"] == "linked"
    assert linked["linked_to"] == {"source": "institute", "external_id": "t-1001"}

    for source, sub in (("vyazma", "v-2001"), ("institute", "t-1001")):
        with requests.Session() as fresh:
            log_in_through(fresh, forum.url, source, sub)
            assert current_user(forum, fresh)["id"] == maria_account["id"], source
    work()
    assert len(users(forum, email=MARIA_EMAIL)) == 1


def linked_maria(client, tokens, forum, browser, work) -> dict:
    log_in_through(browser, forum.url, "institute", "t-1001")
    work()
    log_in_through(browser, forum.url, "vyazma", "v-2001")
    work()
    return the_user(forum, external_id="t-1001")


def test_one_sources_roster_removes_only_its_own_grants(client, tokens, forum, maria, browser,
                                                        work):
    account = linked_maria(client, tokens, forum, browser, work)
    logouts = account.get("logged_out_count", 0)
    roster = [{"external_id": "t-1003", "email": "kuznetsova.oi@teachers.example.org",
               "name": "Кузнецова Ольга Игоревна", "roles": ["winner"]}]
    response = client.post("/api/v1/sources/institute/roster?force=true", json=roster,
                           headers=tokens["institute"])
    assert response.status_code == 202, response.json
    assert response.json["offboarded"] == 1
    work()
    after = the_user(forum, external_id="t-1001")
    assert after["id"] == account["id"]
    assert set(after["groups"]) == VYAZMA_GROUPS
    assert not after.get("anonymized")
    assert after.get("logged_out_count", 0) == logouts
    vyazma = client.get("/api/v1/sources/vyazma/members/v-2001", headers=tokens["vyazma"]).json
    assert vyazma["desired"]["active"] is True


def test_an_erasure_while_another_source_lists_the_person_is_refused(client, tokens, forum,
                                                                     maria, browser, work):
    account = linked_maria(client, tokens, forum, browser, work)
    refused = client.delete("/api/v1/sources/institute/members/t-1001?erase=true",
                            headers=tokens["institute"])
    assert refused.status_code == 409
    assert refused.json["error"] == "listed_elsewhere"
    assert refused.json["details"] == {"sources": ["vyazma"]}
    work()
    assert not the_user(forum, id=account["id"]).get("anonymized")

    forced = client.delete("/api/v1/sources/institute/members/t-1001?erase=true&force=true",
                           headers=tokens["institute"])
    assert forced.status_code == 202
    work()
    assert client.get(forced.json["status_url"], headers=tokens["institute"]).json["status"] \
        == "finished"
    assert the_user(forum, id=account["id"])["anonymized"]
    vyazma = client.get("/api/v1/sources/vyazma/members/v-2001", headers=tokens["vyazma"]).json
    assert vyazma["desired"]["active"] is True
    assert "linked_to" not in vyazma


def test_a_token_acts_for_its_own_source_only(client, tokens, maria):
    paths = ["/api/v1/sources/vyazma/members/v-2001", "/api/v1/sources/vyazma/roster",
             "/api/v1/sources/vyazma/audit"]
    assert client.get(paths[0], headers=tokens["institute"]).status_code == 403
    assert client.post(paths[1], json=[], headers=tokens["institute"]).status_code == 403
    assert client.put(paths[0], json={"email": "x@example.org"},
                      headers=tokens["institute"]).status_code == 403
    assert client.delete(paths[0], headers=tokens["institute"]).status_code == 403
    # An id only the other source has is simply not there in one's own source.
    assert client.get("/api/v1/members/v-2001", headers=tokens["institute"]).status_code == 404
    assert client.get("/api/v1/members/v-2001", headers=tokens["vyazma"]).status_code == 200


def authorization_response(browser, forum_url, source, sub) -> dict[str, str]:
    """Where `source`'s provider sends the browser back: code, state, iss (not followed)."""
    page = start_login(browser, forum_url, source).last
    back = click(browser, page, f"login-{sub}", follow=False).last
    assert back.is_redirect
    return query(back.headers["Location"])


def test_a_code_or_issuer_of_another_provider_is_refused(forum, maria, browser, issuers,
                                                         bridge, work):
    started = start_login(browser, forum.url, "institute")  # the attempt is bound to it
    state = query(started.last.url)["state"]
    with requests.Session() as elsewhere:
        foreign = authorization_response(elsewhere, forum.url, "vyazma", "v-2001")
    assert foreign["iss"] == issuers["vyazma"]
    mixed = get(browser, bridge.url + "/auth/callback?" + requests.compat.urlencode(
        {"code": foreign["code"], "state": state, "iss": foreign["iss"]}))
    assert mixed.last.status_code == 400
    assert "другой организации" in element_text(mixed.last.text, "error-title")

    with requests.Session() as fresh:
        own = authorization_response(fresh, forum.url, "institute", "t-1001")
        spoofed = get(fresh, bridge.url + "/auth/callback?" + requests.compat.urlencode(
            {**own, "iss": issuers["vyazma"]}))
        assert spoofed.last.status_code == 400
        assert current_user(forum, fresh) is None
    work()
    assert users(forum, email=MARIA_EMAIL) == []


def test_a_token_of_several_sources_must_name_one(client, tokens, maria):
    response = client.get("/api/v1/members/t-1001", headers=tokens["network"])
    assert response.status_code == 400
    assert response.json["error"] == "source_required"
    for source, local_id in (("institute", "t-1001"), ("vyazma", "v-2001")):
        named = client.get(f"/api/v1/sources/{source}/members/{local_id}",
                           headers=tokens["network"])
        assert named.status_code == 200
        assert named.json["source"] == source
    assert client.get("/api/v1/sources/nowhere/members/x",
                      headers=tokens["network"]).status_code == 404


def test_a_roster_speaks_its_sources_ids_and_legacy_ids_stay_unambiguous(client, tokens,
                                                                         maria):
    roster = [{"external_id": "v-2002", "email": "petrov.is@vyazma.example.org",
               "roles": ["teacher"]}]
    preview = client.post("/api/v1/sources/vyazma/roster?dry_run=true", json=roster,
                          headers=tokens["vyazma"])
    assert preview.status_code == 200
    assert preview.json["diff"]["new_members"] == ["v-2002"]
    assert preview.json["diff"]["offboarded"] == ["v-2001"]  # only its own source's members
    clash = client.put("/api/v1/members/vyazma:v-9", json={"email": "a@example.org"},
                       headers=tokens["institute"])
    assert clash.status_code == 422
    assert clash.json["error"] == "invalid_external_id"


def test_members_stored_before_the_federation_are_checked_too(forum, maria, browser, work,
                                                              services):
    log_in_through(browser, forum.url, "institute", "t-1001")
    work()
    from bridge.members import EMAIL_INDEX, EMAIL_INDEX_BUILT

    services.redis.delete(EMAIL_INDEX_BUILT, *services.redis.keys(EMAIL_INDEX + "*"))
    with requests.Session() as fresh:
        trace = log_in_through(fresh, forum.url, "vyazma", "v-2001")
    assert trace.last.status_code == 409
    assert the_user(forum, email=MARIA_EMAIL)["external_id"] == "t-1001"


def test_a_sources_administrator_logs_in_through_it_and_sees_only_it(client, tokens, maria,
                                                                     browser, bridge):
    put(client, tokens["vyazma"], "vyazma", "v-2002",
        {"email": "petrov.is@vyazma.example.org", "name": "Петров Иван Сергеевич",
         "roles": ["methodist"]})
    start = get(browser, bridge.url + "/auth/admin?source=vyazma")
    assert "/authorize" in start.last.url, start.urls
    landed = click(browser, start.last, "login-v-2002")
    assert landed.last.status_code == 200, landed.urls
    assert landed.last.url.rstrip("/").endswith("/admin")

    own = browser.get(bridge.url + "/admin/members/vyazma:v-2001", timeout=TIMEOUT)
    assert own.status_code == 200
    other = browser.get(bridge.url + "/admin/members/t-1001", timeout=TIMEOUT)
    assert other.status_code == 404  # the institute's member is not this administrator's
    # A teacher of the same source without an admin role gets no admin pages.
    with requests.Session() as teacher:
        start = get(teacher, bridge.url + "/auth/admin?source=vyazma")
        landed = click(teacher, start.last, "login-v-2001")
        assert "/admin/login" in landed.last.url, landed.urls
