"""Demo OpenID Connect identity provider: the member organisations' IdPs in development and tests.

Built with authlib's server side; in-memory, one RSA signing key per process.
Run it with ``python -m sandbox.idp [--organisation vyazma]``; it refuses to
start when BRIDGE_ENV=production.
"""

from .app import SESSION_COOKIE, SandboxRefusedError, create_app, create_organisation_app
from .demo_users import DEMO_ORGANISATIONS, DEMO_USERS, VYAZMA_USERS

__all__ = [
    "DEMO_ORGANISATIONS",
    "DEMO_USERS",
    "SESSION_COOKIE",
    "VYAZMA_USERS",
    "SandboxRefusedError",
    "create_app",
    "create_organisation_app",
]
