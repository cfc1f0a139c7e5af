"""The bridge's exact client setup (authlib's Flask client) logs in and out against the IdP."""

from __future__ import annotations

import pytest
import requests
from authlib.integrations.flask_client import OAuth, OAuthError
from flask import Flask, jsonify, session, url_for

from sandbox.idp import create_app

from .helpers import TIMEOUT, buttons, click, serve

RP_CLIENT = {"client_id": "flask-rp", "client_secret": "flask-rp-secret"}


def _relying_party(issuer: str):
    def build(base_url: str) -> Flask:
        app = Flask("relying_party")
        app.secret_key = "relying-party-test-key"
        oauth = OAuth(app)
        oauth.register(
            "idp",
            client_id=RP_CLIENT["client_id"],
            client_secret=RP_CLIENT["client_secret"],
            server_metadata_url=issuer + "/.well-known/openid-configuration",
            client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
        )

        @app.get("/login")
        def login():
            return oauth.idp.authorize_redirect(url_for("callback", _external=True))

        @app.get("/callback")
        def callback():
            try:
                token = oauth.idp.authorize_access_token()
            except OAuthError as error:
                return jsonify({"error": error.error}), 400
            session["id_token"] = token["id_token"]
            return jsonify({"userinfo": dict(token["userinfo"])})

        @app.get("/logout")
        def logout():
            return oauth.idp.logout_redirect(
                post_logout_redirect_uri=url_for("bye", _external=True),
                id_token_hint=session.pop("id_token"),
                state="bye-state",
            )

        @app.get("/bye")
        def bye():
            return "bye"

        return app

    return build


@pytest.fixture(scope="module")
def stack():
    """A fresh IdP whose client's URIs point at a live relying party."""
    holder = {}

    def build_idp(idp_url: str) -> Flask:
        holder["idp_url"] = idp_url
        return lambda environ, start_response: holder["idp"](environ, start_response)

    with serve(build_idp) as idp_url, serve(_relying_party(idp_url)) as rp_url:
        holder["idp"] = create_app(
            issuer=idp_url,
            clients=[
                {
                    **RP_CLIENT,
                    "redirect_uris": [f"{rp_url}/callback"],
                    "post_logout_redirect_uris": [f"{rp_url}/bye"],
                }
            ],
        )
        yield idp_url, rp_url


def test_login_and_logout_through_authlib_flask_client(stack):
    idp_url, rp_url = stack
    with requests.Session() as browser:
        page = browser.get(f"{rp_url}/login", timeout=TIMEOUT)
        assert page.url.startswith(f"{idp_url}/authorize?")
        assert "login-t-1001" in buttons(page)

        landed = click(browser, page, "login-t-1001")
        result = browser.get(landed.headers["Location"], timeout=TIMEOUT)
        assert result.status_code == 200, result.text
        userinfo = result.json()["userinfo"]
        assert userinfo["sub"] == "t-1001"
        assert userinfo["name"] == "Иванова Мария Петровна"
        assert userinfo["email_verified"] is True

        # Same browser, second login: the IdP remembers the teacher.
        again = browser.get(f"{rp_url}/login", timeout=TIMEOUT)
        assert again.json()["userinfo"]["sub"] == "t-1001"

        bye = browser.get(f"{rp_url}/logout", timeout=TIMEOUT)
        assert bye.url.startswith(f"{rp_url}/bye?")
        assert "state=bye-state" in bye.url
        assert bye.text == "bye"

        after = browser.get(f"{rp_url}/login", timeout=TIMEOUT)
        assert after.url.startswith(f"{idp_url}/authorize?")
        assert "login-t-1001" in buttons(after)


def test_deny_reaches_the_client_as_access_denied(stack):
    _, rp_url = stack
    with requests.Session() as browser:
        page = browser.get(f"{rp_url}/login", timeout=TIMEOUT)
        landed = click(browser, page, "deny")
        result = browser.get(landed.headers["Location"], timeout=TIMEOUT)
        assert result.status_code == 400
        assert result.json() == {"error": "access_denied"}
