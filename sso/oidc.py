"""The institute's OpenID Connect provider, through authlib's Flask client.

Authorization code flow with PKCE (S256); authlib keeps `state`, `nonce` and the
code verifier in the Flask session and checks them on the way back. The client
registry lives in the app (authlib's own `app.extensions` slot, filled by
`OAuth.init_app`), not in a module global: a process that builds several apps
(the tests do) must not have one app talking to another app's issuer.
"""

from __future__ import annotations

from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import FlaskOAuth2App, OAuth
from flask import Flask, current_app
from joserfc.errors import JoseError

CLIENT_NAME = "institute"
EXTENSION_KEY = "authlib.integrations.flask_client"  # where OAuth.init_app puts itself
TIMEOUT_SECONDS = 10

#: Whatever the identity provider can do wrong: an OAuth error (access_denied,
#: invalid_grant, a mismatching state), an ID token that does not verify, or an
#: unreachable server (refused connection, timeout, an answer that is not JSON).
IDP_ERRORS: tuple[type[Exception], ...] = (
    AuthlibBaseError,
    JoseError,
    requests.RequestException,
)


class MissingClaimError(AuthlibBaseError):
    """No ID token, or neither it nor userinfo carries the external-id claim."""

    error = "missing_claim"


def init_app(app: Flask) -> None:
    settings = app.config["SERVICES"].settings
    oauth = OAuth(app)
    oauth.register(
        CLIENT_NAME,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        server_metadata_url=settings.oidc_issuer + "/.well-known/openid-configuration",
        client_kwargs={
            "scope": settings.oidc_scopes,
            "code_challenge_method": "S256",
            "default_timeout": TIMEOUT_SECONDS,
        },
    )


def institute() -> FlaskOAuth2App:
    """The current app's client of the institute's identity provider."""
    return current_app.extensions[EXTENSION_KEY].create_client(CLIENT_NAME)


def external_id_from(client: FlaskOAuth2App, token: dict[str, Any], claim: str) -> str:
    """The member's external id: `claim` from the verified ID token, else from userinfo."""
    id_claims = token.get("userinfo")  # authlib puts the verified ID token's claims here
    if not id_claims:
        raise MissingClaimError(description="the token response has no ID token")
    value = id_claims.get(claim)
    if value is None:
        value = client.userinfo(token=token).get(claim)
    if value is None or isinstance(value, dict | list) or str(value).strip() == "":
        raise MissingClaimError(description=f"claim {claim!r} is missing")
    return str(value)


def end_session_url(*, id_token: str | None, post_logout_redirect_uri: str) -> str | None:
    """RP-initiated logout at the identity provider, if it offers it."""
    client = institute()
    metadata = client.load_server_metadata()
    if not metadata.get("end_session_endpoint"):
        return None
    return client.create_logout_url(
        post_logout_redirect_uri=post_logout_redirect_uri,
        id_token_hint=id_token,
        client_id=client.client_id,
    )["url"]
