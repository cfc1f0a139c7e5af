"""Configuration: the settings from the environment and the mapping files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config.mapping import EventsConfig, MappingError, RolesConfig, load_events, load_roles
from config.settings import ConfigError, Settings, load_settings

__all__ = [
    "AppConfig",
    "ConfigError",
    "EventsConfig",
    "RolesConfig",
    "Settings",
    "load_config",
    "load_mappings",
    "load_settings",
]


@dataclass(frozen=True)
class AppConfig:
    settings: Settings
    roles: RolesConfig
    events: EventsConfig


def load_mappings(config_dir: Path) -> tuple[RolesConfig, EventsConfig]:
    """Load both mapping files, reporting the problems of both at once."""
    problems: list[str] = []
    roles = events = None
    try:
        roles = load_roles(config_dir / "roles.yml")
    except MappingError as error:
        problems += error.problems
    try:
        events = load_events(config_dir / "events.yml", config_dir / "templates")
    except MappingError as error:
        problems += error.problems
    if problems:
        raise ConfigError(problems)
    return roles, events


def load_config(environ=None) -> AppConfig:
    settings = load_settings(environ)
    roles, events = load_mappings(settings.config_dir)
    return AppConfig(settings=settings, roles=roles, events=events)
