"""A good production environment, and the problems a change to it brings."""

from __future__ import annotations

import pytest

from config import ConfigError
from config.settings import load_settings

GOOD = {
    "DISCOURSE_URL": "https://forum.example.org",
    "DISCOURSE_API_KEY": "k" * 64,
    "DISCOURSE_CONNECT_SECRET": "s" * 32,
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "BRIDGE_SECRET_KEY": "x" * 32,
    "BRIDGE_PUBLIC_URL": "https://bridge.example.org",
    "BRIDGE_API_TOKENS": "institute:" + "t" * 32 + ",next:" + "u" * 32,
    "OIDC_ISSUER": "https://id.example.org/realms/soiro",
    "OIDC_CLIENT_ID": "bridge",
    "OIDC_CLIENT_SECRET": "c" * 32,
    "BRIDGE_ENV": "production",
}


def problems(**changes) -> list[str]:
    environ = {k: v for k, v in {**GOOD, **changes}.items() if v is not None}
    with pytest.raises(ConfigError) as caught:
        load_settings(environ)
    return caught.value.problems
