"""Flask application factory and the API-key request pipeline.

Order for a request carrying ``Api-Key``: count it, injected faults, key check,
site-wide admin rate limit (REFERENCE §8), OpenAPI check, handler.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
import time
from collections.abc import Callable

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from . import spec, spec_gaps
from .context import EXTENSION_KEY, Sandbox, Settings, ensure_api_user, error_response
from .errors import INVALID_API_CREDENTIALS, ApiError, json_error, not_found
from .params import BodyError, body_params, form_to_nested
from .ratelimit import rate_limit_body, rate_limit_headers

log = logging.getLogger("sandbox.discourse")
_CONVERTER = re.compile(r"<(?:[^:>]+:)?([^>]+)>")


def route_template() -> str:
    rule = request.url_rule
    return _CONVERTER.sub(r"{\1}", rule.rule) if rule is not None else "<unmatched>"


def create_app(
    *,
    api_key: str,
    api_username: str = "system",
    connect_secret: str,
    connect_url: str | None = None,
    logout_redirect: str | None = None,
    max_admin_api_reqs_per_minute: int = 60,
    validate_spec: bool = True,
    clock: Callable[[], float] | None = None,
) -> Flask:
    if not api_key:
        raise ValueError("api_key must not be empty")
    settings = Settings(
        api_key=api_key,
        api_username=api_username,
        connect_secret=connect_secret,
        connect_url=connect_url or None,
        logout_redirect=logout_redirect or None,
        max_admin_api_reqs_per_minute=max_admin_api_reqs_per_minute,
        validate_spec=validate_spec,
    )
    app = Flask(__name__)
    app.secret_key = secrets.token_hex(32)
    app.config.update(
        SESSION_COOKIE_NAME="_forum_session", SESSION_COOKIE_SAMESITE="Lax", JSON_AS_ASCII=False
    )
    ctx = Sandbox(settings, clock)
    ensure_api_user(ctx)
    app.extensions[EXTENSION_KEY] = ctx
    if validate_spec:
        spec.openapi()  # load once, up front

    from .routes import register_all
    from .views import bp as views_bp

    register_all(app)
    app.register_blueprint(views_bp)
    app.before_request(_api_pipeline)
    app.after_request(_after)
    app.register_error_handler(ApiError, error_response)
    app.register_error_handler(HTTPException, _http_error)
    return app


def _sandbox() -> Sandbox:
    from flask import current_app

    return current_app.extensions[EXTENSION_KEY]


def _api_pipeline() -> Response | None:
    g.started = time.monotonic()
    g.api = False
    g.api_user = None
    if request.path.startswith("/_sandbox/"):
        return None
    key = request.headers.get("Api-Key")
    if key is None:
        return None
    ctx = _sandbox()
    g.api = True
    ctx.stats.record_request()

    decision = ctx.faults.decide()
    delay = decision.latency_s + decision.sleep_s
    if decision.sleep_s:
        ctx.stats.incr("delayed")
    if delay:
        time.sleep(delay)
    if decision.rate_limited:
        ctx.stats.incr("rate_limited")
        ctx.stats.incr("rate_limited_injected")
        return error_response(ApiError(429, rate_limit_body(1), rate_limit_headers(1)))
    if decision.error_status:
        ctx.stats.incr("faulted")
        return Response(
            f"sandbox: injected {decision.error_status}\n",
            status=decision.error_status,
            mimetype="text/plain",
        )

    user = _api_user(ctx, key)
    if user is None:
        ctx.stats.incr("auth_failed")
        return error_response(json_error(403, [INVALID_API_CREDENTIALS], "invalid_access"))

    accepted, wait = ctx.limiter.try_acquire()
    if not accepted:
        ctx.stats.incr("rate_limited")
        return error_response(ApiError(429, rate_limit_body(wait), rate_limit_headers(wait)))
    ctx.stats.record_accepted(ctx.now(), request.method, route_template())
    g.api_user = user

    if ctx.settings.validate_spec and request.url_rule is not None:
        return _check_spec(ctx)
    return None


def _api_user(ctx: Sandbox, key: str):
    if not ctx.key_matches(key):
        return None
    store = ctx.store
    with store.lock:
        if request.headers.get("Api-User-Id"):
            try:
                user = store.user_by_id(int(request.headers["Api-User-Id"]))
            except ValueError:
                user = None
        elif request.headers.get("Api-User-External-Id"):
            user = store.user_by_external_id(request.headers["Api-User-External-Id"])
        else:
            user = store.user_by_username(request.headers.get("Api-Username"))
        if user is None or user.is_suspended(ctx.now()):
            return None
        return user


def _check_spec(ctx: Sandbox) -> Response | None:
    try:
        body, kind = body_params(request)
    except BodyError as exc:
        return error_response(
            json_error(400, [f"spec: unparseable body: {exc}"], "invalid_parameters")
        )
    query = {k: v for k, v in request.args.items()}
    headers = {k: v for k, v in request.headers.items() if k.lower().startswith("api-")}
    errors = spec.validate_request(request.method, request.path, query, headers, body, kind)
    if not errors:
        return None
    ctx.stats.add_violation(
        "spec_violations",
        {
            "method": request.method,
            "path": request.path,
            "endpoint": route_template(),
            "errors": errors,
        },
    )
    found = spec.operation_for(request.method, request.path)
    if found and spec_gaps.discourse_fails_first(request.method, found[0], body):
        return None
    return error_response(json_error(400, [f"spec: {e}" for e in errors], "invalid_parameters"))


def _after(response: Response) -> Response:
    ctx = _sandbox()
    if getattr(g, "api", False):
        ctx.stats.record_status(response.status_code)
        if (
            ctx.settings.validate_spec
            and g.api_user is not None
            and response.mimetype == "application/json"
        ):
            _check_response(ctx, response)
    started = getattr(g, "started", None)
    elapsed = (time.monotonic() - started) * 1000 if started else 0.0
    who = "api" if getattr(g, "api", False) else "web"
    # path only: query strings carry DiscourseConnect payloads (personal data)
    print(
        f"sandbox-discourse {who} {request.method} {request.path} "
        f"{response.status_code} {elapsed:.1f}ms",
        file=sys.stderr,
        flush=True,
    )
    return response


def _check_response(ctx: Sandbox, response: Response) -> None:
    try:
        body = response.get_json(silent=True)
    except Exception:  # noqa: BLE001 - never let a check break the answer
        return
    query = form_to_nested(list(request.args.items(multi=True)))
    headers = {k: v for k, v in request.headers.items() if k.lower().startswith("api-")}
    errors = spec.validate_response(
        request.method, request.path, query, headers, response.status_code, body
    )
    if errors:
        ctx.stats.add_violation(
            "response_spec_violations",
            {
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "errors": errors,
            },
        )


def _http_error(error: HTTPException) -> Response:
    if error.code == 404:
        return error_response(not_found())
    if error.code == 405:
        return error_response(not_found())
    return error_response(json_error(error.code or 500, [error.description or "error"]))
