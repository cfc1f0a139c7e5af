"""authlib's server side, wired to the in-memory store.

Everything protocol-related (request validation, PKCE, ID token, userinfo,
RP-initiated logout) is authlib's; this module only supplies storage and keys.
"""

from __future__ import annotations

from collections.abc import Callable

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2.rfc6749 import InvalidRequestError, grants
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode, UserInfo, UserInfoEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint, EndSessionRequest
from flask import Flask
from joserfc.jwk import KeySet, RSAKey

from .models import (
    ACCESS_TOKEN_LIFETIME,
    SUPPORTED_SCOPES,
    AuthorizationCode,
    BrowserSession,
    Store,
    Token,
    User,
    clock,
)

SIGNING_ALG = "RS256"


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 for every client.

    authlib's ``CodeChallenge(required=True)`` insists on PKCE for public
    clients only; the bridge is confidential, and its PKCE must be tested too.
    """

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge': PKCE is required.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be 'S256'.")
        super().validate_code_challenge(grant, redirect_uri)


def build_server(
    app: Flask,
    *,
    store: Store,
    issuer: str,
    signing_key: RSAKey,
    current_session: Callable[[], BrowserSession | None],
    end_browser_session: Callable[[], None],
) -> AuthorizationServer:
    """Create the authorization server with its grant, extensions and endpoints."""

    public_jwks = KeySet([signing_key]).as_dict(private=False)

    def claimed_issuer() -> str:
        """The issuer named in tokens: the real one unless a test made the provider lie."""
        return store.misbehaviour().get("claimed_issuer") or issuer

    class CodeGrant(grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

        def save_authorization_code(self, code, request):
            payload = request.payload.data
            session = current_session()
            auth_time = session.auth_time if session and session.auth_time else int(clock())
            store.add_code(
                AuthorizationCode(
                    code=code,
                    client_id=request.client.client_id,
                    redirect_uri=request.payload.redirect_uri,
                    scope=request.scope,
                    user_sub=request.user.sub,
                    nonce=payload.get("nonce"),
                    auth_time=auth_time,
                    code_challenge=payload.get("code_challenge"),
                    code_challenge_method=payload.get("code_challenge_method"),
                    issued_at=clock(),
                )
            )

        def query_authorization_code(self, code, client):
            return store.redeem_code(code, client.client_id)

        def delete_authorization_code(self, authorization_code):
            # Already spent by redeem_code; kept a while to detect replays.
            pass

        def authenticate_user(self, authorization_code):
            return store.users.get(authorization_code.user_sub)

    class OpenIDCodeExtension(OpenIDCode):
        def exists_nonce(self, nonce, request):
            return store.nonce_seen(request.payload.client_id, nonce)

        def resolve_client_private_key(self, client):
            return signing_key

        def get_client_algorithm(self, client):
            return SIGNING_ALG

        def get_encode_header(self, client):
            return {"alg": SIGNING_ALG, "kid": signing_key.kid}

        def get_client_claims(self, client):
            # A single-string aud lets the end_session endpoint find the client.
            return {"iss": claimed_issuer(), "aud": client.get_client_id()}

        def generate_user_info(self, user, scope):
            return user.user_info(scope)

    class TokenValidator(BearerTokenValidator):
        def authenticate_token(self, token_string):
            return store.token(token_string)

    resource_protector = ResourceProtector()
    resource_protector.register_token_validator(TokenValidator())

    class DemoUserInfoEndpoint(UserInfoEndpoint):
        def get_issuer(self):
            return claimed_issuer()

        def generate_user_info(self, user: User, scope: str) -> UserInfo:
            return user.user_info(scope)

        def resolve_private_key(self):
            return signing_key

    class EndSession(EndSessionEndpoint):
        def get_server_jwks(self):
            return public_jwks

        def get_algorithms(self):
            return [SIGNING_ALG]

        def is_post_logout_redirect_uri_legitimate(
            self, request, post_logout_redirect_uri, client, logout_hint
        ):
            # The URI already matched the client's registration exactly; for
            # the demo that is legitimacy enough without an id_token_hint.
            return True

        def end_session(self, end_session_request: EndSessionRequest) -> None:
            end_browser_session()

    def save_token(token_data: dict, request) -> None:
        store.add_token(
            Token(
                access_token=token_data["access_token"],
                client=request.client,
                user=request.user,
                scope=token_data.get("scope", ""),
                issued_at=clock(),
                expires_in=int(token_data.get("expires_in", ACCESS_TOKEN_LIFETIME)),
            ),
            request.authorization_code,
        )

    app.config.setdefault("OAUTH2_SCOPES_SUPPORTED", list(SUPPORTED_SCOPES))
    app.config.setdefault("OAUTH2_TOKEN_EXPIRES_IN", {"authorization_code": ACCESS_TOKEN_LIFETIME})
    server = AuthorizationServer(app, query_client=store.clients.get, save_token=save_token)
    server.register_grant(CodeGrant, [S256CodeChallenge(required=True), OpenIDCodeExtension()])
    server.register_endpoint(DemoUserInfoEndpoint(resource_protector=resource_protector))
    server.register_endpoint(EndSession)
    return server
