"""The institute's OpenID Connect provider, through authlib's Flask client.

Authorization code flow with PKCE (S256); authlib keeps `state`, `nonce` and the
code verifier in the Flask session and checks them on the way back. The client
registry lives in the app (authlib's own `app.extensions` slot, filled by
`OAuth.init_app`), not in a module global: a process that builds several apps
(the tests do) must not have one app talking to another app's issuer.

authlib believes the discovery document; the bridge does not, quite: the
document must name the configured issuer, ID tokens must carry an asymmetric
signature whatever algorithms it advertises, an authorization response must
come from that issuer (RFC 9207), and userinfo counts only when it is about
the ID token's subject (OpenID Connect Core 5.3.2).
"""

from __future__ import annotations

import secrets
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import FlaskOAuth2App, OAuth
from flask import Flask, current_app
from joserfc.errors import JoseError
from requests.adapters import HTTPAdapter

from web.current import SERVICES_KEY, current_services

EXTENSION_KEY = "authlib.integrations.flask_client"  # where OAuth.init_app puts itself
TIMEOUT_SECONDS = 10
#: Bytes of randomness in each login's `state`, `nonce` and PKCE code verifier
#: (43 URL-safe characters: RFC 7636's recommended verifier, 256 bits each).
LOGIN_SECRET_BYTES = 32

#: Whatever the identity provider can do wrong: an OAuth error (access_denied,
#: invalid_grant, a mismatching state), an ID token that does not verify, or an
#: unreachable server (refused connection, timeout, an answer that is not JSON).
IDP_ERRORS: tuple[type[Exception], ...] = (
    AuthlibBaseError,
    JoseError,
    requests.RequestException,
)


#: Signatures accepted on ID tokens, whatever the provider advertises: asymmetric
#: only. `none` proves nothing, and HS* would be keyed with the client secret,
#: which the bridge itself holds (so anyone who learns it could mint identities).
ID_TOKEN_ALGORITHMS = frozenset({
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512", "EdDSA", "Ed25519", "Ed448",
})
#: What a provider signs with when its discovery document does not say (Discovery 1.0 §3).
DISCOVERY_DEFAULT_ALGORITHM = "RS256"
_ALGORITHMS_KEY = "id_token_signing_alg_values_supported"
_ISS_PROMISED_KEY = "authorization_response_iss_parameter_supported"


class MissingClaimError(AuthlibBaseError):
    """No ID token, or neither it nor userinfo carries the external-id claim."""

    error = "missing_claim"


class UntrustedProviderError(AuthlibBaseError):
    """The provider's discovery document or answer does not prove who it is."""

    error = "untrusted_provider"


class IssuerMismatchError(AuthlibBaseError):
    """The authorization response is not from the configured issuer (a mix-up attack)."""

    error = "issuer_mismatch"


class KeptAliveConnections(HTTPAdapter):
    """The app's one connection pool to the identity provider.

    authlib builds a requests session for every call to the provider (token,
    userinfo, discovery, keys) and closes it afterwards; mounted with this
    adapter, those sessions share kept-alive connections instead of opening a
    new one per login. A session's close must therefore leave the pool open.
    """

    def close(self) -> None:
        """The pool lives as long as the app; closing one session does not end it."""


