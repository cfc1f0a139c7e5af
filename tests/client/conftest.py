"""Fixtures of the Discourse client tests; their helpers are in tests/client/helpers.py."""

from __future__ import annotations

import pytest


@pytest.fixture
def discourse(services):
    """The bridge's own client (shared budget, call counter) aimed at the sandbox."""
    return services.discourse
