"""Two demo identity providers, as `make run` serves them: the institute's and Vyazma's.

Each is its own issuer with its own signing key, teachers and login page; the
bridge is registered at both with the same client id and redirect URI (so
only the issuer tells a code's origin). One teacher is listed by both.
"""

from __future__ import annotations

import pytest
import requests
from joserfc.errors import JoseError

from sandbox.idp import DEMO_ORGANISATIONS, SESSION_COOKIE, create_organisation_app
from sandbox.idp.demo_users import SHARED_TEACHER_EMAIL

from .helpers import (
    CLIENTS,
    TIMEOUT,
    authorize_params,
    exchange,
    log_in,
    pkce_pair,
    serve,
    verify_id_token,
)


@pytest.fixture(scope="module")
def issuers():
    """{organisation code: issuer URL}, each a live provider over real HTTP."""
    with serve(lambda url: create_organisation_app("institute", issuer=url, clients=CLIENTS)) \
            as institute, \
            serve(lambda url: create_organisation_app("vyazma", issuer=url, clients=CLIENTS)) \
            as vyazma:
        yield {"institute": institute, "vyazma": vyazma}


def _discovery(issuer: str) -> dict:
    return requests.get(f"{issuer}/.well-known/openid-configuration", timeout=TIMEOUT).json()


def _signed_in(browser, issuer: str, sub: str) -> tuple[dict, dict]:
    """Log in as `sub` and redeem the code: (token response, verified ID token claims)."""
    params, verifier, callback = log_in(browser, issuer, sub)
    assert callback["iss"] == issuer
    token = exchange(issuer, callback["code"], verifier)
    assert token.status_code == 200, token.text
    body = token.json()
    _, claims = verify_id_token(issuer, body["id_token"], nonce=params["nonce"],
                                access_token=body["access_token"])
    return body, claims


def test_each_discovery_names_its_own_issuer_and_key(issuers):
    institute, vyazma = _discovery(issuers["institute"]), _discovery(issuers["vyazma"])
    assert institute["issuer"] == issuers["institute"]
    assert vyazma["issuer"] == issuers["vyazma"]
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        assert vyazma[name].startswith(issuers["vyazma"] + "/")
    keys = [requests.get(meta["jwks_uri"], timeout=TIMEOUT).json()["keys"]
            for meta in (institute, vyazma)]
    assert keys[0][0]["kid"] != keys[1][0]["kid"]
    assert keys[0][0]["n"] != keys[1][0]["n"], "one signing key each"


def test_each_login_page_names_its_organisation_and_lists_its_teachers(issuers, browser):
    for code, issuer in issuers.items():
        _, challenge = pkce_pair()
        page = browser.get(f"{issuer}/authorize", params=authorize_params(challenge),
                           timeout=TIMEOUT)
        organisation = DEMO_ORGANISATIONS[code]
        assert page.status_code == 200
        assert f"<title>Вход для учителей — {organisation.name}</title>" in page.text
        assert f'id="organisation">{organisation.name}<' in page.text
        own = {user["sub"] for user in organisation.users}
        others = {user["sub"] for other in DEMO_ORGANISATIONS.values()
                  if other is not organisation for user in other.users}
        assert all(f'id="login-{sub}"' in page.text for sub in own)
        assert not any(f'id="login-{sub}"' in page.text for sub in others)


def test_a_code_of_one_issuer_is_not_redeemable_at_the_other(issuers, browser):
    _, verifier, callback = log_in(browser, issuers["institute"], "t-1001")
    assert callback["iss"] == issuers["institute"]

    wrong = exchange(issuers["vyazma"], callback["code"], verifier)
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    assert "id_token" not in wrong.json()

    # Unknown at Vyazma, the code is still good where it was issued.
    right = exchange(issuers["institute"], callback["code"], verifier)
    assert right.status_code == 200, right.text


def test_an_id_token_of_one_issuer_does_not_verify_as_the_other(issuers, browser):
    params, verifier, callback = log_in(browser, issuers["vyazma"], "v-2002")
    id_token = exchange(issuers["vyazma"], callback["code"], verifier).json()["id_token"]
    with pytest.raises(JoseError):
        verify_id_token(issuers["institute"], id_token, nonce=params["nonce"])


def test_the_shared_teacher_is_in_both_with_the_same_verified_email(issuers, browser):
    # One browser, both providers: each keeps its own login session (cookie names differ).
    _, at_institute = _signed_in(browser, issuers["institute"], "t-1001")
    token, at_vyazma = _signed_in(browser, issuers["vyazma"], "v-2001")
    cookies = set(browser.cookies.keys())
    assert {f"{SESSION_COOKIE}_institute", f"{SESSION_COOKIE}_vyazma"} <= cookies

    assert (at_institute["sub"], at_vyazma["sub"]) == ("t-1001", "v-2001")
    assert at_institute["email"] == at_vyazma["email"] == SHARED_TEACHER_EMAIL
    assert at_institute["email_verified"] is at_vyazma["email_verified"] is True
    assert at_institute["name"] == at_vyazma["name"] == "Иванова Мария Петровна"
    assert at_institute["iss"] == issuers["institute"]
    assert at_vyazma["iss"] == issuers["vyazma"]
    userinfo = requests.get(f"{issuers['vyazma']}/userinfo", timeout=TIMEOUT,
                            headers={"Authorization": f"Bearer {token['access_token']}"}).json()
    assert userinfo["sub"] == "v-2001"
    assert userinfo["email"] == SHARED_TEACHER_EMAIL

    # The institute still remembers her: a new login there needs no page.
    _, challenge = pkce_pair()
    again = browser.get(f"{issuers['institute']}/authorize", params=authorize_params(challenge),
                        allow_redirects=False, timeout=TIMEOUT)
    assert again.status_code == 302
    assert "code=" in again.headers["Location"]


def test_every_demo_teacher_asserts_a_verified_email():
    subs: list[str] = []
    for organisation in DEMO_ORGANISATIONS.values():
        for user in organisation.users:
            assert user["email"].endswith("@teachers.example.org")
            assert user["email_verified"] is True
            assert user["name"].startswith(user["family_name"])
            subs.append(user["sub"])
    assert len(subs) == len(set(subs)), "a sub names one teacher of one organisation"
    shared = [(code, user["sub"]) for code, organisation in DEMO_ORGANISATIONS.items()
              for user in organisation.users if user["email"] == SHARED_TEACHER_EMAIL]
    assert shared == [("institute", "t-1001"), ("vyazma", "v-2001")]
    vyazma_only = {user["email"] for user in DEMO_ORGANISATIONS["vyazma"].users} - {
        user["email"] for user in DEMO_ORGANISATIONS["institute"].users}
    assert len(vyazma_only) == 2  # a Vyazma-only teacher and the methodist