class InstituteClient(FlaskOAuth2App):
    """authlib's client, held to the configured issuer and to asymmetric signatures.

    Every read of the discovery document goes through `load_server_metadata`
    (the login start, the token request, the ID token's verification), so the
    checks hold on each of them, and the document is never half-trusted.
    """

    OAUTH_APP_CONFIG = None  # authlib would otherwise merge a class-level dict into ours

    def __init__(self, *args: Any, issuer: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.issuer = issuer
        self.connections = KeptAliveConnections(pool_maxsize=16, max_retries=0)

    def _get_session(self):
        return self._kept_alive(super()._get_session())

    def _get_oauth_client(self, **metadata: Any):
        return self._kept_alive(super()._get_oauth_client(**metadata))

    def _kept_alive(self, session: requests.Session) -> requests.Session:
        session.mount("http://", self.connections)
        session.mount("https://", self.connections)
        return session

    def create_authorization_url(self, redirect_uri: str | None = None, **kwargs: Any) -> dict:
        """authlib's login start, with `state`, `nonce` and PKCE verifier from `secrets`.

        authlib draws them a character at a time from `SystemRandom` (a system
        call per character, a sixth of the login start's time); `secrets` gives
        more randomness (256 bits each) in one call. authlib checks them all
        on the way back, as before.
        """
        for name in ("state", "nonce", "code_verifier"):
            kwargs.setdefault(name, secrets.token_urlsafe(LOGIN_SECRET_BYTES))
        return super().create_authorization_url(redirect_uri, **kwargs)

    def save_authorize_data(self, **kwargs: Any) -> None:
        """Keep what the callback needs; the full authorization URL is never read back.

        Dropping it makes the session cookie a quarter smaller, on the login
        start and on every request of the browser after it.
        """
        kwargs.pop("url", None)
        super().save_authorize_data(**kwargs)

    def load_server_metadata(self) -> dict[str, Any]:
        try:
            return checked_metadata(super().load_server_metadata(), issuer=self.issuer)
        except UntrustedProviderError:
            self.server_metadata.pop("_loaded_at", None)  # authlib's cache: fetch afresh next time
            raise


def checked_metadata(metadata: dict[str, Any], *, issuer: str) -> dict[str, Any]:
    """The discovery document after the bridge's checks, its algorithms pinned in place.

    The issuer must be the configured one exactly (Discovery 1.0 §4.3): a
    provider naming another would otherwise have its tokens checked against
    that other name. The advertised algorithms are cut down to asymmetric ones
    (authlib verifies with whatever the document lists, `none` included).
    """
    named = metadata.get("issuer")
    if named != issuer:
        raise UntrustedProviderError(
            description=f"discovery names the issuer {named!r}, not the configured one"
        )
    advertised = metadata.get(_ALGORITHMS_KEY) or [DISCOVERY_DEFAULT_ALGORITHM]
    pinned = [alg for alg in advertised if alg in ID_TOKEN_ALGORITHMS]
    if not pinned:
        raise UntrustedProviderError(
            description="the provider offers no asymmetric ID token signature"
        )
    metadata[_ALGORITHMS_KEY] = pinned
    return metadata


def check_response_issuer(client: FlaskOAuth2App, sent: list[str]) -> None:
    """RFC 9207: the authorization response's `iss` must be our issuer.

    Checked before the code is redeemed: a code another provider issued (or an
    attacker injected) must never reach our token endpoint. A provider that
    promises the parameter must send it.
    """
    metadata = client.load_server_metadata()
    if not sent:
        if metadata.get(_ISS_PROMISED_KEY) is True:
            raise IssuerMismatchError(description="the response has no iss, though promised")
        return
    if len(sent) > 1 or sent[0] != metadata["issuer"]:
        raise IssuerMismatchError(description="the response's iss is not the issuer")


def init_app(app: Flask) -> None:
    """One client per source, named by its code, each held to its own issuer."""
    config = app.config[SERVICES_KEY].config
    oauth = OAuth(app)
    for source in config.sources.sources.values():
        oauth.register(
            source.code,
            client_cls=InstituteClient,
            issuer=source.issuer,
            client_id=source.client_id,
            client_secret=source.client_secret,
            # Discovery 1.0 §4: a terminating slash of the issuer is dropped before appending.
            server_metadata_url=source.issuer.rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs={
                "scope": source.scopes,
                "code_challenge_method": "S256",
                "default_timeout": TIMEOUT_SECONDS,
            },
        )


def client(source: str) -> FlaskOAuth2App:
    """The current app's client of this source's identity provider."""
    return current_app.extensions[EXTENSION_KEY].create_client(source)


def institute() -> FlaskOAuth2App:
    """The client of a single-source bridge (the institute's provider)."""
    return client(current_services().config.sources.codes[0])


def external_id_from(client: FlaskOAuth2App, token: dict[str, Any], claim: str) -> str:
    """The member's external id: `claim` from the verified ID token, else from userinfo."""
    id_claims = token.get("userinfo")  # authlib puts the verified ID token's claims here
    if not id_claims:
        raise MissingClaimError(description="the token response has no ID token")
    value = id_claims.get(claim)
    if value is None:
        value = _userinfo_about(client, token, subject=id_claims.get("sub")).get(claim)
    if value is None or isinstance(value, dict | list) or str(value).strip() == "":
        raise MissingClaimError(
            description=f"claim {claim!r} is in neither the ID token nor userinfo"
        )
    return str(value)


def _userinfo_about(client: FlaskOAuth2App, token: dict[str, Any], *, subject: Any) -> dict:
    """Userinfo, used only when it is about the ID token's subject (Core 5.3.2)."""
    info = client.userinfo(token=token)
    if subject is None or info.get("sub") != subject:
        raise UntrustedProviderError(description="userinfo is about another subject")
    return info


def verified_email(oauth: FlaskOAuth2App, token: dict[str, Any]) -> str | None:
    """The e-mail the provider asserts as verified (lowercased), from the ID token or userinfo.

    Linking one person's listings in two sources rests on it: each provider
    must vouch for the address, not merely repeat it.
    """
    claims = token.get("userinfo") or {}
    if "email" not in claims or "email_verified" not in claims:
        try:
            claims = {**_userinfo_about(oauth, token, subject=claims.get("sub")), **claims}
        except (UntrustedProviderError, *IDP_ERRORS):
            return None
    email = claims.get("email")
    if isinstance(email, str) and email and claims.get("email_verified") is True:
        return email.strip().lower()
    return None


def end_session_url(*, source: str, id_token: str | None,
                    post_logout_redirect_uri: str) -> str | None:
    """RP-initiated logout at the source's identity provider, if it offers it."""
    oauth = client(source)
    metadata = oauth.load_server_metadata()
    if not metadata.get("end_session_endpoint"):
        return None
    return oauth.create_logout_url(
        post_logout_redirect_uri=post_logout_redirect_uri,
        id_token_hint=id_token,
        client_id=oauth.client_id,
    )["url"]
