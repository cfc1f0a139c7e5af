"""The admin pages (`/admin`): staff watch the sync and act on it, in Russian.

One module per room, like `web/api/`: `access` (the blueprint and the checks every
page shares), `scope` (which sources each administrator sees), `login`, `dashboard`,
`members`, `jobs`, `audit`, `roster`, `events`.

Staff are members whose roles grant forum admin (a bridge session from the
OIDC login, `session["external_id"]`), or whoever holds one of the API tokens
(pasted once at `/admin/login`). Every POST carries a CSRF token kept in the
session. Server-rendered, no scripts, no external assets. Log lines carry
ids, token names and counts only.
"""

from __future__ import annotations

# The blueprint the app registers; each room's module adds its routes to it.
from web.admin import (  # noqa: F401
    audit,
    dashboard,
    events,
    jobs,
    login,
    members,
    roster,
    scope,
)
from web.admin.access import bp  # noqa: F401
