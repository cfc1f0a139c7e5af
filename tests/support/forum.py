"""The sandbox forum as the bridge leaves it: managed groups, accounts that exist already."""

from __future__ import annotations

import pytest


@pytest.fixture
def forum(sandbox, services):
    """The sandbox with the managed groups created, as `discourse setup` leaves it."""
    services.member_sync().setup_groups()
    return sandbox


def seed_accounts(sandbox, *accounts):
    """Forum accounts that exist already, as (external_id, username, email)."""
    sandbox.seed(users=[{"username": u, "email": e, "name": u, "external_id": x}
                        for x, u, e in accounts])


def writes(sandbox) -> int:
    """How many writes the forum has taken so far."""
    return sandbox.stats()["writes"]
