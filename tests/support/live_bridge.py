"""The bridge served over real HTTP on `bridge_port`, wired to the demo identity provider.

The sandbox Discourse and the identity provider are configured with that port
(`connect_url`, the client's redirect URIs), so a scripted browser can walk
forum -> bridge -> identity provider -> bridge -> forum.

Fixtures for the login tests of tests/sso, tests/federation and tests/browser:
each package's conftest imports the ones it needs.
"""

from __future__ import annotations

import pytest
import requests

from tests.support.flow import TIMEOUT
from tests.support.servers import ThreadedServer


class _Swappable:
    """One listening socket for the session; each test plugs in its own app."""

    def __init__(self):
        self.app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


_servers: dict[int, ThreadedServer] = {}  # one per port, shared by every package that uses it


@pytest.fixture(scope="session")
def bridge_server(bridge_port):
    server = _servers.get(bridge_port)
    if server is None:
        target = _Swappable()
        server = _servers[bridge_port] = ThreadedServer(target, port=bridge_port).start()
        server.target = target
    return server


@pytest.fixture
def idp_issuer(idp_server) -> str:
    requests.post(idp_server.url + "/_idp/reset", timeout=TIMEOUT).raise_for_status()
    return idp_server.url


@pytest.fixture
def environ(environ, idp_issuer):
    """The shared test environment, with the demo identity provider as the issuer."""
    return {**environ, "OIDC_ISSUER": idp_issuer}


@pytest.fixture
def bridge(bridge_server, app):
    """The bridge app of this test, reachable at `bridge.url`."""
    bridge_server.target.app = app
    yield bridge_server
    bridge_server.target.app = None


@pytest.fixture
def forum(sandbox, services):
    """The sandbox forum with the managed groups created, as `flask discourse setup` would.

    The groups are seeded straight into the sandbox (every source's, when federated);
    `tests.support.forum.forum` creates them through the bridge instead.
    """
    sandbox.seed(
        groups=[
            {"name": spec.name, "full_name": spec.full_name}
            for spec in services.config.roles.groups.values()
        ]
    )
    return sandbox


@pytest.fixture
def browser():
    with requests.Session() as session:
        yield session
