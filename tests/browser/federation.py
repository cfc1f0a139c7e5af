"""A federated bridge for the browser tests: two sources, each with its own demo identity provider.

A test module imports these fixtures to run its bridge with a `sources.yml`
(written to a temporary BRIDGE_CONFIG_DIR) instead of the single institute:

- `institute`: config/roles.yml and config/events.yml, the demo teachers, legacy ids;
- `vyazma`: config/demo/roles-vyazma.yml and events-vyazma.yml, its own teachers,
  one of them (Иванова) listed with the same e-mail as by the institute.

Both identity providers run over real HTTP on free ports for the whole module,
and are emptied before each test.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import requests
import yaml

from config import AppConfig, load_config
from sandbox.idp import DEMO_USERS, create_app
from tests.conftest import ROOT
from tests.support.servers import ThreadedServer, free_port

CLIENT_ID = "teacher-club-bridge"
CODES = ("institute", "vyazma")
SECRETS = {code: secrets.token_hex(16) for code in CODES}  # each source's client secret
TOKENS = {code: f"{code}-{secrets.token_hex(16)}" for code in CODES}  # BRIDGE_API_TOKENS
NAMES = {
    "institute": "Смоленский областной институт развития образования",
    "vyazma": "Методический центр Вяземского района",
}

VYAZMA_USERS: list[dict] = [
    {
        "sub": "v-201",
        "name": "Иванова Мария Петровна",
        "email": "ivanova.mp@teachers.example.org",  # the institute lists her too
        "email_verified": True,
        "note": "педагог; состоит и в институте",
    },
    {
        "sub": "v-202",
        "name": "Орлова Анна Сергеевна",
        "email": "orlova.as@vyazma-school.example.org",
        "email_verified": True,
        "note": "наставник",
    },
]
USERS = {"institute": DEMO_USERS, "vyazma": VYAZMA_USERS}


@pytest.fixture(scope="module")
def source_idps(bridge_port) -> dict[str, ThreadedServer]:
    """One demo identity provider per source, each with the bridge as its client."""
    servers: dict[str, ThreadedServer] = {}
    for code in CODES:
        port = free_port()
        app = create_app(
            issuer=f"http://127.0.0.1:{port}",
            clients=[{
                "client_id": CLIENT_ID,
                "client_secret": SECRETS[code],
                "redirect_uris": [f"http://127.0.0.1:{bridge_port}/auth/callback"],
                "post_logout_redirect_uris": [f"http://127.0.0.1:{bridge_port}/logout/done"],
            }],
            users=USERS[code],
        )
        servers[code] = ThreadedServer(app, port=port).start()
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def source_issuers(source_idps) -> dict[str, str]:
    for server in source_idps.values():
        requests.post(server.url + "/_idp/reset", timeout=10).raise_for_status()
    return {code: server.url for code, server in source_idps.items()}


@pytest.fixture
def sources_dir(tmp_path, source_issuers) -> Path:
    """A BRIDGE_CONFIG_DIR with sources.yml; its mapping files are the repository's own."""
    config, demo = ROOT / "config", ROOT / "config" / "demo"
    files = {
        "institute": (config / "roles.yml", config / "events.yml"),
        "vyazma": (demo / "roles-vyazma.yml", demo / "events-vyazma.yml"),
    }
    sources = {
        code: {
            "name": NAMES[code],
            "issuer": source_issuers[code],
            "client_id": CLIENT_ID,
            "client_secret_env": f"OIDC_{code.upper()}_CLIENT_SECRET",
            "roles": str(files[code][0]),
            "events": str(files[code][1]),
            "tokens": [code],
            "admin_roles": ["administrator" if code == "institute" else "methodist"],
            **({"legacy_ids": True} if code == "institute" else {}),
        }
        for code in CODES
    }
    directory = tmp_path / "config"
    directory.mkdir()
    (directory / "sources.yml").write_text(
        yaml.safe_dump({"federation_admin_roles": ["institute:administrator"], "sources": sources},
                       allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    return directory


@pytest.fixture
def environ(environ, sources_dir):
    """The shared environment, with sources.yml deciding the identity providers."""
    federated = {k: v for k, v in environ.items() if not k.startswith("OIDC_")}
    federated.update({
        "BRIDGE_CONFIG_DIR": str(sources_dir),
        "BRIDGE_API_TOKENS": ",".join(f"{code}:{token}" for code, token in TOKENS.items()),
        "OIDC_INSTITUTE_CLIENT_SECRET": SECRETS["institute"],
        "OIDC_VYAZMA_CLIENT_SECRET": SECRETS["vyazma"],
    })
    return federated


@pytest.fixture
def app_config(environ) -> AppConfig:
    config = load_config(environ)
    assert config.federated
    return config
