"""In-memory models of the demo identity provider.

They implement authlib's mixins, so authlib's grant, PKCE and OpenID code drive
them exactly as they would drive database rows in a real provider.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, list_to_scope, scope_to_list
from authlib.oidc.core import AuthorizationCodeMixin, UserInfo

#: Authorization codes are single-use and short-lived (seconds).
CODE_LIFETIME = 60
#: How long a redeemed code is remembered, to detect its replay (seconds).
USED_CODE_MEMORY = 600
#: Lifetime of access tokens (seconds).
ACCESS_TOKEN_LIFETIME = 3600

SUPPORTED_SCOPES = ("openid", "profile", "email")
USER_CLAIMS = ("name", "given_name", "family_name", "email", "email_verified")


def clock() -> float:
    """Current time; tests replace it to make codes expire."""
    return time.time()


@dataclass(frozen=True)
class User:
    sub: str
    name: str
    email: str
    given_name: str = ""
    family_name: str = ""
    email_verified: bool = True
    password: str | None = field(default=None, repr=False)
    note: str = ""

    @classmethod
    def from_dict(cls, data: dict) -> User:
        missing = [key for key in ("sub", "name", "email") if not data.get(key)]
        if missing:
            raise ValueError(f"demo user {data.get('sub')!r} lacks {', '.join(missing)}")
        return cls(
            sub=str(data["sub"]),
            name=data["name"],
            email=data["email"],
            given_name=data.get("given_name", ""),
            family_name=data.get("family_name", ""),
            email_verified=bool(data.get("email_verified", True)),
            password=data.get("password"),
            note=data.get("note", ""),
        )

    def user_info(self, scope: str) -> UserInfo:
        info = UserInfo(sub=self.sub)
        for claim in USER_CLAIMS:
            value = getattr(self, claim)
            if value != "":
                info[claim] = value
        return info.filter(scope)


@dataclass(frozen=True)
class Client(ClientMixin):
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: dict) -> Client:
        missing = [k for k in ("client_id", "client_secret", "redirect_uris") if not data.get(k)]
        if missing:
            raise ValueError(f"client {data.get('client_id')!r} lacks {', '.join(missing)}")
        if isinstance(data["redirect_uris"], str):
            raise TypeError("redirect_uris must be a list of URLs")
        return cls(
            client_id=data["client_id"],
            client_secret=data["client_secret"],
            redirect_uris=tuple(data["redirect_uris"]),
            post_logout_redirect_uris=tuple(data.get("post_logout_redirect_uris") or ()),
        )

    @property
    def client_metadata(self) -> dict:
        # Read by authlib's UserInfoEndpoint and EndSessionEndpoint.
        return {
            "redirect_uris": list(self.redirect_uris),
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
            "token_endpoint_auth_method": "client_secret_basic",
        }

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        # OpenID Connect requires redirect_uri in every request; no default.
        return None

    def get_allowed_scope(self, scope):
        if not scope:
            return ""
        return list_to_scope([s for s in scope_to_list(scope) if s in SUPPORTED_SCOPES])

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        return secrets.compare_digest(
            self.client_secret.encode("utf-8"), str(client_secret).encode("utf-8")
        )

    def check_endpoint_auth_method(self, method, endpoint):
        if endpoint == "token":
            return method in ("client_secret_basic", "client_secret_post")
        return True

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type == "authorization_code"


@dataclass
class AuthorizationCode(AuthorizationCodeMixin):
    code: str = field(repr=False)
    client_id: str
    redirect_uri: str
    scope: str
    user_sub: str
    nonce: str | None
    auth_time: int
    code_challenge: str | None
    code_challenge_method: str | None
    issued_at: float
    used: bool = False
    token_ids: list[str] = field(default_factory=list)

    def is_expired(self, now: float) -> bool:
        return now > self.issued_at + CODE_LIFETIME

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time


@dataclass
class Token(TokenMixin):
    access_token: str = field(repr=False)
    client: Client
    user: User
    scope: str
    issued_at: float
    expires_in: int
    revoked: bool = False

    def check_client(self, client):
        return self.client.client_id == client.get_client_id()

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return self.expires_in

    def is_expired(self):
        return clock() >= self.issued_at + self.expires_in

    def is_revoked(self):
        return self.revoked

    def get_user(self):
        return self.user

    def get_client(self):
        return self.client


@dataclass
class BrowserSession:
    """The identity provider's own login session, keyed by a cookie."""

    sid: str
    csrf_token: str
    sub: str | None = None
    auth_time: int | None = None


