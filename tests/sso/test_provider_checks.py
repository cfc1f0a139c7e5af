"""An identity provider is trusted only as far as it proves itself.

ID tokens must carry an asymmetric signature, the discovery document must name
the configured issuer, userinfo must be about the ID token's subject, and the
authorization response must come from that issuer (RFC 9207). The demo
identity provider is made to misbehave (`/_idp/misbehave`) for each case.
"""

from __future__ import annotations

import logging

import pytest
import requests

from sso import oidc
from tests.support.flow import TIMEOUT, Trace, click, get, log_in

pytestmark = pytest.mark.usefixtures("bridge")


def misbehave(issuer: str, **misbehaviour) -> None:
    response = requests.post(issuer + "/_idp/misbehave", json=misbehaviour, timeout=TIMEOUT)
    response.raise_for_status()


def token_requests(issuer: str) -> int:
    return requests.get(issuer + "/_idp/stats", timeout=TIMEOUT).json()["token_requests"]


def attempt_login(browser, forum_url: str, sub: str) -> Trace:
    """Like `log_in`, but the bridge may stop the attempt before the provider's page."""
    start = get(browser, forum_url + "/session/sso?return_path=/")
    if "/authorize" not in start.last.url:
        return start
    done = click(browser, start.last, f"login-{sub}")
    done.hops[:0] = start.hops
    return done


def assert_refused(trace: Trace, forum) -> None:
    page = trace.last
    assert 400 <= page.status_code < 600, trace.urls
    assert "<html lang=\"ru\"" in page.text
    assert forum.state()["users"] == [], "nobody may reach the forum"


# -- signatures ---------------------------------------------------------------------------


@pytest.mark.parametrize("advertised", [["none"], ["RS256", "none"]])
def test_unsigned_id_tokens_are_refused(forum, members, browser, idp_issuer, advertised):
    misbehave(idp_issuer, id_token_algs=advertised, unsigned_id_tokens=True)

    trace = attempt_login(browser, forum.url, "t-1001")

    assert_refused(trace, forum)


def test_a_provider_offering_only_shared_secret_signatures_is_refused(
    forum, members, browser, idp_issuer
):
    misbehave(idp_issuer, id_token_algs=["HS256"])

    trace = attempt_login(browser, forum.url, "t-1001")

    assert_refused(trace, forum)
    assert not any("/authorize" in url for url in trace.urls)


@pytest.mark.parametrize(
    ("advertised", "pinned"),
    [
        (["RS256", "none", "HS256"], ["RS256"]),
        (["ES256", "PS256", "HS512"], ["ES256", "PS256"]),
        (None, ["RS256"]),  # OpenID Connect Discovery's default
    ],
)
def test_only_asymmetric_algorithms_are_accepted(advertised, pinned):
    metadata = {"issuer": "https://id.example.org"}
    if advertised is not None:
        metadata["id_token_signing_alg_values_supported"] = advertised
    checked = oidc.checked_metadata(metadata, issuer="https://id.example.org")
    assert checked["id_token_signing_alg_values_supported"] == pinned


# -- the issuer -----------------------------------------------------------------------------


def test_discovery_naming_another_issuer_is_refused(forum, members, browser, idp_issuer):
    misbehave(idp_issuer, claimed_issuer=idp_issuer + "/another-realm")

    trace = attempt_login(browser, forum.url, "t-1001")

    assert_refused(trace, forum)
    assert not any("/authorize" in url for url in trace.urls)


def test_issuer_is_compared_exactly():
    with pytest.raises(oidc.UntrustedProviderError, match="issuer"):
        oidc.checked_metadata({"issuer": "https://id.example.org/"}, issuer="https://id.example.org")


# -- the authorization response's iss (RFC 9207) ----------------------------------------------


def test_the_provider_names_itself_and_the_login_goes_through(forum, members, browser, idp_issuer):
    trace = log_in(browser, forum.url, "t-1001")

    assert f"iss={requests.utils.quote(idp_issuer, safe='')}" in trace.hop("/auth/callback").url
    assert trace.last.url.startswith(forum.url)
    assert [u["username"] for u in forum.state()["users"]] == ["ivanova_mp"]


def test_response_from_another_issuer_is_refused_before_the_token_request(
    forum, members, browser, idp_issuer
):
    misbehave(idp_issuer, response_iss="https://evil.example")

    trace = attempt_login(browser, forum.url, "t-1001")

    assert trace.last.status_code == 400
    assert "/auth/callback" in trace.last.url
    assert_refused(trace, forum)
    assert token_requests(idp_issuer) == 0


def test_response_without_iss_is_refused_when_discovery_promises_it(
    forum, members, browser, idp_issuer
):
    misbehave(idp_issuer, response_iss=None)

    trace = attempt_login(browser, forum.url, "t-1001")

    assert trace.last.status_code == 400
    assert_refused(trace, forum)
    assert token_requests(idp_issuer) == 0


# -- userinfo --------------------------------------------------------------------------------


class TestClaimFromUserinfo:
    @pytest.fixture
    def environ(self, environ):
        return {**environ, "OIDC_EXTERNAL_ID_CLAIM": "employee_id"}

    def test_userinfo_about_another_subject_is_not_used(self, forum, members, browser,
                                                        idp_issuer):
        misbehave(idp_issuer, userinfo_extra={"sub": "t-1003", "employee_id": "t-1003"})

        trace = log_in(browser, forum.url, "t-1001")

        assert_refused(trace, forum)

    def test_userinfo_about_the_same_subject_is_used(self, forum, members, browser, idp_issuer):
        misbehave(idp_issuer, userinfo_extra={"employee_id": "t-1001"})

        trace = log_in(browser, forum.url, "t-1001")

        assert trace.last.url.startswith(forum.url)
        assert [u["external_id"] for u in forum.state()["users"]] == ["t-1001"]

    def test_a_missing_claim_is_logged_by_its_name(self, forum, members, browser, caplog):
        caplog.set_level(logging.INFO, logger="sso")

        trace = log_in(browser, forum.url, "t-1001")

        assert_refused(trace, forum)
        logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("sso"))
        assert "employee_id" in logged


def test_a_fixed_provider_is_trusted_again_without_a_restart(forum, members, browser, idp_issuer):
    misbehave(idp_issuer, claimed_issuer=idp_issuer + "/another-realm")
    assert_refused(attempt_login(browser, forum.url, "t-1001"), forum)

    misbehave(idp_issuer)  # the provider's administrators fixed it
    browser.cookies.clear()
    trace = log_in(browser, forum.url, "t-1001")

    assert trace.last.url.startswith(forum.url)
    assert [u["external_id"] for u in forum.state()["users"]] == ["t-1001"]
