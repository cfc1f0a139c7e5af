"""The login tests: the bridge served over real HTTP on `bridge_port`, wired to the demo
identity provider (tests/support/live_bridge.py), and the demo teachers in the roster."""

from tests.support.live_bridge import (  # noqa: F401 - fixtures
    bridge,
    bridge_server,
    browser,
    environ,
    forum,
    idp_issuer,
)
from tests.support.members import members  # noqa: F401 - fixture