class Store:
    """Thread-safe in-memory storage: the server runs threaded."""

    def __init__(self, *, clients: list[Client], users: list[User]):
        self.clients = {c.client_id: c for c in clients}
        self.users = {u.sub: u for u in users}
        if len(self.clients) != len(clients):
            raise ValueError("client_id values must be unique")
        if len(self.users) != len(users):
            raise ValueError("user sub values must be unique")
        self._lock = threading.Lock()
        self._codes: dict[str, AuthorizationCode] = {}
        self._tokens: dict[str, Token] = {}
        self._sessions: dict[str, BrowserSession] = {}
        self._next_token_error: dict | None = None
        self._misbehaviour: dict = {}
        self._token_requests = 0

    # -- authorization codes ------------------------------------------------

    def add_code(self, code: AuthorizationCode) -> None:
        with self._lock:
            self._forget_old_codes()
            self._codes[code.code] = code

    def redeem_code(self, value: str, client_id: str) -> AuthorizationCode | None:
        """Claim a code for one exchange; a replayed code revokes its tokens.

        The code is marked used before PKCE is checked, so a failed exchange
        burns it too (RFC 6749 section 10.5 lets servers be this strict).
        """
        with self._lock:
            code = self._codes.get(value)
            if code is None or code.client_id != client_id:
                return None
            if code.used:
                # RFC 6749 section 4.1.2: revoke what was issued from a replayed code.
                for token_id in code.token_ids:
                    if token_id in self._tokens:
                        self._tokens[token_id].revoked = True
                return None
            code.used = True
            if code.is_expired(clock()):
                return None
            return code

    def nonce_seen(self, client_id: str, nonce: str) -> bool:
        with self._lock:
            return any(c.client_id == client_id and c.nonce == nonce for c in self._codes.values())

    def _forget_old_codes(self) -> None:
        limit = clock() - USED_CODE_MEMORY
        for value in [v for v, c in self._codes.items() if c.issued_at < limit]:
            del self._codes[value]

    # -- tokens -------------------------------------------------------------

    def add_token(self, token: Token, code: AuthorizationCode | None) -> None:
        with self._lock:
            self._tokens[token.access_token] = token
            if code is not None:
                code.token_ids.append(token.access_token)

    def token(self, access_token: str) -> Token | None:
        with self._lock:
            return self._tokens.get(access_token)

    # -- browser sessions ---------------------------------------------------

    def new_session(self) -> BrowserSession:
        session = BrowserSession(
            sid=secrets.token_urlsafe(32), csrf_token=secrets.token_urlsafe(32)
        )
        with self._lock:
            self._sessions[session.sid] = session
        return session

    def session(self, sid: str | None) -> BrowserSession | None:
        if not sid:
            return None
        with self._lock:
            return self._sessions.get(sid)

    def log_in(self, session: BrowserSession, user: User) -> BrowserSession:
        """Record the login under a fresh session id (no session fixation)."""
        fresh = BrowserSession(
            sid=secrets.token_urlsafe(32),
            csrf_token=session.csrf_token,
            sub=user.sub,
            auth_time=int(clock()),
        )
        with self._lock:
            self._sessions.pop(session.sid, None)
            self._sessions[fresh.sid] = fresh
        return fresh

    def end_session(self, sid: str | None) -> None:
        if sid:
            with self._lock:
                self._sessions.pop(sid, None)

    # -- test controls ------------------------------------------------------

    def set_next_token_error(self, error: dict | None) -> None:
        with self._lock:
            self._next_token_error = error

    def pop_next_token_error(self) -> dict | None:
        with self._lock:
            error, self._next_token_error = self._next_token_error, None
            return error

    def set_misbehaviour(self, misbehaviour: dict) -> None:
        with self._lock:
            self._misbehaviour = dict(misbehaviour)

    def misbehaviour(self) -> dict:
        with self._lock:
            return dict(self._misbehaviour)

    def count_token_request(self) -> None:
        with self._lock:
            self._token_requests += 1

    def token_requests(self) -> int:
        with self._lock:
            return self._token_requests

    def reset(self) -> None:
        with self._lock:
            self._codes.clear()
            self._tokens.clear()
            self._sessions.clear()
            self._next_token_error = None
            self._misbehaviour = {}
            self._token_requests = 0
