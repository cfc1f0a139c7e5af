"""`python -m sandbox.idp` starts a threaded server and refuses production."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_IDP_", "BRIDGE_"))}
    env.update(extra)
    return env


def test_refuses_to_start_in_production():
    result = subprocess.run(
        [sys.executable, "-m", "sandbox.idp", "--port", "1"],
        cwd=ROOT,
        env=_env(BRIDGE_ENV="production"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "BRIDGE_ENV=production" in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_starts_with_settings_from_environment():
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.idp", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=_env(
            SANDBOX_IDP_CLIENT_ID="from-env",
            SANDBOX_IDP_CLIENT_SECRET="from-env-secret",
            SANDBOX_IDP_REDIRECT_URIS="http://127.0.0.1:9/a, http://127.0.0.1:9/b",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                meta = requests.get(f"{base}/.well-known/openid-configuration", timeout=1)
                break
            except requests.ConnectionError:
                assert process.poll() is None, process.stderr.read()
                assert time.monotonic() < deadline, "the IdP did not start"
                time.sleep(0.05)
        assert meta.json()["issuer"] == base
        for redirect_uri in ("http://127.0.0.1:9/a", "http://127.0.0.1:9/b"):
            page = requests.get(
                f"{base}/authorize",
                params={
                    "response_type": "code",
                    "client_id": "from-env",
                    "redirect_uri": redirect_uri,
                    "scope": "openid",
                    "code_challenge": "x" * 43,
                    "code_challenge_method": "S256",
                },
                timeout=5,
            )
            assert page.status_code == 200
            assert "login-t-1001" in page.text
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()


def test_serves_the_vyazma_organisation():
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.idp", "--port", str(port), "--organisation", "vyazma"],
        cwd=ROOT,
        env=_env(SANDBOX_IDP_CLIENT_SECRET="vyazma-secret",
                 SANDBOX_IDP_REDIRECT_URIS="http://127.0.0.1:9/a"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                index = requests.get(f"{base}/", timeout=1)
                break
            except requests.ConnectionError:
                assert process.poll() is None, process.stderr.read()
                assert time.monotonic() < deadline, "the IdP did not start"
                time.sleep(0.05)
        assert "Методический центр Вяземского района" in index.text
        assert "v-2001" in index.text
        assert "t-1001" not in index.text
        meta = requests.get(f"{base}/.well-known/openid-configuration", timeout=5).json()
        assert meta["issuer"] == base
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()
