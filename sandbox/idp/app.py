"""Flask app of the demo OpenID Connect identity provider."""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass

from authlib.common.urls import add_params_to_uri
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from flask import Blueprint, Flask, current_app, g, jsonify, render_template, request
from joserfc.jwk import KeySet, RSAKey

from config.settings import is_production

from .demo_users import DEMO_ORGANISATIONS, DEMO_USERS
from .models import SUPPORTED_SCOPES, USER_CLAIMS, BrowserSession, Client, Store, User, clock
from .server import SIGNING_ALG, build_server

#: Distinct from the bridge's "session": cookies ignore ports, and both run on 127.0.0.1.
#: A second demo provider on the same host needs a name of its own (`session_cookie`).
SESSION_COOKIE = "sandbox_idp_session"

#: Errors the /_idp/next-token-error control may inject, with their HTTP status.
INJECTABLE_TOKEN_ERRORS = {
    "invalid_request": 400,
    "invalid_client": 401,
    "invalid_grant": 400,
    "unauthorized_client": 400,
    "unsupported_grant_type": 400,
    "invalid_scope": 400,
    "server_error": 500,
    "temporarily_unavailable": 503,
}

#: What /_idp/misbehave can make the provider do wrong, for the bridge's tests:
#: name another issuer (discovery and ID tokens), advertise other ID token
#: algorithms, issue unsigned (`alg: none`) ID tokens, add or change userinfo
#: claims (another `sub`, claims the ID token lacks), send another (or, with
#: null, no) `iss` in authorization responses.
MISBEHAVIOURS: dict[str, tuple[type, ...]] = {
    "claimed_issuer": (str,),
    "id_token_algs": (list,),
    "unsigned_id_tokens": (bool,),
    "userinfo_extra": (dict,),
    "response_iss": (str, type(None)),
}

_ERROR_MESSAGES = {
    "invalid_client": "Приложение, которое отправило вас сюда, не зарегистрировано "
    "на сервере входа.",
    "invalid_request": "Запрос на вход составлен неверно: например, адрес возврата "
    "не зарегистрирован для этого приложения.",
    "unsupported_response_type": "Приложение запросило неподдерживаемый способ входа.",
}


class SandboxRefusedError(RuntimeError):
    """The sandbox must never run next to production data."""


def refuse_in_production() -> None:
    """BRIDGE_ENV read as the bridge reads it: the environment, then `.env`."""
    if is_production():
        raise SandboxRefusedError(
            "The demo identity provider is a sandbox and does not run with "
            "BRIDGE_ENV=production: configure OIDC_ISSUER to point at the real one."
        )


@dataclass
class DemoIdP:
    issuer: str
    store: Store
    signing_key: RSAKey
    server: AuthorizationServer
    organisation: str = ""  # whose provider this is, named on its pages
    session_cookie: str = SESSION_COOKIE

    def url(self, path: str) -> str:
        return self.issuer + path

    @property
    def claimed_issuer(self) -> str:
        return self.store.misbehaviour().get("claimed_issuer") or self.issuer

    def response_issuer(self) -> str | None:
        """The `iss` of authorization responses (RFC 9207); None leaves it out."""
        misbehaviour = self.store.misbehaviour()
        if "response_iss" in misbehaviour:
            return misbehaviour["response_iss"]
        return self.claimed_issuer

    def metadata(self) -> dict:
        algorithms = self.store.misbehaviour().get("id_token_algs") or [SIGNING_ALG]
        return {
            "issuer": self.claimed_issuer,
            "authorization_endpoint": self.url("/authorize"),
            "token_endpoint": self.url("/token"),
            "userinfo_endpoint": self.url("/userinfo"),
            "jwks_uri": self.url("/jwks"),
            "end_session_endpoint": self.url("/end_session"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": algorithms,
            "authorization_response_iss_parameter_supported": True,
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": list(SUPPORTED_SCOPES),
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
            ],
            "claims_supported": [
                "iss",
                "aud",
                "sub",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "at_hash",
                *USER_CLAIMS,
            ],
            "prompt_values_supported": ["none", "login", "consent", "select_account"],
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
        }


def create_app(
    *,
    issuer: str,
    clients: list[dict],
    users: list[dict] | None = None,
    organisation: str = "",
    session_cookie: str = SESSION_COOKIE,
) -> Flask:
    """Build the demo identity provider for `issuer` with these clients and users.

    `organisation` is the member organisation whose provider this is, named
    on the pages; two providers on one host need distinct `session_cookie`s
    (cookies ignore ports).
    """
    refuse_in_production()
    issuer = issuer.rstrip("/")
    if not issuer.startswith(("http://", "https://")):
        raise ValueError(f"issuer must be an http(s) URL, not {issuer!r}")
    if not clients:
        raise ValueError("at least one client is needed")
    store = Store(
        clients=[Client.from_dict(c) for c in clients],
        users=[User.from_dict(u) for u in (DEMO_USERS if users is None else users)],
    )
    signing_key = RSAKey.generate_key(
        2048, parameters={"use": "sig", "alg": SIGNING_ALG}, auto_kid=True
    )

    app = Flask(__name__)
    app.json.ensure_ascii = False
    server = build_server(
        app,
        store=store,
        issuer=issuer,
        signing_key=signing_key,
        current_session=current_session,
        end_browser_session=end_browser_session,
    )
    app.extensions["sandbox_idp"] = DemoIdP(
        issuer=issuer,
        store=store,
        signing_key=signing_key,
        server=server,
        organisation=organisation,
        session_cookie=session_cookie,
    )
    app.register_blueprint(bp)
    app.context_processor(lambda: {"organisation": idp().organisation})
    app.after_request(_issuer_in_authorization_response)
    app.after_request(_session_cookie_and_headers)
    return app


