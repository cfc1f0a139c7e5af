"""Every way a login can go wrong ends on a Russian page with a clear status, never a 500,
with no reply to the forum and no forum account."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import parse_qsl, urlencode

import pytest
import requests
from pydiscourse.sso import sso_payload

from sso import LOGIN_KEY
from tests.support.flow import TIMEOUT, attribute, click, element_text, get, log_in, query, walk


@pytest.fixture
def secret(services) -> str:
    return services.settings.discourse_connect_secret


def signed(secret: str, **fields: str) -> dict[str, str]:
    """A DiscourseConnect request signed the way Discourse does (built with pydiscourse)."""
    return dict(parse_qsl(sso_payload(secret, **fields)))


def raw_signed(secret: str, sso: str) -> dict[str, str]:
    return {"sso": sso, "sig": hmac.new(secret.encode(), sso.encode(), hashlib.sha256).hexdigest()}


def assert_refused(response, status: int, *, retry: bool | None = None) -> None:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert '<html lang="ru">' in html
    assert element_text(html, "error-title")
    assert "Location" not in response.headers
    if retry is not None:
        assert (attribute(html, "retry-link", "href") is not None) is retry


def assert_nothing_stored(client) -> None:
    with client.session_transaction() as session:
        assert LOGIN_KEY not in session


# -- refusals at /sso (the request from the forum) ----------------------------------------


@pytest.fixture
def good(secret, sandbox) -> dict[str, str]:
    return {"nonce": secrets.token_hex(16), "return_sso_url": sandbox.url + "/session/sso_login"}


def test_a_valid_request_goes_straight_to_the_identity_provider(client, secret, good, idp_issuer):
    response = client.get("/sso", query_string=signed(secret, **good))

    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(idp_issuer + "/authorize?")
    params = query(location)
    assert params["code_challenge_method"] == "S256"
    assert all(params.get(name) for name in ("code_challenge", "state", "nonce"))
    assert params["redirect_uri"].endswith("/auth/callback")
    with client.session_transaction() as session:
        assert session[LOGIN_KEY] == good


def test_tampered_signature(client, secret, good):
    request = signed(secret, **good)
    request["sig"] = ("0" if request["sig"][0] != "0" else "1") + request["sig"][1:]

    response = client.get("/sso", query_string=request)

    assert_refused(response, 403, retry=True)
    assert_nothing_stored(client)


def test_signature_with_another_secret(client, good):
    response = client.get("/sso", query_string=signed("not-the-shared-secret", **good))
    assert_refused(response, 403)
    assert_nothing_stored(client)


@pytest.mark.parametrize(
    "return_sso_url",
    [
        "https://evil.example/session/sso_login",
        "{forum}.evil.example/session/sso_login",
        "{forum}/session/sso_login/../../evil",
        "{forum}/session/sso_login?next=https://evil.example",
        "{forum}/session/other",
        "//evil.example/session/sso_login",
        "",
    ],
)
def test_foreign_return_sso_url(client, secret, good, sandbox, return_sso_url):
    fields = {**good, "return_sso_url": return_sso_url.format(forum=sandbox.url)}

    response = client.get("/sso", query_string=signed(secret, **fields))

    assert_refused(response, 400, retry=False)
    assert "evil" not in response.get_data(as_text=True)
    assert_nothing_stored(client)


@pytest.mark.parametrize(
    "query_string",
    [
        {},
        {"sso": "bm9uY2U9MQ=="},
        {"sig": "0" * 64},
        {"sso": "", "sig": ""},
        {"sso": "%%%not base64%%%", "sig": "0" * 64},
    ],
)
def test_missing_or_garbled_payload(client, query_string):
    assert_refused(client.get("/sso", query_string=query_string), 400)
    assert_nothing_stored(client)


@pytest.mark.parametrize(
    "text",
    [
        b"\xff\xfe not utf-8",
        b"return_sso_url=x",  # no nonce
        b"nonce=&return_sso_url=x",
        b"just some text",
    ],
)
def test_signed_payload_without_usable_fields(client, secret, text):
    response = client.get("/sso", query_string=raw_signed(secret, base64.b64encode(text).decode()))
    assert_refused(response, 400)
    assert_nothing_stored(client)


def test_url_safe_base64_is_refused(client, secret, good):
    # '~' is 0x7E: one of three in a row falls on a base64 quantum's last 6 bits, '+'.
    standard = base64.b64encode((urlencode(good) + "&pad=~~~").encode()).decode()
    assert "+" in standard
    url_safe = standard.replace("+", "-").replace("/", "_")
    assert client.get("/sso", query_string=raw_signed(secret, standard)).status_code == 302

    response = client.get("/sso", query_string=raw_signed(secret, url_safe))

    assert_refused(response, 400)


# -- refusals after the identity provider, over real HTTP ----------------------------------


@pytest.mark.usefixtures("bridge")
class TestOverHttp:
    def test_not_a_member(self, forum, members, browser, services):
        trace = log_in(browser, forum.url, "t-1004")

        page = trace.last
        assert page.status_code == 403
        assert "/auth/callback" in page.url
        assert "Смоленский областной институт развития образования" in element_text(
            page.text, "join-info"
        )
        assert not trace.visited(forum.url, "/session/sso_login")
        assert forum.state()["users"] == []
        assert services.members.get("t-1004") is None

    def test_inactive_member(self, forum, members, browser, services):
        trace = log_in(browser, forum.url, "t-1005")

        assert trace.last.status_code == 403
        assert element_text(trace.last.text, "join-info")
        assert forum.state()["users"] == []
        assert services.members.get("t-1005").account == "unknown"

    def test_offboarded_member(self, forum, members, browser, services):
        desired = {"email": "kuznetsova.oi@teachers.example.org", "roles": ["winner"]}
        services.members.accept("t-1003", desired, version=2, removed=True)

        trace = log_in(browser, forum.url, "t-1003")

        assert trace.last.status_code == 403
        assert forum.state()["users"] == []

    def test_replayed_callback(self, forum, members, browser):
        trace = log_in(browser, forum.url, "t-1001")
        callback = trace.hop("/auth/callback").url

        replay = browser.get(callback, allow_redirects=False, timeout=TIMEOUT)
        assert replay.status_code == 400
        assert element_text(replay.text, "error-title")
        assert "Location" not in replay.headers

        # ... and from another browser, which never started a login.
        with requests.Session() as other:
            assert other.get(callback, allow_redirects=False, timeout=TIMEOUT).status_code == 400

    def test_wrong_oidc_state(self, forum, members, browser):
        page = get(browser, forum.url + "/session/sso?return_path=/").last
        back = click(browser, page, "login-t-1001", follow=False).last  # the IdP's redirect
        assert back.is_redirect
        location = back.headers["Location"]
        state = query(location)["state"]
        forged = location.replace(f"state={state}", "state=" + secrets.token_urlsafe(20))

        response = browser.get(forged, allow_redirects=False, timeout=TIMEOUT)

        assert response.status_code == 400
        assert attribute(response.text, "retry-link", "href") == (
            forum.url + "/session/sso?return_path=/"
        )
        assert forum.state()["users"] == []
        # The genuine callback no longer works either: the login attempt is gone.
        assert browser.get(location, allow_redirects=False, timeout=TIMEOUT).status_code == 400

    @pytest.mark.parametrize(("error", "status"), [("invalid_grant", 400), ("server_error", 502)])
    def test_token_error(self, forum, members, browser, idp_issuer, error, status):
        page = get(browser, forum.url + "/session/sso?return_path=/").last
        requests.post(
            idp_issuer + "/_idp/next-token-error", json={"error": error}, timeout=TIMEOUT
        ).raise_for_status()

        trace = click(browser, page, "login-t-1001")

        assert trace.last.status_code == status
        assert "/auth/callback" in trace.last.url
        assert attribute(trace.last.text, "retry-link", "href") == (
            forum.url + "/session/sso?return_path=/"
        )
        assert forum.state()["users"] == []

    def test_denied_consent(self, forum, members, browser):
        page = get(browser, forum.url + "/session/sso?return_path=/").last

        trace = click(browser, page, "deny")

        assert trace.last.status_code == 403
        assert query(trace.last.url)["error"] == "access_denied"
        assert element_text(trace.last.text, "error-title") == "Вход отменён"
        assert attribute(trace.last.text, "retry-link", "href")
        assert forum.state()["users"] == []

    def test_retry_link_starts_a_fresh_login(self, forum, members, browser):
        page = get(browser, forum.url + "/session/sso?return_path=/").last
        denied = click(browser, page, "deny").last
        retry = attribute(denied.text, "retry-link", "href")

        again = get(browser, retry).last
        assert "/authorize" in again.url
        done = click(browser, again, "login-t-1001")

        assert done.last.url == forum.url + "/"
        assert element_text(done.last.text, "current-user")


class TestIdentityProviderDown:
    @pytest.fixture
    def idp_issuer(self):
        from tests.support.servers import free_port

        return f"http://127.0.0.1:{free_port()}"  # nothing listens there

    def test_login_start(self, client, secret, good, sandbox):
        response = client.get("/sso", query_string=signed(secret, **good))

        assert_refused(response, 502, retry=True)
        html = response.get_data(as_text=True)
        assert attribute(html, "retry-link", "href") == sandbox.url + "/session/sso?return_path=/"
        assert_nothing_stored(client)

    def test_logout_still_returns_to_the_forum(self, client, sandbox):
        response = client.get("/logout")
        assert response.status_code == 302
        assert response.headers["Location"] == sandbox.url


def test_pages_are_self_contained_and_fit_a_phone(client):
    html = client.get("/sso", query_string={"sso": "x", "sig": "y"}).get_data(as_text=True)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    for external in ("<link", "<script", "@import", "url("):
        assert external not in html
    assert "http" not in html.split("<body>")[0]  # no external assets in the head


def test_security_headers(client):
    response = client.get("/sso")
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_logout_without_a_session_goes_to_the_identity_provider_then_the_forum(
    client, idp_issuer, sandbox, bridge_port
):
    response = client.get("/logout")

    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(idp_issuer + "/end_session?")
    assert query(location)["post_logout_redirect_uri"] == (
        f"http://127.0.0.1:{bridge_port}/logout/done"
    )
    done = client.get("/logout/done?state=anything&next=https://evil.example")
    assert done.headers["Location"] == sandbox.url


def test_logout_walk_ends_on_the_forum(bridge, forum, members, browser):
    log_in(browser, forum.url, "t-1001")
    trace = walk(browser, browser.get(bridge.url + "/logout", allow_redirects=False, timeout=10))
    assert trace.visited(bridge.url, "/logout/done")
    assert trace.last.url == forum.url + "/"
