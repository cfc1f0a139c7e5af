"""The whole login over real HTTP: forum -> bridge -> identity provider -> bridge -> forum."""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import parse_qsl

import pytest
from pydiscourse.sso import sso_validate

from bridge import discourse_connect
from config.logging import configure_logging
from sandbox.idp.demo_users import DEMO_USERS
from tests.conftest import API_TOKEN, CONNECT_SECRET
from tests.support.flow import MANAGED_BY_ROLE, TIMEOUT, element_text, get, log_in, query
from tests.support.members import DEMO_MEMBERS

pytestmark = pytest.mark.usefixtures("bridge")


def forum_user(forum, external_id: str) -> dict:
    users = [u for u in forum.state()["users"] if u["external_id"] == external_id]
    assert len(users) == 1, forum.state()["users"]
    return users[0]


def test_first_login_creates_the_forum_account(forum, members, browser, services, bridge, work):
    trace = log_in(browser, forum.url, "t-1001")

    assert trace.last.status_code == 200
    assert trace.last.url == forum.url + "/"
    assert "Иванова Мария Петровна" in element_text(trace.last.text, "current-user")
    # forum -> bridge /sso -> identity provider -> bridge /auth/callback -> forum
    assert trace.visited(bridge.url, "/sso?")
    assert trace.visited(bridge.url, "/auth/callback?")
    assert trace.visited(forum.url, "/session/sso_login?")

    user = forum_user(forum, "t-1001")
    assert user["email"] == "ivanova.mp@teachers.example.org"
    assert user["name"] == "Иванова Мария Петровна"
    assert user["username"] == "ivanova_mp"
    assert set(user["groups"]) == MANAGED_BY_ROLE["participant"] | {"r-vyazma"}
    assert (user["admin"], user["moderator"], user["active"]) == (False, False, True)

    member = services.members.get("t-1001")
    assert member.account == "pending"  # known only once Discourse is asked by external id
    assert member.requested_username == "ivanova_mp"
    assert member.user_id is None
    work()  # the job queued at login learns the forum account by external id
    member = services.members.get("t-1001")
    assert (member.account, member.user_id, member.username) == ("bound", user["id"],
                                                                 "ivanova_mp")
    assert member.applied["groups"] == sorted(MANAGED_BY_ROLE["participant"] | {"r-vyazma"})
    entries = services.audit.newest(limit=2, subject="member:t-1001")
    assert [(e.action, e.cause, e.result) for e in entries] == [
        ("account.bind", "login", "ok"), ("login", "login", "ok"),
    ]


def test_moderator_role_makes_a_forum_moderator(forum, members, browser):
    log_in(browser, forum.url, "t-1002")

    user = forum_user(forum, "t-1002")
    assert user["username"] == "smirnov_av"
    assert user["moderator"] is True
    assert user["admin"] is False
    assert set(user["groups"]) == MANAGED_BY_ROLE["moderator"]


def test_next_login_applies_changed_roles(forum, members, browser, bridge, idp_issuer):
    log_in(browser, forum.url, "t-1001")
    members("t-1001", 2, roles=["winner", "moderator"], attributes={"district": "город Смоленск"})

    # Logging out of the forum ends the bridge's and the identity provider's sessions too.
    logout = get(browser, forum.url + "/logout")
    assert logout.visited(bridge.url, "/logout")
    assert logout.visited(idp_issuer, "/end_session?")
    assert logout.visited(bridge.url, "/logout/done")
    assert logout.last.url == forum.url + "/"
    assert element_text(logout.last.text, "login-link") == "Войти"

    trace = log_in(browser, forum.url, "t-1001")
    assert trace.last.url == forum.url + "/"
    user = forum_user(forum, "t-1001")
    expected = MANAGED_BY_ROLE["winner"] | MANAGED_BY_ROLE["moderator"] | {"r-smolensk"}
    assert set(user["groups"]) == expected  # participants and r-vyazma removed
    assert user["moderator"] is True
    assert user["username"] == "ivanova_mp"  # stable across logins


def test_a_browser_known_to_the_bridge_skips_the_identity_provider(
    forum, members, browser, bridge, idp_issuer
):
    log_in(browser, forum.url, "t-1003")
    forum.control.post(forum.url + "/_sandbox/reset", timeout=5)  # forum forgets the session
    forum.seed(groups=[{"name": "club"}, {"name": "winners"}, {"name": "r-smolensk"}])

    trace = get(browser, forum.url + "/session/sso?return_path=/")

    assert trace.visited(bridge.url, "/sso?")
    assert not trace.visited(idp_issuer, "/authorize")
    assert trace.last.url == forum.url + "/"
    assert set(forum_user(forum, "t-1003")["groups"]) == {"club", "winners", "r-smolensk"}


