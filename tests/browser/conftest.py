"""The browser tests use the login flow's fixtures: the bridge on `bridge_port`, the forum
with its managed groups, the demo teachers in the roster."""

from tests.sso.conftest import (  # noqa: F401 - fixtures
    bridge,
    bridge_server,
    environ,
    forum,
    idp_issuer,
    members,
)
