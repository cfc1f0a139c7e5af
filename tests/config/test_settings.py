"""Configuration: every problem reported at once, readably, before anything starts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from config import ConfigError, load_mappings
from config.settings import load_settings
from tests.conftest import ROOT
from tests.support.settings import GOOD, problems


def test_a_good_production_configuration_loads():
    settings = load_settings(GOOD)
    assert settings.production
    assert settings.secure_cookies
    assert settings.api_tokens == {"institute": "t" * 32, "next": "u" * 32}
    assert settings.discourse_max_reqs_per_minute == 60
    assert "k" * 64 not in repr(settings)


def test_every_problem_is_reported_at_once():
    found = problems(DISCOURSE_CONNECT_SECRET="short", DISCOURSE_URL="forum.example.org",
                     BRIDGE_API_TOKENS="institute:short,broken", REDIS_URL=None,
                     DISCOURSE_MAX_REQS_PER_MINUTE="many")
    assert found == [
        "DISCOURSE_URL: must be an http(s) URL, got 'forum.example.org'",
        "REDIS_URL: is required in production",
        "DISCOURSE_MAX_REQS_PER_MINUTE: must be a whole number, got 'many'",
        "DISCOURSE_CONNECT_SECRET: must be at least 10 characters long",
        "BRIDGE_API_TOKENS: the token of 'institute' must be at least 16 characters long",
        "BRIDGE_API_TOKENS: entry 2 must look like name:token (name of letters, digits, ._-)",
    ]


def test_production_has_no_embedded_defaults():
    found = problems(DISCOURSE_URL=None, OIDC_ISSUER=None, BRIDGE_PUBLIC_URL=None)
    assert "DISCOURSE_URL: is required" in found
    assert "OIDC_ISSUER: is required" in found
    assert "BRIDGE_PUBLIC_URL: is required" in found


@pytest.mark.parametrize(("name", "value", "message"), [
    ("BRIDGE_API_TOKENS", "a:" + "t" * 20 + ",a:" + "u" * 20, "the name 'a' appears twice"),
    ("BRIDGE_API_TOKENS", "a:" + "t" * 20 + ",b:" + "t" * 20, "the token of 'b' is used twice"),
    ("OIDC_SCOPES", "profile email", "must include openid"),
    ("BRIDGE_ENV", "staging", "must be one of development, production"),
    ("BRIDGE_OFFBOARD_MAX_SHARE", "2", "must be between 0 and 1"),
    ("BRIDGE_PRECREATE_USERS", "perhaps", "must be true or false"),
    ("DISCOURSE_URL", "https://forum.example.org/?x=1", "must not have a query"),
    ("BRIDGE_TRUSTED_PROXIES", "-1", "must be at least 0"),
    ("BRIDGE_TRUSTED_PROXIES", "nginx", "must be a whole number"),
    ("BRIDGE_TRUSTED_PROXIES", "50", "must be at most 10"),
])
def test_single_problems(name, value, message):
    assert any(name in p and message in p for p in problems(**{name: value}))


@pytest.mark.parametrize(("given", "kept"), [
    ("https://forum.example.org/", "https://forum.example.org"),
    ("HTTPS://Forum.Example.ORG:443", "https://forum.example.org"),
    ("http://forum.example.org:80/", "http://forum.example.org"),
    ("https://forum.example.org:8443", "https://forum.example.org:8443"),
])
def test_discourse_url_is_kept_as_discourse_spells_its_base_url(given, kept):
    """`return_sso_url` is compared with DISCOURSE_URL + /session/sso_login, character for
    character, and Discourse builds it from its base URL: lowercase, no default port."""
    assert load_settings({**GOOD, "DISCOURSE_URL": given}).discourse_url == kept


@pytest.mark.parametrize("given", [
    "https://forum.example.org/forum", "https://forum.example.org/forum/",
    "https://admin:secret@forum.example.org",
])
def test_discourse_url_is_only_scheme_host_and_port(given):
    assert problems(DISCOURSE_URL=given) == [
        "DISCOURSE_URL: must be the forum's base URL, scheme, host and port only "
        f"(like https://forum.example.org), got {given!r}"
    ]


def test_no_proxy_is_trusted_unless_configured():
    assert load_settings(GOOD).trusted_proxies == 0
    assert load_settings({**GOOD, "BRIDGE_TRUSTED_PROXIES": "2"}).trusted_proxies == 2


def test_the_issuer_is_kept_exactly_as_configured():
    """The discovery document must name it exactly; some issuers end with a slash."""
    settings = load_settings({**GOOD, "OIDC_ISSUER": "https://tenant.id.example.org/"})
    assert settings.oidc_issuer == "https://tenant.id.example.org/"


def copy_config(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(ROOT / "config", folder, ignore=shutil.ignore_patterns("*.py", "__py*"))
    return folder


def test_shipped_mapping_files_are_valid():
    roles, events = load_mappings(ROOT / "config")
    assert {"club", "winners", "laureates", "jury", "club-board"} <= roles.managed
    assert roles.grants(["moderator"]).moderator
    assert roles.grants(["administrator"]).admin
    assert roles.grants([], {"district": "Вяземский район"}).groups == {"r-vyazma"}
    assert set(events.kinds) == {"forum", "seminar", "master_class", "round_table", "contest",
                                 "webinar"}


def test_mapping_problems_name_the_file_and_the_key(tmp_path):
    folder = copy_config(tmp_path)
    roles = (folder / "roles.yml").read_text(encoding="utf-8")
    roles = roles.replace("  winner:        {label: Победитель, groups: [club, winners]}",
                          "  winner:        {label: Победитель, groups: [club, winers]}")
    roles = roles.replace("  jury:\n", "  moderators!:\n  jury:\n", 1)
    roles = roles.replace("    visibility: public\n", "    visibility: everybody\n", 1)
    (folder / "roles.yml").write_text(roles + "extra: 1\n", encoding="utf-8")
    events = (folder / "events.yml").read_text(encoding="utf-8")
    (folder / "events.yml").write_text(events.replace("category: konkursy", "category: nope"),
                                       encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_mappings(folder)
    text = "\n".join(caught.value.problems)
    assert f"{folder / 'roles.yml'}: roles.winner.groups: unknown group 'winers'" in text
    assert "groups.moderators!: not a valid Discourse group name" in text
    assert "groups.winners.visibility: must be one of public" in text
    assert "(top level).extra: unknown key" in text
    assert f"{folder / 'events.yml'}: kinds.contest.category: unknown category 'nope'" in text


def test_processes_refuse_to_start_with_one_message_per_problem(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCOURSE_", "BRIDGE_"))}
    env.update({"BRIDGE_ENV": "production", "DISCOURSE_CONNECT_SECRET": "short"})
    for command in ([sys.executable, "-m", "workers"],
                    [str(Path(sys.executable).parent / "flask"), "--app", "wsgi", "doctor"]):
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=60, check=False)
        assert result.returncode == 2, result.stderr
        assert "The bridge cannot start" in result.stderr
        assert "DISCOURSE_CONNECT_SECRET: must be at least 10 characters long" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_webhook_secret_shorter_than_discourse_allows_is_refused():
    assert problems(DISCOURSE_WEBHOOK_SECRET="short") == [
        "DISCOURSE_WEBHOOK_SECRET: must be at least 12 characters long (or unset)"]
    with_hooks = load_settings({**GOOD, "DISCOURSE_WEBHOOK_SECRET": "x" * 12})
    assert with_hooks.reconcile_interval == 3600  # webhooks report drift: hourly is enough
    assert load_settings(GOOD).reconcile_interval == 300


def test_an_explicit_environment_never_takes_values_from_make_runs_secrets(
    tmp_path, monkeypatch
):
    """A developer's var/dev.env (after `make run`) must not leak into tests or benchmarks."""
    import config.settings as settings_module

    dev_env = tmp_path / "dev.env"
    dev_env.write_text("DISCOURSE_WEBHOOK_SECRET=" + "w" * 24 + "\n")
    monkeypatch.setattr(settings_module, "DEV_ENV_FILE", dev_env)
    development = {**GOOD, "BRIDGE_ENV": "development"}
    assert load_settings(development).discourse_webhook_secret is None
    monkeypatch.setattr(settings_module, "read_environment", lambda: dict(development))
    assert load_settings().discourse_webhook_secret == "w" * 24
