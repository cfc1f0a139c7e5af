"""Which claim names the member, and what happens when the identity provider lacks it."""

from __future__ import annotations

import logging

import pytest

from sso import oidc
from tests.support.flow import get, log_in


class FakeClient:
    def __init__(self, userinfo: dict):
        self._userinfo = userinfo
        self.userinfo_calls = 0

    def userinfo(self, *, token):
        self.userinfo_calls += 1
        return self._userinfo


def test_claim_from_the_id_token_without_asking_userinfo():
    client = FakeClient({"sub": "other"})
    token = {"userinfo": {"sub": "t-1001"}}
    assert oidc.external_id_from(client, token, "sub") == "t-1001"
    assert client.userinfo_calls == 0


def test_claim_missing_from_the_id_token_comes_from_userinfo():
    client = FakeClient({"sub": "t-1001", "employee_id": 4711})
    token = {"userinfo": {"sub": "t-1001"}, "access_token": "a"}
    assert oidc.external_id_from(client, token, "employee_id") == "4711"
    assert client.userinfo_calls == 1


@pytest.mark.parametrize("value", [None, "", "  ", {"nested": 1}, ["a"]])
def test_unusable_claim_is_an_error(value):
    client = FakeClient({"sub": "x", "employee_id": value})
    with pytest.raises(oidc.MissingClaimError):
        oidc.external_id_from(client, {"userinfo": {"sub": "x"}}, "employee_id")


def test_no_id_token_is_an_error():
    with pytest.raises(oidc.MissingClaimError):
        oidc.external_id_from(FakeClient({"sub": "t-1001"}), {"access_token": "a"}, "sub")


class TestAnotherClaim:
    @pytest.fixture
    def environ(self, environ):
        return {**environ, "OIDC_EXTERNAL_ID_CLAIM": "employee_id"}

    @pytest.mark.usefixtures("bridge")
    def test_missing_everywhere_is_a_clear_page_not_a_500(self, forum, members, browser):
        trace = log_in(browser, forum.url, "t-1001")

        assert trace.last.status_code == 502
        assert "/auth/callback" in trace.last.url
        assert forum.state()["users"] == []


@pytest.mark.usefixtures("bridge")
def test_unknown_error_code_from_the_url_is_not_logged(
    forum, members, browser, bridge, caplog, idp_issuer
):
    caplog.set_level(logging.INFO, logger="sso")
    page = get(browser, forum.url + "/session/sso?return_path=/").last
    assert "/authorize" in page.url

    response = browser.get(
        bridge.url + "/auth/callback",
        params={"error": "x\nFAKE LOG LINE ivanova@example.org", "state": "s",
                "iss": idp_issuer},
        allow_redirects=False,
        timeout=10,
    )

    assert response.status_code == 400
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("sso"))
    assert "FAKE" not in ours
    assert "(unrecognised error code)" in ours