def create_organisation_app(code: str, *, issuer: str, clients: list[dict]) -> Flask:
    """The demo identity provider of one demo organisation (`DEMO_ORGANISATIONS[code]`).

    Its own teachers, its name on the pages, its own signing key and a session
    cookie of its own: `make run` serves two of them on one host.
    """
    organisation = DEMO_ORGANISATIONS[code]
    return create_app(
        issuer=issuer,
        clients=clients,
        users=organisation.users,
        organisation=organisation.name,
        session_cookie=f"{SESSION_COOKIE}_{code}",
    )


bp = Blueprint("idp", __name__)


def idp() -> DemoIdP:
    return current_app.extensions["sandbox_idp"]


# -- the identity provider's own login session --------------------------------


def current_session() -> BrowserSession | None:
    if "idp_session" not in g:
        g.idp_session = idp().store.session(request.cookies.get(idp().session_cookie))
    return g.idp_session


def ensure_session() -> BrowserSession:
    session = current_session()
    if session is None:
        session = g.idp_session = idp().store.new_session()
        g.idp_set_cookie = True
    return session


def end_browser_session() -> None:
    session = current_session()
    sid = session.sid if session else request.cookies.get(idp().session_cookie)
    idp().store.end_session(sid)
    g.idp_session = None
    g.idp_clear_cookie = True


def remembered_user(max_age: str | None) -> User | None:
    session = current_session()
    if session is None or session.sub is None:
        return None
    if max_age is not None and max_age.isdigit() and clock() - session.auth_time > int(max_age):
        return None
    return idp().store.users.get(session.sub)


def _issuer_in_authorization_response(response):
    """RFC 9207: a redirect back to the client names the issuer, errors included."""
    if (
        request.endpoint in ("idp.authorize", "idp.authorize_decision")
        and response.status_code in (302, 303)
        and response.location
    ):
        issuer = idp().response_issuer()
        if issuer is not None:
            response.location = add_params_to_uri(response.location, [("iss", issuer)])
    return response


def _session_cookie_and_headers(response):
    if g.get("idp_clear_cookie"):
        response.delete_cookie(idp().session_cookie, path="/")
    elif g.get("idp_set_cookie") and g.get("idp_session") is not None:
        response.set_cookie(
            idp().session_cookie,
            g.idp_session.sid,
            path="/",
            httponly=True,
            samesite="Lax",
            secure=idp().issuer.startswith("https://"),
        )
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action *",
        )
    return response


# -- pages ---------------------------------------------------------------------


def error_page(error: OAuth2Error):
    message = _ERROR_MESSAGES.get(error.error, "Вход не удался из-за ошибки в запросе.")
    return (
        render_template(
            "error.html",
            message=message,
            error=error.error,
            description=error.description or "",
        ),
        error.status_code or 400,
    )


def authorize_error(error: OAuth2Error):
    """Redirect the error to a verified redirect_uri, else show it (RFC 6749 4.1.2.1)."""
    if error.redirect_uri:
        return idp().server.handle_error_response(None, error)
    return error_page(error)


def login_page(*, error: str | None = None, status: int = 200):
    session = ensure_session()
    current = idp().store.users.get(session.sub) if session.sub else None
    query = request.query_string.decode("ascii", "replace")
    return (
        render_template(
            "login.html",
            users=list(idp().store.users.values()),
            client_id=request.values.get("client_id", ""),
            csrf_token=session.csrf_token,
            action=request.script_root + request.path + ("?" + query if query else ""),
            passwords=any(user.password is not None for user in idp().store.users.values()),
            current=current,
            error=error,
        ),
        status,
    )


@bp.get("/")
def index():
    return render_template("index.html", idp=idp(), users=list(idp().store.users.values()))


@bp.get("/.well-known/openid-configuration")
def discovery():
    return jsonify(idp().metadata())


@bp.get("/jwks")
def jwks():
    return jsonify(KeySet([idp().signing_key]).as_dict(private=False))


@bp.get("/authorize")
def authorize():
    server = idp().server
    user = remembered_user(request.args.get("max_age"))
    try:
        grant = server.get_consent_grant(end_user=user)
    except OAuth2Error as error:
        return authorize_error(error)
    if user is not None and grant.prompt is None:
        # The browser is already logged in here: approve without a page.
        return server.create_authorization_response(grant=grant, grant_user=user)
    return login_page()


