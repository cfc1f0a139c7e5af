"""`make run`'s embedded default: two sources (config/demo), their providers, rosters, events.

What sandbox/run.py generates into var/dev.env must make config/demo a valid
federation; each demo roster and event must fit its own source's mapping
files; the demo identity providers are the sources' issuers.
"""

from __future__ import annotations

import logging
import stat
from urllib.parse import urlsplit

import pytest

import config
import config.settings
import sandbox.run
from config import load_config
from sandbox.idp.demo_users import DEMO_ORGANISATIONS, SHARED_TEACHER_EMAIL
from tests.conftest import ROOT

DEMO_DIR = ROOT / "config" / "demo"


@pytest.fixture
def dev_env(tmp_path, monkeypatch):
    """var/dev.env of a fresh checkout, in a temporary folder."""
    path = tmp_path / "var" / "dev.env"
    monkeypatch.setattr(sandbox.run, "DEV_ENV_FILE", path)
    return path


def _demo_config(values: dict[str, str]):
    return load_config({**values, "BRIDGE_ENV": "development"})


def test_generated_secrets_make_the_demo_a_valid_federation(dev_env):
    values = sandbox.run.dev_secrets()
    assert stat.S_IMODE(dev_env.stat().st_mode) == 0o600
    assert values["BRIDGE_CONFIG_DIR"] == "config/demo"

    app_config = _demo_config(values)
    federation = app_config.sources
    assert app_config.federated
    assert federation.codes == ["institute", "vyazma"]
    assert federation["institute"].legacy_ids
    assert not federation["vyazma"].legacy_ids
    tokens = dict(item.split(":", 1) for item in values["BRIDGE_API_TOKENS"].split(","))
    for code in federation.codes:
        assert federation.for_token(code) == [federation[code]]
        assert len(tokens[code]) >= 16
    assert federation["institute"].client_secret == values["OIDC_INSTITUTE_CLIENT_SECRET"]
    assert federation["vyazma"].client_secret == values["OIDC_VYAZMA_CLIENT_SECRET"]
    # `discourse setup` creates the union of both sources' groups.
    assert {"winners", "club-admins", "r-vyazma", "vyazma-mo"} <= set(app_config.roles.groups)

    # The single-source client stays for a BRIDGE_CONFIG_DIR without sources.yml.
    single = load_config({**values, "BRIDGE_ENV": "development", "BRIDGE_CONFIG_DIR": "config"})
    assert not single.federated
    assert single.settings.oidc_client_secret == values["OIDC_CLIENT_SECRET"]


def test_a_var_from_before_federation_keeps_its_secrets(dev_env):
    dev_env.parent.mkdir()
    dev_env.write_text("DISCOURSE_API_KEY=" + "k" * 64 + "\n"
                       "DISCOURSE_CONNECT_SECRET=" + "s" * 48 + "\n"
                       "BRIDGE_SECRET_KEY=" + "b" * 64 + "\n"
                       "BRIDGE_API_TOKENS=demo:" + "d" * 32 + "\n"
                       "OIDC_CLIENT_ID=teacher-club-bridge\n"
                       "OIDC_CLIENT_SECRET=" + "c" * 48 + "\n")

    values = sandbox.run.dev_secrets()
    assert values["DISCOURSE_API_KEY"] == "k" * 64  # the kept forum still knows this key
    assert values["OIDC_CLIENT_SECRET"] == "c" * 48
    # `demo` is a token name no source lists: a configuration error in a federation.
    assert "demo:" not in values["BRIDGE_API_TOKENS"]
    assert _demo_config(values).federated
    assert sandbox.run.dev_secrets() == values, "written once, then read back unchanged"


def test_the_demo_identity_providers_are_the_sources_issuers(dev_env):
    values = sandbox.run.dev_secrets()
    sources = sandbox.run.demo_sources(DEMO_DIR)
    assert list(sources) == list(DEMO_ORGANISATIONS) == list(sandbox.run.DEMO_DATA)
    assert sources["institute"]["issuer"] == config.settings.SANDBOX_IDP_URL
    assert sources["vyazma"]["issuer"] == "http://127.0.0.1:4301"
    for code, source in sources.items():
        assert urlsplit(source["issuer"]).hostname == "127.0.0.1"
        assert values[source["client_secret_env"]]
        assert DEMO_ORGANISATIONS[code].name == _demo_config(values).sources[code].name


def test_each_demo_roster_and_event_fits_its_own_source(dev_env):
    federation = _demo_config(sandbox.run.dev_secrets()).sources
    for code, (roster, events) in sandbox.run.DEMO_DATA.items():
        source = federation[code]
        teachers = {user["sub"]: user for user in DEMO_ORGANISATIONS[code].users}
        for member in roster():
            teacher = teachers[member["external_id"]]  # each member can log in at its provider
            assert (member["email"], member["name"]) == (teacher["email"], teacher["name"])
            assert set(member["roles"]) <= set(source.roles.roles), member
            for name, value in member["attributes"].items():
                values = source.roles.attributes[name]
                assert not values or value in values, (name, value)
        for external_id, event in events().items():
            assert event["kind"] in source.events.kinds, external_id
            assert event["starts_at"] < event["ends_at"]


def test_the_shared_teacher_is_listed_by_both_sources():
    listings = {code: [m for m in roster() if m["email"] == SHARED_TEACHER_EMAIL]
                for code, (roster, _) in sandbox.run.DEMO_DATA.items()}
    assert [m["external_id"] for m in listings["institute"]] == ["t-1001"]
    assert [m["external_id"] for m in listings["vyazma"]] == ["v-2001"]
    assert all(m["active"] for found in listings.values() for m in found)
    methodists = [m["external_id"] for m in sandbox.run.vyazma_roster()
                  if "methodist" in m["roles"]]
    assert methodists == ["v-2003"]  # administers the vyazma source (admin_roles)


def test_only_variables_the_operator_set_are_reported_as_ignored(dev_env, monkeypatch, caplog):
    """var/dev.env keeps the single-source client: in the federation demo it is no warning."""
    values = sandbox.run.dev_secrets()
    monkeypatch.setattr(config.settings, "DEV_ENV_FILE", dev_env)
    operator = {"BRIDGE_ENV": "development"}
    monkeypatch.setattr(config.settings, "read_environment", lambda: dict(operator))
    monkeypatch.setattr(config, "read_environment", lambda: dict(operator))

    with caplog.at_level(logging.WARNING, logger="config"):
        assert load_config().federated
    assert values["OIDC_CLIENT_SECRET"]
    assert not caplog.records

    operator["OIDC_ISSUER"] = "https://id.example.org"
    with caplog.at_level(logging.WARNING, logger="config"):
        load_config()
    assert "ignored: OIDC_ISSUER" in caplog.text
