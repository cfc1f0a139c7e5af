"""The demo identity provider speaks OpenID Connect code flow with PKCE, over real HTTP."""

from __future__ import annotations

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from sandbox.idp import SESSION_COOKIE, models
from sandbox.idp.demo_users import DEMO_SUBS

from .helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    POST_LOGOUT_URI,
    REDIRECT_URI,
    TIMEOUT,
    authorize_params,
    buttons,
    click,
    exchange,
    log_in,
    pkce_pair,
    query_of,
    redirect_base,
    verify_id_token,
)


def _get(url: str, **kwargs) -> requests.Response:
    return requests.get(url, timeout=TIMEOUT, allow_redirects=False, **kwargs)


def test_discovery_document_and_jwks(idp_url):
    meta = _get(f"{idp_url}/.well-known/openid-configuration").json()

    assert meta["issuer"] == idp_url
    for name, path in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/jwks"),
        ("end_session_endpoint", "/end_session"),
    ]:
        assert meta[name] == idp_url + path
    assert meta["response_types_supported"] == ["code"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["subject_types_supported"] == ["public"]
    assert {"openid", "profile", "email"} <= set(meta["scopes_supported"])
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }
    assert {"sub", "name", "email", "email_verified", "nonce"} <= set(meta["claims_supported"])

    keys = _get(meta["jwks_uri"]).json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kty"] == "RSA"
    assert keys[0]["alg"] == "RS256"
    assert keys[0]["use"] == "sig"
    assert keys[0]["kid"]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(keys[0]), "private key material leaked"


def test_login_page_is_russian_and_has_stable_ids(idp_url, browser):
    _, challenge = pkce_pair()
    page = browser.get(f"{idp_url}/authorize", params=authorize_params(challenge), timeout=5)

    assert page.status_code == 200
    assert 'lang="ru"' in page.text
    assert 'name="viewport"' in page.text
    assert "Войти как Иванова Мария Петровна" in page.text
    assert "Отказать" in page.text
    found = buttons(page)
    for sub in DEMO_SUBS:
        assert found[f"login-{sub}"]["data-sub"] == sub
    assert "deny" in found
    assert SESSION_COOKIE in browser.cookies
    assert "<link" not in page.text
    assert "<script" not in page.text


def test_full_code_flow_with_authlib_oauth2_session(idp_url, browser):
    meta = _get(f"{idp_url}/.well-known/openid-configuration").json()
    client = OAuth2Session(
        CLIENT_ID,
        CLIENT_SECRET,
        scope="openid profile email",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
    )
    verifier = generate_token(48)
    nonce = generate_token(20)
    url, state = client.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )

    page = browser.get(url, timeout=TIMEOUT)
    callback = click(browser, page, "login-t-1002")
    assert redirect_base(callback) == REDIRECT_URI
    assert query_of(callback)["state"] == state

    token = client.fetch_token(
        meta["token_endpoint"],
        authorization_response=callback.headers["Location"],
        code_verifier=verifier,
    )
    assert token["token_type"].lower() == "bearer"
    assert "refresh_token" not in token
    header, claims = verify_id_token(
        idp_url, token["id_token"], nonce=nonce, access_token=token["access_token"]
    )
    keys = _get(meta["jwks_uri"]).json()["keys"]
    assert header["alg"] == "RS256"
    assert header["kid"] == keys[0]["kid"]
    assert claims["iss"] == idp_url
    assert claims["aud"] == CLIENT_ID
    assert claims["sub"] == "t-1002"
    assert claims["nonce"] == nonce
    assert claims["name"] == "Смирнов Алексей Викторович"
    assert claims["email"] == "smirnov.av@teachers.example.org"
    assert claims["email_verified"] is True
    assert claims["exp"] > claims["iat"]

    userinfo = client.get(meta["userinfo_endpoint"], timeout=TIMEOUT).json()
    assert userinfo["sub"] == "t-1002"
    assert userinfo["given_name"] == "Алексей"
    assert userinfo["family_name"] == "Смирнов"


def test_client_secret_post_is_accepted(idp_url, browser):
    params, verifier, callback = log_in(browser, idp_url)
    response = exchange(
        idp_url,
        callback["code"],
        verifier,
        auth=None,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    )
    assert response.status_code == 200, response.text
    verify_id_token(idp_url, response.json()["id_token"], nonce=params["nonce"])


