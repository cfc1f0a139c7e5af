"""The per-app sandbox: settings, state and the machinery around it."""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import wraps
from typing import Any

from flask import Response, current_app, g, request, session

from . import spec
from .connect import NonceStore
from .errors import ApiError, invalid_access, not_logged_in
from .faults import Faults
from .ratelimit import SlidingWindowLimiter
from .state import Store, User
from .stats import Stats
from .webhooks import WebHooks

EXTENSION_KEY = "sandbox_discourse"


@dataclass
class Settings:
    api_key: str
    api_username: str = "system"
    connect_secret: str = ""
    connect_url: str | None = None
    logout_redirect: str | None = None
    #: The forum's own base URL (Discourse's `Discourse.base_url`, from its
    #: hostname); None: the URL the request came in on.
    base_url: str | None = None
    max_admin_api_reqs_per_minute: int = 60
    allow_duplicate_topic_titles: bool = False
    discourse_connect_overrides_groups: bool = False
    auth_overrides_email: bool = False
    auth_overrides_username: bool = False
    auth_overrides_name: bool = False
    validate_spec: bool = True

    @property
    def enable_discourse_connect(self) -> bool:
        return bool(self.connect_url)

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("api_key")
        data.pop("connect_secret")
        data["enable_discourse_connect"] = self.enable_discourse_connect
        return data


class Sandbox:
    def __init__(self, settings: Settings, clock: Callable[[], float] | None = None) -> None:
        self.settings = settings
        self._clock = clock or time.time
        self.store = Store(self.now)
        self.limiter = SlidingWindowLimiter(settings.max_admin_api_reqs_per_minute, 60.0, self.now)
        self.faults = Faults()
        self.stats = Stats()
        self.nonces = NonceStore(self.now)
        self.webhooks = WebHooks(settings.base_url)
        self.store.listener = self.webhooks.emit

    def now(self) -> float:
        return self._clock()

    def set_clock(self, clock: Callable[[], float]) -> None:
        """Tests inject a fake clock here (rate limiter, nonces, memo, timestamps)."""
        self._clock = clock

    def key_matches(self, key: str | None) -> bool:
        return key is not None and hmac.compare_digest(key.encode(), self.settings.api_key.encode())

    def reset(self) -> None:
        self.webhooks.reset()
        self.store.reset()
        self.stats.clear()
        self.faults.clear()
        self.nonces.clear()
        self.limiter.reset()
        ensure_api_user(self)


def ensure_api_user(ctx: Sandbox) -> None:
    name = ctx.settings.api_username
    if ctx.store.user_by_username(name) is None:
        ctx.store.create_user(username=name, email=f"{name}@sandbox.invalid", name=name, admin=True)


def sandbox() -> Sandbox:
    return current_app.extensions[EXTENSION_KEY]


# --- current user --------------------------------------------------------------------
def browser_user() -> User | None:
    ctx = sandbox()
    uid = session.get("uid")
    if uid is None:
        return None
    user = ctx.store.user_by_id(uid)
    if user is None or session.get("gen") != user.auth_generation:
        return None
    if user.is_suspended(ctx.now()):
        return None
    return user


def current_user() -> User | None:
    if getattr(g, "api", False):
        return g.api_user
    return browser_user()


def require_admin() -> User:
    user = current_user()
    if user is None:
        raise not_logged_in()
    if not user.admin:
        raise invalid_access()
    return user


def require_staff() -> User:
    user = current_user()
    if user is None:
        raise not_logged_in()
    if not user.staff:
        raise invalid_access()
    return user


# --- responses -----------------------------------------------------------------------
def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    if body is None:
        response = Response(b"", status=status)
    else:
        spec.fill_response(request.method, request.path, status, body)
        response = Response(
            json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json"
        )
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def error_response(error: ApiError) -> Response:
    if error.body is None:
        response = Response(b"", status=error.status)
    else:
        response = Response(
            json.dumps(error.body, ensure_ascii=False),
            status=error.status,
            mimetype="application/json",
        )
    for key, value in error.headers.items():
        response.headers[key] = value
    return response


def api_view(func: Callable[..., Any]) -> Callable[..., Response]:
    """Run a handler under the state lock and turn its result into a JSON response."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        ctx = sandbox()
        try:
            with ctx.store.lock:
                result = func(*args, **kwargs)
        except ApiError as error:
            return error_response(error)
        if isinstance(result, Response):
            return result
        if isinstance(result, tuple):
            return json_response(*result)
        return json_response(result)

    return wrapper
