"""Fixtures of the admin page tests: a logged-in client, the forum with its managed groups."""

from tests.support.admin import admin_client  # noqa: F401 - fixture
from tests.support.forum import forum  # noqa: F401 - fixture