def test_missing_code_verifier_is_rejected(idp_url, browser):
    _, _, callback = log_in(browser, idp_url)
    response = exchange(idp_url, callback["code"], None)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_wrong_code_verifier_is_rejected(idp_url, browser):
    _, _, callback = log_in(browser, idp_url)
    wrong_verifier, _ = pkce_pair()
    response = exchange(idp_url, callback["code"], wrong_verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "overrides",
    [
        {"code_challenge": None, "code_challenge_method": None},
        {"code_challenge_method": None},
        {"code_challenge_method": "plain"},
    ],
    ids=["no-pkce", "method-missing", "plain"],
)
def test_authorize_without_s256_pkce_is_refused(idp_url, browser, overrides):
    _, challenge = pkce_pair()
    params = authorize_params(challenge, **overrides)
    response = browser.get(
        f"{idp_url}/authorize", params=params, allow_redirects=False, timeout=TIMEOUT
    )
    assert redirect_base(response) == REDIRECT_URI
    query = query_of(response)
    assert query["error"] == "invalid_request"
    assert query["state"] == params["state"]


def test_code_is_single_use_and_replay_revokes_its_token(idp_url, browser):
    _, verifier, callback = log_in(browser, idp_url)
    first = exchange(idp_url, callback["code"], verifier)
    assert first.status_code == 200
    access_token = first.json()["access_token"]
    bearer = {"Authorization": f"Bearer {access_token}"}
    assert _get(f"{idp_url}/userinfo", headers=bearer).status_code == 200

    second = exchange(idp_url, callback["code"], verifier)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    assert _get(f"{idp_url}/userinfo", headers=bearer).status_code == 401


