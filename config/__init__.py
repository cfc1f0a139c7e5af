"""Configuration: the settings from the environment, the mapping files, the sources."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from config.mapping import EventsConfig, MappingError, RolesConfig, load_events, load_roles
from config.settings import (
    OIDC_VARIABLES,
    SOURCES_FILE,
    ConfigError,
    Settings,
    load_settings,
    read_environment,
    resolved_environment,
)
from config.sources import Federation, Source, feed_problems, load_sources, single_source

__all__ = [
    "AppConfig",
    "ConfigError",
    "EventsConfig",
    "Federation",
    "RolesConfig",
    "Settings",
    "Source",
    "load_config",
    "load_mappings",
    "load_settings",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AppConfig:
    settings: Settings
    roles: RolesConfig  # every source's groups; each member's grants from their own source
    events: EventsConfig  # the shared events.yml
    sources: Federation = None  # type: ignore[assignment]  # default: the one source

    def __post_init__(self):
        if self.sources is None:
            object.__setattr__(self, "sources", single_source(self.settings, self.roles,
                                                              self.events))

    @property
    def federated(self) -> bool:
        return self.sources.federated


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


def load_config(environ: Mapping[str, str] | None = None) -> AppConfig:
    env = resolved_environment(environ)
    settings = load_settings(env)
    sources_file = settings.config_dir / SOURCES_FILE
    if not sources_file.is_file():
        roles, events = load_mappings(settings.config_dir)
        return AppConfig(settings=settings, roles=roles, events=events)
    # What the operator set: var/dev.env keeps `make run`'s single-source client too.
    operator = env if environ is not None else read_environment()
    ignored = [name for name in OIDC_VARIABLES if (operator.get(name) or "").strip()]
    if ignored:
        log.warning("%s: every identity provider comes from it; ignored: %s",
                    sources_file, ", ".join(ignored))
    # The shared events.yml serves the sources that name no `events:` file of their own.
    events, event_problems = None, []
    try:
        events = load_events(settings.config_dir / "events.yml",
                             settings.config_dir / "templates")
    except MappingError as error:
        event_problems = [f"{p} (needed by the sources without events:)" for p in error.problems]
    try:
        federation, roles = load_sources(sources_file, settings, env, events, event_problems)
    except MappingError as error:
        raise ConfigError(error.problems) from None
    problems = feed_problems(settings.event_feeds, federation)
    if problems:
        raise ConfigError(problems)
    shared = events if events is not None else next(iter(federation.sources.values())).events
    return AppConfig(settings=settings, roles=roles, events=shared, sources=federation)