@bp.post("/authorize")
def authorize_decision():
    server = idp().server
    session = current_session()
    sent_token = request.form.get("csrf_token", "")
    if session is None or not secrets.compare_digest(
        sent_token.encode("utf-8"), session.csrf_token.encode("utf-8")
    ):
        return (
            render_template(
                "error.html",
                message="Страница входа устарела. Вернитесь в приложение и начните вход заново.",
                error="invalid_request",
                description="Missing or stale csrf_token.",
            ),
            400,
        )

    decision = request.form.get("decision")
    if decision == "deny":
        try:
            grant = server.get_consent_grant(end_user=remembered_user(None))
        except OAuth2Error as error:
            return authorize_error(error)
        return server.create_authorization_response(grant=grant, grant_user=None)

    if decision != "login":
        return login_page(error="Выберите учителя или нажмите «Отказать».", status=400)
    user = idp().store.users.get(request.form.get("login_sub", ""))
    if user is None:
        return login_page(error="Такого учителя нет в списке.", status=400)
    if user.password is not None and not secrets.compare_digest(
        request.form.get("password", "").encode("utf-8"), user.password.encode("utf-8")
    ):
        return login_page(error=f"Неверный пароль для «{user.name}».", status=401)

    try:
        grant = server.get_consent_grant(end_user=user)
    except OAuth2Error as error:
        return authorize_error(error)
    g.idp_session = idp().store.log_in(session, user)
    g.idp_set_cookie = True
    return server.create_authorization_response(grant=grant, grant_user=user)


@bp.post("/token")
def token():
    injected = idp().store.pop_next_token_error()
    if injected is not None:
        body = {"error": injected["error"]}
        if injected.get("error_description"):
            body["error_description"] = injected["error_description"]
        response = jsonify(body)
        response.status_code = INJECTABLE_TOKEN_ERRORS[injected["error"]]
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        return response
    idp().store.count_token_request()
    response = idp().server.create_token_response()
    if idp().store.misbehaviour().get("unsigned_id_tokens") and response.status_code == 200:
        body = response.get_json()
        if body.get("id_token"):
            body["id_token"] = _unsigned(body["id_token"])
            response.set_data(json.dumps(body))
    return response


def _unsigned(id_token: str) -> str:
    """The same claims as an unsecured JWT (`alg: none`, no signature): a broken provider.

    `at_hash` is left out (it is optional in the code flow): its hash function
    follows the signature's, and "none" has none.
    """
    encoded = id_token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    claims.pop("at_hash", None)
    return f"{_base64url({'alg': 'none', 'typ': 'JWT'})}.{_base64url(claims)}."


def _base64url(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo():
    response = idp().server.create_endpoint_response("userinfo")
    extra = idp().store.misbehaviour().get("userinfo_extra")
    if extra and response.status_code == 200 and response.is_json:
        body = {**response.get_json(), **extra}
        response.set_data(json.dumps(body, ensure_ascii=False))
    return response


@bp.route("/end_session", methods=["GET", "POST"])
def end_session():
    server = idp().server
    try:
        validated = server.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        # No redirect after a bad logout request (RP-Initiated Logout section 4),
        # but the browser is logged out here all the same.
        end_browser_session()
        return (
            render_template(
                "logged_out.html", error=error.error, description=error.description or ""
            ),
            400,
        )
    response = server.create_endpoint_response("end_session", validated)
    if response is None:
        return render_template("logged_out.html", error=None, description="")
    return response


# -- controls for tests (not OpenID Connect) ------------------------------------


@bp.post("/_idp/reset")
def control_reset():
    idp().store.reset()
    return jsonify({"ok": True})


@bp.post("/_idp/next-token-error")
def control_next_token_error():
    data = request.get_json(silent=True) or {}
    error = data.get("error")
    if error is None:
        idp().store.set_next_token_error(None)
        return jsonify({"ok": True, "next_token_error": None})
    if error not in INJECTABLE_TOKEN_ERRORS:
        allowed = ", ".join(sorted(INJECTABLE_TOKEN_ERRORS))
        return jsonify({"ok": False, "message": f"error must be one of: {allowed}"}), 400
    description = data.get("error_description")
    idp().store.set_next_token_error({"error": error, "error_description": description})
    return jsonify({"ok": True, "next_token_error": error})


@bp.post("/_idp/misbehave")
def control_misbehave():
    """Make the provider misbehave until the next reset (see MISBEHAVIOURS)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return jsonify({"ok": False, "message": "send a JSON object"}), 400
    for key, value in data.items():
        allowed = MISBEHAVIOURS.get(key)
        if allowed is None:
            known = ", ".join(sorted(MISBEHAVIOURS))
            return jsonify({"ok": False, "message": f"unknown {key!r}; known: {known}"}), 400
        if not isinstance(value, allowed):
            return jsonify({"ok": False, "message": f"{key} has the wrong type"}), 400
    idp().store.set_misbehaviour(data)
    return jsonify({"ok": True, "misbehaviour": data})


@bp.get("/_idp/stats")
def control_stats():
    return jsonify({"token_requests": idp().store.token_requests()})


@bp.get("/_idp/health")
def control_health():
    return jsonify({"status": "ok", "issuer": idp().issuer})
