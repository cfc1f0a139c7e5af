"""Run the sandbox Discourse on a real port (tests/sandbox_discourse/helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from .helpers import CONNECT_URL, Forum, serve


@pytest.fixture(scope="module")
def _server() -> Iterator[Forum]:
    yield from serve(limit=100_000)


@pytest.fixture
def forum(_server: Forum) -> Forum:
    assert _server.control("POST", "/reset").status_code == 200
    _server.control(
        "POST",
        "/settings",
        json={
            "allow_duplicate_topic_titles": False,
            "discourse_connect_overrides_groups": False,
            "auth_overrides_email": False,
            "auth_overrides_username": False,
            "auth_overrides_name": False,
            "connect_url": CONNECT_URL,
            "validate_spec": True,
        },
    )
    _server.session = requests.Session()
    return _server


@pytest.fixture
def limited_forum() -> Iterator[Forum]:
    yield from serve(limit=5)