def test_code_expires_after_sixty_seconds(idp_url, browser, monkeypatch):
    _, verifier, callback = log_in(browser, idp_url)
    issued = models.clock()
    monkeypatch.setattr(models, "clock", lambda: issued + models.CODE_LIFETIME + 1)
    response = exchange(idp_url, callback["code"], verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_code_is_bound_to_its_redirect_uri(idp_url, browser):
    _, verifier, callback = log_in(browser, idp_url)
    response = exchange(idp_url, callback["code"], verifier, redirect_uri=REDIRECT_URI + "x")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "auth",
    [(CLIENT_ID, "wrong-secret"), ("unknown-client", CLIENT_SECRET)],
    ids=["wrong-secret", "unknown-client"],
)
def test_bad_client_credentials_get_401(idp_url, browser, auth):
    _, verifier, callback = log_in(browser, idp_url)
    response = exchange(idp_url, callback["code"], verifier, auth=auth)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_unsupported_grant_type(idp_url):
    response = requests.post(
        f"{idp_url}/token",
        data={"grant_type": "password", "username": "t-1001", "password": "x"},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=TIMEOUT,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize(
    "overrides",
    [
        {"redirect_uri": "https://evil.example/callback"},
        {"client_id": "unknown-client"},
        {"redirect_uri": None},
    ],
    ids=["unregistered-redirect", "unknown-client", "no-redirect-uri"],
)
def test_bad_authorize_request_shows_error_page_without_redirect(idp_url, browser, overrides):
    _, challenge = pkce_pair()
    response = browser.get(
        f"{idp_url}/authorize",
        params=authorize_params(challenge, **overrides),
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert response.status_code in (400, 401)
    assert "Location" not in response.headers
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Не удалось войти" in response.text


def test_deny_redirects_with_access_denied(idp_url, browser):
    _, challenge = pkce_pair()
    params = authorize_params(challenge)
    page = browser.get(f"{idp_url}/authorize", params=params, timeout=TIMEOUT)
    response = click(browser, page, "deny")
    assert redirect_base(response) == REDIRECT_URI
    query = query_of(response)
    assert query["error"] == "access_denied"
    assert query["state"] == params["state"]
    assert "code" not in query


def test_post_without_csrf_token_is_refused(idp_url, browser):
    _, challenge = pkce_pair()
    params = authorize_params(challenge)
    browser.get(f"{idp_url}/authorize", params=params, timeout=TIMEOUT)
    response = browser.post(
        f"{idp_url}/authorize",
        params=params,
        data={"decision": "login", "login_sub": "t-1001"},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_userinfo_requires_a_valid_bearer_token(idp_url, browser):
    _, verifier, callback = log_in(browser, idp_url, sub="t-1003")
    access_token = exchange(idp_url, callback["code"], verifier).json()["access_token"]

    ok = _get(f"{idp_url}/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    assert ok.status_code == 200
    assert ok.json() == {
        "sub": "t-1003",
        "name": "Кузнецова Ольга Игоревна",
        "given_name": "Ольга",
        "family_name": "Кузнецова",
        "email": "kuznetsova.oi@teachers.example.org",
        "email_verified": True,
    }
    assert _get(f"{idp_url}/userinfo").status_code == 401
    bogus = _get(f"{idp_url}/userinfo", headers={"Authorization": "Bearer nope"})
    assert bogus.status_code == 401
    assert bogus.json()["error"] == "invalid_token"


def test_login_session_is_remembered_until_prompt_login(idp_url, browser):
    log_in(browser, idp_url, sub="t-1005")

    _, challenge = pkce_pair()
    again = browser.get(
        f"{idp_url}/authorize",
        params=authorize_params(challenge),
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert redirect_base(again) == REDIRECT_URI
    assert "code" in query_of(again)

    forced = browser.get(
        f"{idp_url}/authorize",
        params=authorize_params(challenge, prompt="login"),
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert forced.status_code == 200
    assert "Ёлкина Юлия Сергеевна" in forced.text
    assert "login-t-1001" in buttons(forced)


def test_remembered_user_gets_tokens_for_that_user(idp_url, browser):
    log_in(browser, idp_url, sub="t-1004")
    verifier, challenge = pkce_pair()
    params = authorize_params(challenge)
    again = browser.get(
        f"{idp_url}/authorize", params=params, allow_redirects=False, timeout=TIMEOUT
    )
    token = exchange(idp_url, query_of(again)["code"], verifier).json()
    _, claims = verify_id_token(idp_url, token["id_token"], nonce=params["nonce"])
    assert claims["sub"] == "t-1004"


def test_prompt_none_without_session_returns_login_required(idp_url, browser):
    _, challenge = pkce_pair()
    params = authorize_params(challenge, prompt="none")
    response = browser.get(
        f"{idp_url}/authorize", params=params, allow_redirects=False, timeout=TIMEOUT
    )
    assert query_of(response)["error"] == "login_required"
    assert query_of(response)["state"] == params["state"]


def _id_token_for(browser, idp_url) -> str:
    _, verifier, callback = log_in(browser, idp_url)
    return exchange(idp_url, callback["code"], verifier).json()["id_token"]


def _authorize_shows_login_page(browser, idp_url) -> bool:
    _, challenge = pkce_pair()
    response = browser.get(
        f"{idp_url}/authorize",
        params=authorize_params(challenge),
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    return response.status_code == 200


def test_end_session_redirects_to_registered_uri(idp_url, browser):
    id_token = _id_token_for(browser, idp_url)
    response = browser.get(
        f"{idp_url}/end_session",
        params={
            "id_token_hint": id_token,
            "post_logout_redirect_uri": POST_LOGOUT_URI,
            "state": "after-logout",
        },
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert redirect_base(response) == POST_LOGOUT_URI
    assert query_of(response) == {"state": "after-logout"}
    assert SESSION_COOKIE not in browser.cookies
    assert _authorize_shows_login_page(browser, idp_url)


def test_end_session_with_client_id_and_no_hint_redirects_too(idp_url, browser):
    log_in(browser, idp_url)
    response = browser.get(
        f"{idp_url}/end_session",
        params={"client_id": CLIENT_ID, "post_logout_redirect_uri": POST_LOGOUT_URI},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert redirect_base(response) == POST_LOGOUT_URI
    assert _authorize_shows_login_page(browser, idp_url)


def test_end_session_with_unregistered_uri_shows_logged_out_page(idp_url, browser):
    id_token = _id_token_for(browser, idp_url)
    response = browser.get(
        f"{idp_url}/end_session",
        params={
            "id_token_hint": id_token,
            "post_logout_redirect_uri": "https://evil.example/",
            "state": "x",
        },
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert "Вы вышли" in response.text
    assert _authorize_shows_login_page(browser, idp_url)


def test_end_session_with_forged_hint_logs_out_without_redirect(idp_url, browser):
    id_token = _id_token_for(browser, idp_url)
    header, payload, _ = id_token.split(".")
    response = browser.get(
        f"{idp_url}/end_session",
        params={
            "id_token_hint": f"{header}.{payload}.AAAA",
            "post_logout_redirect_uri": POST_LOGOUT_URI,
        },
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "Вы вышли" in response.text
    assert _authorize_shows_login_page(browser, idp_url)


def test_next_token_error_fails_one_exchange_only(idp_url, browser):
    _, verifier, callback = log_in(browser, idp_url)
    armed = requests.post(
        f"{idp_url}/_idp/next-token-error", json={"error": "invalid_grant"}, timeout=TIMEOUT
    )
    assert armed.status_code == 200

    failed = exchange(idp_url, callback["code"], verifier)
    assert failed.status_code == 400
    assert failed.json()["error"] == "invalid_grant"
    assert exchange(idp_url, callback["code"], verifier).status_code == 200


def test_next_token_error_rejects_unknown_errors(idp_url):
    response = requests.post(
        f"{idp_url}/_idp/next-token-error", json={"error": "kaboom"}, timeout=TIMEOUT
    )
    assert response.status_code == 400


def test_reset_forgets_codes_and_sessions(idp_url, browser):
    _, verifier, callback = log_in(browser, idp_url)
    requests.post(f"{idp_url}/_idp/reset", timeout=TIMEOUT).raise_for_status()
    assert exchange(idp_url, callback["code"], verifier).json()["error"] == "invalid_grant"
    assert _authorize_shows_login_page(browser, idp_url)
