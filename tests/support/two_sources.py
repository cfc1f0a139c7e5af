"""A federation of two sources for tests: the institute (legacy ids) and the Vyazma centre.

`two_sources_config(environ, tmp_path)` writes a sources.yml naming the demo
mapping files by absolute path and returns the loaded configuration; a test
module overrides `app_config` with it, so `services`, `app`, `client`, `work`
and the rest run the federation. `auth` stays the institute's token.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from config import AppConfig, load_config
from tests.conftest import API_TOKEN, ROOT

VYAZMA_TOKEN = "vyazma-token-" + secrets.token_hex(16)
BOTH_TOKEN = "both-token-" + secrets.token_hex(16)  # acts for both sources

CONFIG = ROOT / "config"
DEMO = CONFIG / "demo"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def write_sources(folder: Path) -> Path:
    (folder / "sources.yml").write_text(f"""
federation_admin_roles: [institute:administrator]
sources:
  institute:
    name: Смоленский областной институт развития образования
    issuer: http://127.0.0.1:9
    client_id: bridge
    client_secret_env: OIDC_INSTITUTE_CLIENT_SECRET
    roles: {CONFIG / "roles.yml"}
    events: {CONFIG / "events.yml"}
    tokens: [institute, both]
    admin_roles: [administrator]
    legacy_ids: true
  vyazma:
    name: Методический центр Вяземского района
    issuer: http://127.0.0.1:9
    client_id: bridge
    client_secret_env: OIDC_VYAZMA_CLIENT_SECRET
    roles: {DEMO / "roles-vyazma.yml"}
    events: {DEMO / "events-vyazma.yml"}
    tokens: [vyazma, both]
    admin_roles: [methodist]
""", encoding="utf-8")
    return folder


def two_sources_environ(environ: dict, folder: Path) -> dict:
    return {
        **environ,
        "BRIDGE_CONFIG_DIR": str(write_sources(folder)),
        "BRIDGE_API_TOKENS": f"institute:{API_TOKEN},vyazma:{VYAZMA_TOKEN},both:{BOTH_TOKEN}",
        "OIDC_INSTITUTE_CLIENT_SECRET": secrets.token_hex(16),
        "OIDC_VYAZMA_CLIENT_SECRET": secrets.token_hex(16),
    }


def two_sources_config(environ: dict, folder: Path) -> AppConfig:
    config = load_config(two_sources_environ(environ, folder))
    assert config.federated
    assert config.sources.codes == ["institute", "vyazma"]
    return config
