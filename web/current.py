"""The running app's services: the one way views and commands reach them."""

from __future__ import annotations

from flask import current_app

from bridge.services import Services

SERVICES_KEY = "SERVICES"  # where `create_app` keeps them in the app's config


def current_services() -> Services:
    return current_app.config[SERVICES_KEY]
