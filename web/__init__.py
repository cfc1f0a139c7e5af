"""The web process: the Flask app factory.

`create_app()` reads the configuration once, builds the services and registers
the blueprints: health and metrics, the inbound API, the DiscourseConnect
provider with the OIDC login, the admin pages, the Discourse webhooks and the
club calendar.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys

from flask import Flask, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from bridge.services import Services, build_services
from config import AppConfig, ConfigError, load_config
from config.logging import configure_logging, context_id
from web.current import SERVICES_KEY

log = logging.getLogger(__name__)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def create_app(config: AppConfig | None = None, *, services: Services | None = None) -> Flask:
    if services is None:
        if config is None:
            try:
                config = load_config()
            except ConfigError as error:
                # One readable message per problem, not a traceback, then stop.
                print(error, file=sys.stderr)  # noqa: T201
                raise SystemExit(2) from None
            configure_logging(config.settings.log_level, process="web",
                              log_format=config.settings.log_format)
        services = build_services(config, budget_wait=5.0)
    settings = services.settings

    app = Flask(__name__)
    app.config[SERVICES_KEY] = services
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="bridge_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=8 * 3600,
        MAX_CONTENT_LENGTH=21 * 1024 * 1024,
    )
    app.json.ensure_ascii = False
    if settings.trusted_proxies:
        # Behind a reverse proxy every request comes from the proxy: believe its
        # X-Forwarded-For/-Proto for exactly that many hops, so per-client limits
        # (the admin login's) see clients, and clients cannot name themselves.
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    @app.before_request
    def _request_id():
        given = request.headers.get("X-Request-Id", "")
        # A caller's id is kept only when it cannot forge or break a log line.
        g.request_id = given if _REQUEST_ID.fullmatch(given) else secrets.token_hex(8)
        g._context_token = context_id.set(g.request_id)

    @app.after_request
    def _echo_request_id(response):
        response.headers["X-Request-Id"] = g.get("request_id", "")
        return response

    @app.teardown_request
    def _reset_context(_exc):
        token = g.pop("_context_token", None)
        if token is not None:
            context_id.reset(token)

    from sso import bp as sso_bp
    from web.admin import bp as admin_bp
    from web.api import bp as api_bp
    from web.calendar import bp as calendar_bp
    from web.health import bp as health_bp
    from web.webhooks import bp as webhooks_bp

    for blueprint in (health_bp, api_bp, sso_bp, admin_bp, webhooks_bp, calendar_bp):
        app.register_blueprint(blueprint)

    from web.cli import register_commands

    register_commands(app)
    return app
