"""Signing in with an API token (per-address throttle) and signing out."""

from __future__ import annotations

import ipaddress
import logging
import secrets

from flask import (
    Response,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from bridge.services import Services
from sso import IDENTITY_KEY  # the member verified by the OIDC login
from web.admin.access import (
    CSRF_KEY,
    TOKEN_MARK_KEY,
    TOKEN_NAME_KEY,
    bp,
    safe_next,
    token_mark,
)
from web.api.common import token_owner
from web.current import current_services

log = logging.getLogger(__name__)


# Token login throttling, per client address (an IPv6 client: its /64). A few
# mistypes are free; then each failure locks the address out, twice as long as
# the last time. Other addresses (the other administrators) are not affected.
LOGIN_FAILURES_PREFIX = "bridge:admin:login-failures:"  # failures in a row, per address
LOGIN_LOCK_PREFIX = "bridge:admin:login-lock:"  # present while the address is locked out
FREE_LOGIN_FAILURES = 5
FIRST_LOCKOUT = 30  # seconds, after the fifth failure
MAX_LOCKOUT = 3600
FAILURE_MEMORY = 24 * 3600  # failures are forgotten a day after the last one


@bp.get("/login")
def login():
    if g.admin is not None:
        return redirect(safe_next(request.args.get("next")) or url_for("admin.dashboard"))
    return _login_page()


def _login_page(*, error: str | None = None, status: int = 200) -> Response:
    external_id = session.get(IDENTITY_KEY)
    federation = current_services().config.sources
    body = render_template(
        "admin/login.html",
        error=error,
        next=safe_next(request.values.get("next")),
        signed_in_member=external_id if isinstance(external_id, str) else None,
        # With several sources each administrator logs in through their own source.
        login_sources=list(federation.sources.values()) if len(federation.sources) > 1 else [],
    )
    return make_response(body, status)


def _client_key() -> str:
    """Who is knocking: the client's address (through trusted proxies), an IPv6 one as its /64."""
    address = request.remote_addr or "-"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def _lockout_left(services: Services, client: str) -> int:
    return max(int(services.redis.ttl(LOGIN_LOCK_PREFIX + client)), 0)


def _record_login_failure(services: Services, client: str) -> None:
    pipe = services.redis.pipeline()
    pipe.incr(LOGIN_FAILURES_PREFIX + client)
    pipe.expire(LOGIN_FAILURES_PREFIX + client, FAILURE_MEMORY)
    failures = int(pipe.execute()[0])
    if failures >= FREE_LOGIN_FAILURES:
        lockout = min(FIRST_LOCKOUT * 2 ** (failures - FREE_LOGIN_FAILURES), MAX_LOCKOUT)
        services.redis.set(LOGIN_LOCK_PREFIX + client, failures, ex=lockout)


def _forget_login_failures(services: Services, client: str) -> None:
    services.redis.delete(LOGIN_FAILURES_PREFIX + client, LOGIN_LOCK_PREFIX + client)


def _locked_out_page(seconds: int) -> Response:
    wait = f"{seconds} с" if seconds < 60 else f"{-(-seconds // 60)} мин"
    response = _login_page(
        error=f"Слишком много неудачных попыток с вашего адреса. Повторите через {wait}.",
        status=429,
    )
    response.headers["Retry-After"] = str(seconds)
    return response


@bp.post("/login")
def login_submit():
    services = current_services()
    client = _client_key()
    locked_for = _lockout_left(services, client)
    if locked_for:  # the token is not even looked at: guessing stays slow
        return _locked_out_page(locked_for)
    presented = request.form.get("token", "").strip()
    owner = token_owner(services.settings.api_tokens, presented)
    found = (owner, services.settings.api_tokens[owner]) if owner else None
    if found is None:
        _record_login_failure(services, client)
        log.warning("admin: token login refused")
        return _login_page(error="Токен не подошёл. Проверьте, что он скопирован целиком.",
                           status=403)
    _forget_login_failures(services, client)
    name, token = found
    session[TOKEN_NAME_KEY] = name
    session[TOKEN_MARK_KEY] = token_mark(token)
    session[CSRF_KEY] = secrets.token_urlsafe(32)  # a fresh CSRF token for the new identity
    session.permanent = True
    log.info("admin: login with token %s", name)
    return redirect(safe_next(request.form.get("next")) or url_for("admin.dashboard"), 303)


@bp.post("/logout")
def logout():
    who = g.admin.label if g.admin else "-"
    session.clear()  # also ends a bridge session from the OIDC login
    log.info("admin: logout %s", who)
    return redirect(url_for("admin.login"), 303)
