"""Two member organisations, one forum: each source with its own demo identity provider.

The institute (legacy bare ids, `config/roles.yml`) and the Vyazma centre
(`vyazma:` ids, `config/demo/roles-vyazma.yml`), each provider on its own port
with its own signing key and users. Maria is listed by both, with one e-mail.

Fixtures for tests/federation and the chooser's browser test: `idp_servers`,
`issuers`, `environ` (the shared environment as the federation), `app_config`, `tokens`.
"""

from __future__ import annotations

import secrets

import pytest
import requests

from config import load_config
from sandbox.idp.demo_users import DEMO_USERS
from tests.conftest import OIDC_CLIENT_ID, ROOT
from tests.support.flow import TIMEOUT
from tests.support.servers import ThreadedServer, free_port

INSTITUTE_TOKEN = "institute-token-" + secrets.token_hex(16)
VYAZMA_TOKEN = "vyazma-token-" + secrets.token_hex(16)
NETWORK_TOKEN = "network-token-" + secrets.token_hex(16)  # acts for both sources
SECRETS = {"institute": secrets.token_hex(16), "vyazma": secrets.token_hex(16)}
MARIA_EMAIL = "ivanova.mp@teachers.example.org"

VYAZMA_USERS = [
    {"sub": "v-2001", "name": "Иванова Мария Петровна", "email": MARIA_EMAIL,
     "email_verified": True, "note": "та же учительница, что и t-1001 в институте"},
    {"sub": "v-2002", "name": "Петров Иван Сергеевич", "email": "petrov.is@vyazma.example.org",
     "email_verified": True},
    {"sub": "v-2003", "name": "Сидорова Анна Ивановна", "email": "smirnov.av@teachers.example.org",
     "email_verified": True, "note": "указала чужой адрес"},
]


@pytest.fixture(scope="session")
def idp_servers(bridge_port):
    from sandbox.idp import create_app

    servers = {}
    for code, users in (("institute", DEMO_USERS), ("vyazma", VYAZMA_USERS)):
        port = free_port()
        app = create_app(
            issuer=f"http://127.0.0.1:{port}",
            clients=[{
                "client_id": OIDC_CLIENT_ID,
                "client_secret": SECRETS[code],
                "redirect_uris": [f"http://127.0.0.1:{bridge_port}/auth/callback"],
                "post_logout_redirect_uris": [f"http://127.0.0.1:{bridge_port}/logout/done"],
            }],
            users=users,
        )
        servers[code] = ThreadedServer(app, port=port).start()
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def issuers(idp_servers) -> dict[str, str]:
    for server in idp_servers.values():
        requests.post(server.url + "/_idp/reset", timeout=TIMEOUT).raise_for_status()
    return {code: server.url for code, server in idp_servers.items()}


@pytest.fixture
def environ(environ, issuers, tmp_path):
    """The shared test environment as a two-source federation."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "sources.yml").write_text(f"""
federation_admin_roles: [institute:administrator]
sources:
  institute:
    name: Смоленский областной институт развития образования
    issuer: {issuers["institute"]}
    client_id: {OIDC_CLIENT_ID}
    client_secret_env: OIDC_INSTITUTE_CLIENT_SECRET
    roles: {ROOT / "config" / "roles.yml"}
    events: {ROOT / "config" / "events.yml"}
    tokens: [institute, network]
    admin_roles: [administrator]
    legacy_ids: true
  vyazma:
    name: Методический центр Вяземского района
    issuer: {issuers["vyazma"]}
    client_id: {OIDC_CLIENT_ID}
    client_secret_env: OIDC_VYAZMA_CLIENT_SECRET
    roles: {ROOT / "config" / "demo" / "roles-vyazma.yml"}
    events: {ROOT / "config" / "demo" / "events-vyazma.yml"}
    tokens: [vyazma, network]
    admin_roles: [methodist]
""", encoding="utf-8")
    federated = {key: value for key, value in environ.items() if not key.startswith("OIDC_")}
    return {
        **federated,
        "BRIDGE_CONFIG_DIR": str(config),
        "BRIDGE_API_TOKENS": (f"institute:{INSTITUTE_TOKEN},vyazma:{VYAZMA_TOKEN},"
                              f"network:{NETWORK_TOKEN}"),
        "OIDC_INSTITUTE_CLIENT_SECRET": SECRETS["institute"],
        "OIDC_VYAZMA_CLIENT_SECRET": SECRETS["vyazma"],
    }


@pytest.fixture
def app_config(environ):
    return load_config(environ)


@pytest.fixture
def tokens() -> dict[str, dict[str, str]]:
    return {"institute": {"Authorization": f"Bearer {INSTITUTE_TOKEN}"},
            "vyazma": {"Authorization": f"Bearer {VYAZMA_TOKEN}"},
            "network": {"Authorization": f"Bearer {NETWORK_TOKEN}"}}
