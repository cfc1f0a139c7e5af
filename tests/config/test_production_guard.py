"""BRIDGE_ENV=production keeps the sandboxes away, however it is set.

Every process reads its configuration the same way (`config.settings`): the
process environment over `.env`. A production host with BRIDGE_ENV only in
`.env` must not run the demo identity provider (anyone could pick any
identity), and the production bridge must not talk to the sandboxes.
"""

from __future__ import annotations

import pytest

import config.settings
import sandbox.discourse.__main__ as sandbox_discourse_main
import sandbox.idp.__main__ as sandbox_idp_main
import sandbox.run
from config import ConfigError
from config.settings import load_settings
from sandbox.idp import SandboxRefusedError, create_app
from tests.support.settings import GOOD, problems


def _must_not_start(*_args, **_kwargs):
    raise AssertionError("a sandbox was about to start in production")


@pytest.fixture
def production_in_env_file(tmp_path, monkeypatch):
    """BRIDGE_ENV=production in `.env` only, as `.env.example` suggests."""
    env_file = tmp_path / ".env"
    env_file.write_text("BRIDGE_ENV=production\n", encoding="utf-8")
    monkeypatch.setattr(config.settings, "ENV_FILE", env_file)
    monkeypatch.delenv("BRIDGE_ENV", raising=False)
    return env_file


@pytest.mark.usefixtures("production_in_env_file")
class TestEnvFileSaysProduction:
    def test_the_demo_identity_provider_refuses_to_build(self):
        with pytest.raises(SandboxRefusedError, match="BRIDGE_ENV=production"):
            create_app(issuer="http://127.0.0.1:4300",
                       clients=[{"client_id": "c", "client_secret": "s",
                                 "redirect_uris": ["http://127.0.0.1:5000/auth/callback"]}])

    def test_the_demo_identity_provider_refuses_to_start(self, monkeypatch, capsys):
        monkeypatch.setattr(sandbox_idp_main, "create_organisation_app", _must_not_start)
        assert sandbox_idp_main.main(["--port", "4300"]) == 2
        assert "BRIDGE_ENV=production" in capsys.readouterr().err

    def test_the_sandbox_discourse_refuses_to_start(self, monkeypatch, capsys):
        monkeypatch.setattr(sandbox_discourse_main, "run_simple", _must_not_start)
        code = sandbox_discourse_main.main(["--api-key", "k" * 32, "--connect-secret", "s" * 32])
        assert code == 2
        assert "BRIDGE_ENV=production" in capsys.readouterr().err

    def test_make_run_refuses(self, monkeypatch, capsys):
        monkeypatch.setattr(sandbox.run, "dev_secrets", _must_not_start)
        assert sandbox.run.main() == 2
        assert "production" in capsys.readouterr().err

    def test_the_bridge_reads_the_same_file(self):
        with pytest.raises(ConfigError) as caught:
            load_settings()
        assert "REDIS_URL: is required in production" in caught.value.problems


@pytest.mark.parametrize(("name", "url"), [
    ("DISCOURSE_URL", "http://127.0.0.1:4200"),
    ("DISCOURSE_URL", "http://localhost:4200/"),
    ("DISCOURSE_URL", "http://127.0.0.1:4300"),
    ("OIDC_ISSUER", "http://127.0.0.1:4300"),
    ("OIDC_ISSUER", "http://[::1]:4300"),
    ("OIDC_ISSUER", "http://127.0.0.2:4200/realms/x"),
])
def test_production_refuses_a_sandbox_url(name, url):
    assert problems(**{name: url}) == [
        f"{name}: {url} is a sandbox of the embedded default (loopback, port 4200 or 4300); "
        "production needs the real one"
    ]


def test_production_reports_both_sandboxes_at_once():
    found = problems(DISCOURSE_URL="http://127.0.0.1:4200", OIDC_ISSUER="http://127.0.0.1:4300")
    assert [p.split(":")[0] for p in found] == ["DISCOURSE_URL", "OIDC_ISSUER"]


def test_development_runs_on_the_sandboxes():
    settings = load_settings({**GOOD, "BRIDGE_ENV": "development",
                              "DISCOURSE_URL": "http://127.0.0.1:4200",
                              "OIDC_ISSUER": "http://127.0.0.1:4300"})
    assert settings.discourse_url == "http://127.0.0.1:4200"


def test_production_may_use_other_loopback_ports():
    """A forum or provider on this host behind its own port is not a sandbox."""
    settings = load_settings({**GOOD, "OIDC_ISSUER": "http://127.0.0.1:8080/realms/soiro"})
    assert settings.oidc_issuer == "http://127.0.0.1:8080/realms/soiro"
