"""Who may use the admin pages, and what every page shares: the blueprint, the
session checks (an administrator, a CSRF token on every POST), security headers,
error pages and the Moscow-time filter."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import HTTPException

from bridge.members import EXTERNAL_ID
from bridge.rendering import MOSCOW
from sso import IDENTITY_KEY  # the member verified by the OIDC login
from web import security
from web.api.common import ascii_number
from web.current import current_services

log = logging.getLogger(__name__)

# The templates are web/templates/admin/, beside the other pages of the web package.
bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="../templates")


TOKEN_NAME_KEY = "admin_token_name"  # noqa: S105 - a session key, not a secret
TOKEN_MARK_KEY = "admin_token_mark"  # noqa: S105 - a session key: which token, not the token
CSRF_KEY = "admin_csrf"
CSRF_FIELD = "csrf_token"

PAGE = 50  # rows a page in the lists

# Endpoints open without an admin session (the CSRF check still applies to POST).
_PUBLIC = frozenset({"admin.login", "admin.login_submit", "admin.logout"})


@dataclass(frozen=True)
class Admin:
    kind: str  # "token" or "member"
    name: str  # the token's name or the member's external id
    sources: tuple[str, ...] = ()  # the sources this administrator manages

    @property
    def label(self) -> str:
        return f"token:{self.name}" if self.kind == "token" else f"member:{self.name}"


def token_mark(token: str) -> str:
    """Binds a session to the token's value: a rotated token ends its sessions."""
    key = current_app.secret_key
    key = key.encode() if isinstance(key, str) else key
    return hmac.new(key, b"admin-token:" + token.encode(), hashlib.sha256).hexdigest()[:32]


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def current_admin() -> Admin | None:
    services = current_services()
    federation = services.config.sources
    name = session.get(TOKEN_NAME_KEY)
    if isinstance(name, str):
        token = services.settings.api_tokens.get(name)
        mark = session.get(TOKEN_MARK_KEY)
        if token and isinstance(mark, str) and _same(mark, token_mark(token)):
            return Admin("token", name, tuple(s.code for s in federation.for_token(name)))
    external_id = session.get(IDENTITY_KEY)
    if isinstance(external_id, str) and EXTERNAL_ID.match(external_id):
        member = services.members.get(external_id)
        if member is None or not member.active:
            return None
        if not federation.federated:
            if member.grants(services.config.roles).admin:
                return Admin("member", external_id, tuple(federation.codes))
            return None
        try:
            source = federation.source_of(external_id)
        except KeyError:  # an id of no source (no legacy source, no prefix): nobody's admin
            return None
        sources = federation.administers(source, member.desired.get("roles", []))
        if sources:
            return Admin("member", external_id, tuple(sources))
    return None


def _csrf_token() -> str:
    token = session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_KEY] = token
    return token


def _csrf_ok() -> bool:
    expected = session.get(CSRF_KEY)
    presented = request.form.get(CSRF_FIELD, "")
    return isinstance(expected, str) and _same(presented, expected)


@bp.before_request
def _guard():
    g.admin = current_admin()
    if request.endpoint not in _PUBLIC and g.admin is None:
        target = request.full_path if request.method == "GET" else None
        return redirect(url_for("admin.login", next=safe_next(target)), 303)
    if request.method == "POST" and not _csrf_ok():
        log.warning("admin: POST %s refused: CSRF token missing or wrong", request.path)
        return error_page(400, "Форма устарела",
                      "Страница была открыта слишком давно или в другом окне. "
                      "Вернитесь назад, обновите страницу и повторите действие.")
    return None


bp.after_request(security.add_headers(lambda response: security.ADMIN_HEADERS))


@bp.context_processor
def _template_globals() -> dict[str, Any]:
    return {
        "csrf_token": _csrf_token,
        "csrf_field": CSRF_FIELD,
        "admin": g.get("admin"),
        "forum_url": current_services().settings.discourse_url.rstrip("/"),
    }


@bp.app_template_filter("admin_time")
def _moscow_time(value: Any) -> str:
    """A timestamp, datetime or ISO string as Moscow time, e.g. `05.03.2025 14:30 МСК`."""
    if value in (None, ""):
        return "—"
    try:
        if isinstance(value, int | float):
            moment = datetime.fromtimestamp(value, UTC)
        elif isinstance(value, str):
            moment = datetime.fromisoformat(value)
        else:
            moment = value
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return str(value)
    return moment.astimezone(MOSCOW).strftime("%d.%m.%Y %H:%M МСК")


def error_page(status: int, title: str, message: str) -> Response:
    return make_response(render_template("admin/error.html", title=title, message=message),
                         status)


@bp.errorhandler(redis.RedisError)
def _redis_down(error: redis.RedisError):
    log.error("admin: Redis unavailable: %s", type(error).__name__)
    return error_page(503, "Хранилище недоступно",
                  "Сервис не может связаться с Redis. Повторите попытку через минуту.")


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    titles = {
        404: ("Страница не найдена", "Такой страницы в разделе администрирования нет."),
        405: ("Действие недоступно", "Эта страница не принимает такой запрос."),
        413: ("Файл слишком большой", "Список участников должен быть не больше 20 МБ."),
    }
    title, message = titles.get(error.code or 500, ("Ошибка запроса", error.description or ""))
    return error_page(error.code or 500, title, message)


def safe_next(target: str | None) -> str | None:
    """Only a path inside /admin: the login must never redirect elsewhere."""
    if not target:
        return None
    target = target.rstrip("?")
    if not target.startswith("/admin") or "\\" in target or target.startswith("//"):
        return None
    if target.startswith(("/admin/login", "/admin/logout")):
        return None
    return target

def page_number() -> int:
    return max(1, min(ascii_number(request.args.get("page", "1")) or 1, 10_000))
