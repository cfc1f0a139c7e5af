"""The login start (`GET /sso`) made cheap without giving up a check.

The state, nonce and PKCE verifier come from `secrets` (256 bits each), the
session keeps what the callback needs and not the authorization URL, and every
call authlib makes to the identity provider shares one connection pool.
"""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import parse_qsl, urlsplit

import pytest

from bridge import discourse_connect
from sso import oidc
from tests.conftest import CONNECT_SECRET

URL_SAFE_256_BITS = re.compile(r"^[A-Za-z0-9_-]{43}$")


def start_login(client, forum_url: str, nonce: str = "forum-nonce"):
    sso, sig = discourse_connect.sign(
        {"nonce": nonce, "return_sso_url": forum_url + "/session/sso_login"}, CONNECT_SECRET
    )
    return client.get("/sso", query_string={"sso": sso, "sig": sig})


def session_of(app, response) -> dict:
    cookie = response.headers["Set-Cookie"].split(";", 1)[0].split("=", 1)[1]
    return app.session_interface.get_signing_serializer(app).loads(cookie)


@pytest.fixture
def started(app, sandbox, idp_issuer):
    """Two login starts from two browsers: (redirect query, session) of each."""
    starts = []
    for _ in range(2):
        response = start_login(app.test_client(), sandbox.url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith(idp_issuer + "/authorize?")
        query = dict(parse_qsl(urlsplit(response.headers["Location"]).query))
        starts.append((query, session_of(app, response)))
    return starts


def test_state_nonce_and_verifier_are_256_bits_and_never_repeat(started):
    (first, first_session), (second, second_session) = started
    for query, session in started:
        [pending] = [v["data"] for k, v in session.items() if k.startswith("_state_")]
        assert URL_SAFE_256_BITS.match(query["state"])
        assert URL_SAFE_256_BITS.match(query["nonce"])
        assert URL_SAFE_256_BITS.match(pending["code_verifier"])
        assert pending["nonce"] == query["nonce"]
        challenge = hashlib.sha256(pending["code_verifier"].encode()).digest()
        assert query["code_challenge"] == base64.urlsafe_b64encode(challenge).decode().rstrip("=")
        assert query["code_challenge_method"] == "S256"
    assert first["state"] != second["state"]
    assert first["nonce"] != second["nonce"]
    assert first_session != second_session


def test_the_session_keeps_what_the_callback_needs_and_not_the_url(started, bridge_port):
    _query, session = started[0]
    [pending] = [v["data"] for k, v in session.items() if k.startswith("_state_")]
    assert set(pending) == {"redirect_uri", "code_verifier", "nonce"}
    assert pending["redirect_uri"] == f"http://127.0.0.1:{bridge_port}/auth/callback"
    assert session["sso_login"]["nonce"] == "forum-nonce"


def test_every_call_to_the_provider_shares_one_connection_pool(app, idp_issuer):
    with app.app_context():
        client = oidc.institute()
        sessions = [client._get_session(), client._get_oauth_client(), client._get_session()]
    pool = client.connections.poolmanager.connection_from_url(idp_issuer)
    for session in sessions:
        for scheme in ("http://", "https://"):
            assert session.get_adapter(scheme + "idp.example") is client.connections
        session.close()  # what authlib does after each call: the pool stays open
    assert client.connections.poolmanager.connection_from_url(idp_issuer) is pool
