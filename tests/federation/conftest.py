"""Two member organisations, one forum (tests/support/federation.py), with the bridge
served over real HTTP (tests/support/live_bridge.py)."""

from tests.support.federation import (  # noqa: F401 - fixtures
    app_config,
    environ,
    idp_servers,
    issuers,
    tokens,
)
from tests.support.live_bridge import bridge, bridge_server, browser, forum  # noqa: F401
