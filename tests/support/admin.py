"""The admin pages from the test client: logging in, the CSRF token, a page's text."""

from __future__ import annotations

import re

import pytest

from tests.conftest import API_TOKEN

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def page_csrf(client, path: str = "/admin/") -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return csrf_of(response.get_data(as_text=True))


def login(client, token: str = API_TOKEN):
    token_field = csrf_of(client.get("/admin/login").get_data(as_text=True))
    return client.post("/admin/login", data={"token": token, "csrf_token": token_field})


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def admin_client(client):
    """The Flask test client, logged in to the admin pages with the institute's API token."""
    response = login(client)
    assert response.status_code == 303, response.status_code
    return client
