"""The bridge served over real HTTP on `bridge_port`, wired to the demo identity provider.

The sandbox Discourse and the identity provider are configured with that port
(`connect_url`, the client's redirect URIs), so a scripted browser can walk
forum -> bridge -> identity provider -> bridge -> forum.
"""

from __future__ import annotations

import pytest
import requests

from tests.support.servers import ThreadedServer

from .flow import TIMEOUT

#: Desired state of the demo teachers (sandbox/idp/demo_users.py) as the institute sends it.
DEMO_MEMBERS = {
    "t-1001": {
        "email": "ivanova.mp@teachers.example.org",
        "name": "Иванова Мария Петровна",
        "roles": ["participant"],
        "attributes": {"district": "Вяземский район"},
        "active": True,
    },
    "t-1002": {
        "email": "smirnov.av@teachers.example.org",
        "name": "Смирнов Алексей Викторович",
        "roles": ["moderator"],
        "attributes": {},
        "active": True,
    },
    "t-1003": {
        "email": "kuznetsova.oi@teachers.example.org",
        "name": "Кузнецова Ольга Игоревна",
        "roles": ["winner"],
        "attributes": {"district": "город Смоленск"},
        "active": True,
    },
    "t-1005": {
        "email": "yolkina.yus@teachers.example.org",
        "name": "Ёлкина Юлия Сергеевна",
        "roles": ["participant"],
        "attributes": {},
        "active": False,
    },
}


class _Swappable:
    """One listening socket for the session; each test plugs in its own app."""

    def __init__(self):
        self.app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


_servers: dict[int, ThreadedServer] = {}  # one per port, shared with tests/browser


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
    """The sandbox forum with the managed groups created, as `flask discourse setup` would."""
    sandbox.seed(
        groups=[
            {"name": spec.name, "full_name": spec.full_name}
            for spec in services.config.roles.groups.values()
        ]
    )
    return sandbox


@pytest.fixture
def members(services):
    """Put the demo teachers in the roster; returns a function to change one later."""
    for external_id, desired in DEMO_MEMBERS.items():
        services.members.accept(external_id, desired, version=1)

    def change(external_id: str, version: int, **fields):
        desired = {**DEMO_MEMBERS[external_id], **fields}
        assert services.members.accept(external_id, desired, version=version).stored

    return change


@pytest.fixture
def browser():
    with requests.Session() as session:
        yield session