def test_reply_checked_independently(forum, members, browser, services):
    trace = log_in(browser, forum.url, "t-1002")

    request = query(trace.hop("/sso").url)
    reply_hop = trace.hop("/session/sso_login")
    reply = query(reply_hop.url)
    # pydiscourse's validator: checks the HMAC and hands back the nonce.
    nonce = sso_validate(request["sso"], request["sig"], CONNECT_SECRET)
    assert sso_validate(reply["sso"], reply["sig"], CONNECT_SECRET) == nonce
    fields = dict(parse_qsl(base64.b64decode(reply["sso"]).decode()))
    assert fields == {
        "nonce": nonce,
        "return_sso_url": forum.url + "/session/sso_login",
        "external_id": "t-1002",
        "email": "smirnov.av@teachers.example.org",
        "username": "smirnov_av",
        "name": "Смирнов Алексей Викторович",
        "add_groups": "club,club-mods",
        "remove_groups": fields["remove_groups"],
        "admin": "false",
        "moderator": "true",
        "require_activation": "false",
        "suppress_welcome_message": "true",
        "locale": "ru",
    }
    # Only managed groups, and every managed group the member does not hold is removed.
    removed = set(fields["remove_groups"].split(","))
    assert removed == services.config.roles.managed - {"club", "club-mods"}
    assert discourse_connect.verify(reply["sso"], reply["sig"], CONNECT_SECRET) == fields
    # The reply is single-use on the forum's side: replaying it is refused there.
    replay = browser.get(reply_hop.url, allow_redirects=False, timeout=10)
    assert replay.status_code == 419


@pytest.fixture
def production_logging(caplog):
    """The web process's logging at DEBUG (`configure_logging`), also feeding caplog."""
    root = logging.getLogger()
    quiet = [logging.getLogger(name) for name in ("urllib3", "werkzeug", "authlib")]
    saved = (root.handlers[:], root.level, [logger.level for logger in quiet])
    configure_logging("DEBUG", process="web")
    root.addHandler(caplog.handler)
    caplog.handler.setLevel(logging.DEBUG)
    yield caplog
    root.handlers[:], level, levels = saved
    root.setLevel(level)
    for logger, previous in zip(quiet, levels, strict=True):
        logger.setLevel(previous)


def send_hostile_requests(browser, bridge_url: str) -> None:
    """A newline in a path, a version beyond 2^53 and JSON nested 100,000 deep: all 4xx."""
    api = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}
    member = {"email": "hostile@example.org", "version": 2**63}
    hostile = [
        ("GET", "/api/v1/members/t-1001%0Aforged%20line", None),
        ("PUT", "/api/v1/members/t-1001%0A", json.dumps(member)),
        ("GET", "/admin/members/t-1001%0Aforged", None),
        ("GET", "/sso%0Aforged", None),
        ("PUT", "/api/v1/members/t-9", json.dumps(member)),
        ("PUT", "/api/v1/events/e-9", "[" * 100_000 + "]" * 100_000),
        ("POST", "/api/v1/roster", "[" * 100_000 + "]" * 100_000),
    ]
    for method, path, body in hostile:
        response = browser.request(method, bridge_url + path, data=body, headers=api,
                                   allow_redirects=False, timeout=TIMEOUT)
        assert response.status_code < 500, (method, path, response.status_code)


def test_no_personal_data_secret_or_token_in_the_logs(
    forum, members, browser, services, production_logging, bridge
):
    for sub in ("t-1001", "t-1002", "t-1004", "t-1005"):
        browser.cookies.clear()
        log_in(browser, forum.url, sub)
    get(browser, forum.url + "/logout")
    send_hostile_requests(browser, bridge.url)

    lines = [record.getMessage() for record in production_logging.records]
    text = "\n".join(lines)
    assert "login reply issued: external_id=t-1001" in text
    assert "login refused: external_id=t-1004 is not in the roster" in text
    assert "login refused: external_id=t-1005 is not an active member" in text
    settings = services.settings
    forbidden = [
        settings.discourse_connect_secret,
        settings.oidc_client_secret,
        settings.discourse_api_key,
        settings.secret_key,
        *settings.api_tokens.values(),
        "code_verifier",  # authlib logs the PKCE verifier at DEBUG
        "eyJ",  # the start of any JWT (ID token, access token)
        "sso=",  # a DiscourseConnect payload
        "code=",  # an authorization code in a URL
    ]
    for user in DEMO_USERS:
        forbidden += [user["email"], user["name"], user["family_name"]]
    for desired in DEMO_MEMBERS.values():
        forbidden += [desired["email"], desired["name"]]
    leaks = [(secret, line) for secret in forbidden for line in lines if secret in line]
    assert leaks == []


def test_session_cookie_stays_small(forum, members, browser, bridge):
    log_in(browser, forum.url, "t-1001")
    cookie = next(c for c in browser.cookies if c.name == "bridge_session")
    assert len(cookie.value) < 3000  # browsers drop cookies over 4 KiB
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert not cookie.secure  # the bridge's public URL is http:// here
