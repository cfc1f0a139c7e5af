"""Demo OpenID Connect identity provider: the institute's IdP in development and tests.

Built with authlib's server side; in-memory, one RSA signing key per process.
Run it with ``python -m sandbox.idp``; it refuses to start when BRIDGE_ENV=production.
"""

from .app import SESSION_COOKIE, SandboxRefusedError, create_app
from .demo_users import DEMO_USERS

__all__ = ["DEMO_USERS", "SESSION_COOKIE", "SandboxRefusedError", "create_app"]
