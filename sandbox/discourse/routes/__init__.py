"""Blueprints of the Discourse endpoints and the /_sandbox control API."""

from __future__ import annotations

from flask import Flask


def register_all(app: Flask) -> None:
    from . import categories, control, groups, session, site, topics, users, web_hooks

    for module in (session, users, groups, categories, topics, site, web_hooks, control):
        app.register_blueprint(module.bp)
