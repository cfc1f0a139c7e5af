"""Fixtures of the event tests: the forum with its categories, the event store, the delete
mode. Event bodies, live topics and the drain are in tests/support/events.py."""

from __future__ import annotations

import dataclasses

import pytest

from bridge.events import EventStore
from workers.events import setup_categories


@pytest.fixture
def forum(sandbox, services):
    """The sandbox with the events.yml categories created, as `discourse setup` leaves it."""
    setup_categories(services)
    return sandbox


@pytest.fixture
def store(services) -> EventStore:
    return services.events


@pytest.fixture
def delete_mode(services):
    """Switch the withdraw mode to deleting topics (BRIDGE_EVENT_DELETE_MODE=delete)."""
    settings = dataclasses.replace(services.settings, event_delete_mode="delete")
    services.config = dataclasses.replace(services.config, settings=settings)
    return services
