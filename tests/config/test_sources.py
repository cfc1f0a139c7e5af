"""config/sources.yml: several member organisations, checked with everything else at start."""

from __future__ import annotations

import logging

import pytest

from config import ConfigError, load_config
from tests.conftest import ROOT

ROLES = ROOT / "config" / "roles.yml"
EVENTS = ROOT / "config" / "events.yml"
VYAZMA_ROLES = ROOT / "config" / "demo" / "roles-vyazma.yml"

BASE = {
    "DISCOURSE_API_KEY": "k" * 64,
    "DISCOURSE_CONNECT_SECRET": "s" * 32,
    "BRIDGE_SECRET_KEY": "x" * 32,
    "BRIDGE_API_TOKENS": "institute:" + "t" * 32 + ",vyazma:" + "u" * 32,
    "OIDC_INSTITUTE_SECRET": "c" * 32,
    "OIDC_VYAZMA_SECRET": "d" * 32,
}

TWO_SOURCES = f"""
federation_admin_roles: [institute:administrator]
sources:
  institute:
    name: Институт
    issuer: https://id.institute.example
    client_id: club-bridge
    client_secret_env: OIDC_INSTITUTE_SECRET
    roles: {ROLES}
    events: {EVENTS}
    tokens: [institute]
    admin_roles: [administrator]
    legacy_ids: true
  vyazma:
    name: Вязьма
    issuer: https://id.vyazma.example
    client_id: club-bridge
    client_secret_env: OIDC_VYAZMA_SECRET
    scopes: openid email
    roles: {VYAZMA_ROLES}
    tokens: [vyazma]
    admin_roles: [methodist]
"""


def load(tmp_path, sources: str, **env):
    (tmp_path / "sources.yml").write_text(sources, encoding="utf-8")
    (tmp_path / "events.yml").write_text(EVENTS.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "templates").symlink_to(ROOT / "config" / "templates")
    environ = {**BASE, "BRIDGE_CONFIG_DIR": str(tmp_path), **env}
    return load_config({k: v for k, v in environ.items() if v is not None})


def problems(tmp_path, sources: str, **env) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, sources, **env)
    return caught.value.problems


def test_two_sources_load_with_their_own_mappings(tmp_path):
    config = load(tmp_path, TWO_SOURCES)
    federation = config.sources
    assert federation.federated
    assert federation.codes == ["institute", "vyazma"]
    vyazma = federation["vyazma"]
    assert vyazma.scopes == "openid email"
    assert vyazma.client_secret == "d" * 32
    assert vyazma.events is config.events  # no events: of its own -> the shared events.yml
    assert {"club", "winners", "vyazma-mo"} <= config.roles.managed
    assert federation.split("vyazma:v-1") == (vyazma, "v-1")
    assert federation.split("t-1")[0].code == "institute"
    assert federation.split("other:x")[0].code == "institute"  # not a source code: legacy
    assert federation.legacy_conflict("vyazma:x") == "vyazma"
    assert config.roles.for_member("vyazma:v-1").roles.keys() == {"teacher", "mentor",
                                                                   "methodist"}
    assert federation.administers(federation["institute"], ["administrator"]) == [
        "institute", "vyazma"]
    assert federation.administers(vyazma, ["methodist"]) == ["vyazma"]
    assert federation.administers(vyazma, ["teacher"]) == []


def test_without_sources_yml_there_is_one_source_as_before():
    config = load_config({**BASE, "BRIDGE_API_TOKENS": "institute:" + "t" * 32,
                          "OIDC_CLIENT_ID": "bridge", "OIDC_CLIENT_SECRET": "c" * 32})
    assert not config.federated
    only = config.sources.only
    assert only.legacy_ids
    assert only.issuer == config.settings.oidc_issuer
    assert only.tokens == {"institute"}
    assert config.sources.split("t-1") == (only, "t-1")


def test_every_problem_is_reported_at_once_naming_file_and_key(tmp_path):
    broken = TWO_SOURCES.replace(f"roles: {VYAZMA_ROLES}", "roles: missing.yml")
    broken = broken.replace("tokens: [institute]", "tokens: [institute, hr]")
    broken = broken.replace("    admin_roles: [methodist]\n",
                            "    admin_roles: [methodist]\n    legacy_ids: true\n")
    found = problems(tmp_path, broken, OIDC_VYAZMA_SECRET=None,
                     BRIDGE_API_TOKENS="institute:" + "t" * 32 + ",spare:" + "v" * 32)
    text = "\n".join(found)
    assert "missing.yml: file not found" in text
    assert "sources.institute.tokens: 'hr' is not a name in BRIDGE_API_TOKENS" in text
    assert "sources.vyazma.tokens: 'vyazma' is not a name in BRIDGE_API_TOKENS" in text
    assert "sources.vyazma.client_secret_env: the variable OIDC_VYAZMA_SECRET is not set" in text
    assert "at most one source may have legacy_ids: institute, vyazma" in text
    assert "BRIDGE_API_TOKENS: the token 'spare' is listed by no source" in text
    assert all(str(tmp_path / "sources.yml") in p or "BRIDGE_API_TOKENS" in p
               or "missing.yml" in p for p in found)


def test_a_group_two_sources_declare_differently_is_refused(tmp_path):
    other = tmp_path / "roles-other.yml"
    other.write_text(VYAZMA_ROLES.read_text(encoding="utf-8").replace(
        "r-vyazma: {full_name: Вяземский район}",
        "r-vyazma: {full_name: Вяземский район, visibility: public}"), encoding="utf-8")
    found = problems(tmp_path, TWO_SOURCES.replace(str(VYAZMA_ROLES), str(other)))
    assert any("group 'r-vyazma' is declared differently" in p and "visibility" in p
               and "roles-other.yml" in p for p in found), found


def test_a_source_without_tokens_and_a_bad_code_are_refused(tmp_path):
    found = problems(tmp_path, TWO_SOURCES.replace("    tokens: [vyazma]\n", "").replace(
        "  vyazma:\n", "  Vyazma_Centre:\n"))
    text = "\n".join(found)
    assert "sources.Vyazma_Centre: source codes are 2-20 characters of a-z 0-9 -" in text
    assert "sources.Vyazma_Centre.tokens: at least one token name" in text


def test_oidc_variables_are_ignored_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="config"):
        config = load(tmp_path, TWO_SOURCES, OIDC_ISSUER="https://elsewhere.example")
    assert config.sources["institute"].issuer == "https://id.institute.example"
    assert "ignored: OIDC_ISSUER" in caplog.text


def test_a_category_two_sources_declare_differently_is_refused(tmp_path):
    own = tmp_path / "events-vyazma.yml"
    own.write_text(EVENTS.read_text(encoding="utf-8").replace(
        "meropriyatiya: {name: Мероприятия клуба, color: 0088CC}",
        "meropriyatiya: {name: Мероприятия Вязьмы, color: 0088CC}"), encoding="utf-8")
    found = problems(tmp_path, TWO_SOURCES.replace(
        "    tokens: [vyazma]\n", f"    events: {own}\n    tokens: [vyazma]\n"))
    assert any("category 'meropriyatiya' is declared differently" in p for p in found), found
