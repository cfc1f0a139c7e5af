"""Sandbox Discourse: a stateful stand-in for the Discourse endpoints the bridge uses."""

from .app import create_app

__all__ = ["create_app"]
