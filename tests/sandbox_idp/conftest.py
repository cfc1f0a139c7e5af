"""One live demo identity provider for the package, reset before every test."""

from __future__ import annotations

import pytest
import requests

from sandbox.idp import create_app

from .helpers import CLIENTS, TIMEOUT, serve


@pytest.fixture(scope="session")
def idp_server():
    apps = {}

    def build(base_url):
        apps["app"] = create_app(issuer=base_url, clients=CLIENTS)
        return apps["app"]

    with serve(build) as url:
        yield url, apps["app"]


@pytest.fixture
def idp_url(idp_server) -> str:
    url, _ = idp_server
    requests.post(f"{url}/_idp/reset", timeout=TIMEOUT).raise_for_status()
    return url


@pytest.fixture
def browser():
    with requests.Session() as session:
        yield session
