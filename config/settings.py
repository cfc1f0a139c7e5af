"""The one settings object: read from the environment once, parsed, validated.

Every problem is collected and reported together in one readable message, so an
operator fixes a bad deployment in one pass instead of one traceback at a time.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parent.parent

#: The deployment's `.env`, read if present; the process environment wins over it.
ENV_FILE = ROOT / ".env"
#: Where `make run` keeps the secrets it generated for the embedded default.
DEV_ENV_FILE = ROOT / "var" / "dev.env"

#: Ports of the embedded default (sandbox Discourse, demo identity provider, web).
SANDBOX_DISCOURSE_URL = "http://127.0.0.1:4200"
SANDBOX_IDP_URL = "http://127.0.0.1:4300"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:5000"
_SANDBOX_PORTS = frozenset(urlsplit(url).port for url in (SANDBOX_DISCOURSE_URL, SANDBOX_IDP_URL))

_DEFAULT_PORTS = {"http": 80, "https": 443}
_TOKEN_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MIN_SECRET_LENGTH = 10  # Discourse refuses shorter DiscourseConnect secrets
MIN_WEBHOOK_SECRET = 12  # Discourse refuses a shorter webhook secret
MIN_TOKEN_LENGTH = 16
SOURCES_FILE = "sources.yml"  # config/sources.py reads it; its presence decides the OIDC_* use
OIDC_VARIABLES = ("OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_SCOPES",
                  "OIDC_EXTERNAL_ID_CLAIM")


class ConfigError(Exception):
    """Bad configuration: `problems` holds one readable line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "The bridge cannot start, the configuration has problems:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


@dataclass(frozen=True)
class Settings:
    env: str
    discourse_url: str
    discourse_api_key: str
    discourse_api_username: str
    discourse_max_reqs_per_minute: int
    discourse_timeout: float
    discourse_connect_secret: str
    discourse_webhook_secret: str | None
    redis_url: str | None
    secret_key: str
    public_url: str
    api_tokens: Mapping[str, str] = field(repr=False)
    oidc_issuer: str
    oidc_client_id: str
    oidc_client_secret: str = field(repr=False)
    oidc_scopes: str = "openid profile email"
    oidc_external_id_claim: str = "sub"
    config_dir: Path = ROOT / "config"
    offboard_max_share: float = 0.10
    reconcile_interval: int = 300
    #: With webhooks, how often a reconciliation reads every group (else: a size check).
    full_reconcile_interval: int = 86400
    precreate_users: bool = False
    suppress_welcome_message: bool = True
    event_delete_mode: str = "unlist"
    event_feeds: tuple[str, ...] = ()
    event_feed_interval: int = 900
    audit_retention_days: int = 90
    log_level: str = "INFO"
    #: Reverse proxies in front of the web process whose X-Forwarded-For/-Proto are believed.
    trusted_proxies: int = 0
    log_format: str = "text"  # or "json": one object a line, for log shippers

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    def __repr__(self) -> str:  # never print secrets, even by accident
        return f"Settings(env={self.env!r}, discourse_url={self.discourse_url!r})"


def read_environment() -> dict[str, str]:
    """The process environment over `.env`: what every process reads, the sandboxes too."""
    merged = {k: v for k, v in dotenv_values(ENV_FILE).items() if v is not None}
    merged.update(os.environ)
    return merged


def is_production(environ: Mapping[str, str] | None = None) -> bool:
    """Whether BRIDGE_ENV says production, read the way the bridge reads it.

    The sandboxes ask before they start: a production host must never run the
    demo identity provider (it lets anyone pick any identity), whether the
    environment or `.env` says production. Any spelling counts here.
    """
    env = read_environment() if environ is None else environ
    return env.get("BRIDGE_ENV", "").strip().lower() == "production"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from `environ` (default: process env + `.env`).

    In development, values missing from the process environment are taken from
    the secrets `make run` generated (`var/dev.env`), so admin commands started
    by hand talk to the same embedded default. An explicit `environ` (tests,
    benchmarks) is complete as given: a developer's `var/` never leaks into it.
    """
    return _Parser(resolved_environment(environ)).parse()


def resolved_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables the settings are read from (see `load_settings`)."""
    if environ is not None:
        return dict(environ)
    env = read_environment()
    if env.get("BRIDGE_ENV", "development") != "production" and DEV_ENV_FILE.exists():
        for key, value in dotenv_values(DEV_ENV_FILE).items():
            if value is not None:
                env.setdefault(key, value)
    return env


class _Parser:
    def __init__(self, env: Mapping[str, str]):
        self.env = env
        self.problems: list[str] = []

    def raw(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def problem(self, name: str, text: str) -> None:
        self.problems.append(f"{name}: {text}")

    def required(self, name: str, *, default: str | None = None, secret: bool = False) -> str:
        value = self.raw(name)
        if value is None:
            if default is not None:
                return default
            self.problem(name, "is required" + (" (a secret: generate one)" if secret else ""))
            return ""
        return value

    def url(self, name: str, *, default: str | None = None, exact: bool = False) -> str:
        """An http(s) URL; a trailing slash is dropped unless the value must stay `exact`."""
        value = self.required(name, default=default)
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                self.problem(name, f"must be an http(s) URL, got {value!r}")
            elif parts.query or parts.fragment:
                self.problem(name, "must not have a query or a fragment")
        return value if exact else value.rstrip("/")

    def base_url(self, name: str, *, default: str | None = None) -> str:
        """A site's base URL spelled as Discourse spells its own (`Discourse.base_url`).

        The forum's `return_sso_url` is compared with it character for character,
        so the scheme and host are lowercased and a default port is left out.
        """
        reported = len(self.problems)
        value = self.url(name, default=default)
        if not value or len(self.problems) > reported:
            return value
        parts = urlsplit(value)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.path or parts.username is not None or parts.password is not None or port == -1:
            self.problem(
                name,
                "must be the forum's base URL, scheme, host and port only "
                f"(like https://forum.example.org), got {self.raw(name) or value!r}",
            )
            return value
        host = parts.hostname or ""
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
            host = f"{host}:{port}"
        return f"{parts.scheme}://{host}"

    def refuse_sandbox(self, name: str, url: str) -> None:
        """Production never talks to a sandbox of the embedded default, even by mistake."""
        if url and _is_sandbox_url(url):
            self.problem(
                name,
                f"{self.raw(name)} is a sandbox of the embedded default (loopback, port "
                f"{' or '.join(map(str, sorted(_SANDBOX_PORTS)))}); production needs the real one",
            )

    def integer(
        self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None
    ) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            self.problem(name, f"must be a whole number, got {value!r}")
            return default
        if number < minimum:
            self.problem(name, f"must be at least {minimum}, got {number}")
        elif maximum is not None and number > maximum:
            self.problem(name, f"must be at most {maximum}, got {number}")
        return number

    def number(self, name: str, default: float, *, low: float, high: float) -> float:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            self.problem(name, f"must be a number, got {value!r}")
            return default
        if not low <= number <= high:
            self.problem(name, f"must be between {low} and {high}, got {number}")
        return number

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        self.problem(name, f"must be true or false, got {value!r}")
        return default

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.raw(name) or default
        if value not in choices:
            self.problem(name, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def secret(self, name: str, *, minimum: int) -> str:
        value = self.required(name, secret=True)
        if value and len(value) < minimum:
            self.problem(name, f"must be at least {minimum} characters long")
        return value

    def optional_secret(self, name: str, *, minimum: int) -> str | None:
        value = self.raw(name)
        if value is not None and len(value) < minimum:
            self.problem(name, f"must be at least {minimum} characters long (or unset)")
        return value

    def api_tokens(self) -> dict[str, str]:
        value = self.raw("BRIDGE_API_TOKENS")
        if value is None:
            self.problem("BRIDGE_API_TOKENS", "is required: name:token[,name:token] (a secret)")
            return {}
        tokens: dict[str, str] = {}
        for position, item in enumerate(value.split(","), start=1):
            name, sep, token = item.strip().partition(":")
            if not sep or not _TOKEN_NAME.fullmatch(name):
                self.problem(
                    "BRIDGE_API_TOKENS",
                    f"entry {position} must look like name:token (name of letters, digits, ._-)",
                )
            elif len(token) < MIN_TOKEN_LENGTH:
                self.problem(
                    "BRIDGE_API_TOKENS",
                    f"the token of {name!r} must be at least {MIN_TOKEN_LENGTH} characters long",
                )
            elif name in tokens:
                self.problem("BRIDGE_API_TOKENS", f"the name {name!r} appears twice")
            elif token in tokens.values():
                self.problem("BRIDGE_API_TOKENS", f"the token of {name!r} is used twice")
            else:
                tokens[name] = token
        return tokens

    def parse(self) -> Settings:
        env = self.choice("BRIDGE_ENV", "development", ("development", "production"))
        production = env == "production"
        discourse_url = self.base_url(
            "DISCOURSE_URL", default=None if production else SANDBOX_DISCOURSE_URL
        )
        config_dir = Path(self.raw("BRIDGE_CONFIG_DIR") or ROOT / "config")
        if not config_dir.is_absolute():
            config_dir = ROOT / config_dir
        if not config_dir.is_dir():
            self.problem("BRIDGE_CONFIG_DIR", f"{config_dir} is not a folder")
        # With sources.yml every identity provider comes from it (config/sources.py).
        federated = (config_dir / SOURCES_FILE).is_file()
        # Exact: the provider's discovery document must name this very issuer
        # (some providers' issuers end with a slash).
        issuer = "" if federated else self.url(
            "OIDC_ISSUER", default=None if production else SANDBOX_IDP_URL, exact=True
        )
        if production:
            self.refuse_sandbox("DISCOURSE_URL", discourse_url)
            self.refuse_sandbox("OIDC_ISSUER", issuer)
        redis_url = self.raw("REDIS_URL")
        if redis_url is None and production:
            self.problem("REDIS_URL", "is required in production")
        if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            self.problem("REDIS_URL", "must start with redis://, rediss:// or unix://")
        feeds = tuple(f.strip() for f in (self.raw("BRIDGE_EVENT_FEEDS") or "").split() if f)
        settings = Settings(
            env=env,
            discourse_url=discourse_url,
            discourse_api_key=self.required("DISCOURSE_API_KEY", secret=True),
            discourse_api_username=self.required("DISCOURSE_API_USERNAME", default="system"),
            discourse_max_reqs_per_minute=self.integer(
                "DISCOURSE_MAX_REQS_PER_MINUTE", 60, minimum=1
            ),
            discourse_timeout=self.number("DISCOURSE_TIMEOUT", 10.0, low=0.5, high=120),
            discourse_connect_secret=self.secret(
                "DISCOURSE_CONNECT_SECRET", minimum=MIN_SECRET_LENGTH
            ),
            discourse_webhook_secret=self.optional_secret("DISCOURSE_WEBHOOK_SECRET",
                                                          minimum=MIN_WEBHOOK_SECRET),
            redis_url=redis_url,
            secret_key=self.secret("BRIDGE_SECRET_KEY", minimum=16),
            public_url=self.url(
                "BRIDGE_PUBLIC_URL", default=None if production else DEFAULT_PUBLIC_URL
            ),
            api_tokens=self.api_tokens(),
            trusted_proxies=self.integer("BRIDGE_TRUSTED_PROXIES", 0, minimum=0, maximum=10),
            oidc_issuer=issuer,
            oidc_client_id="" if federated else self.required("OIDC_CLIENT_ID"),
            oidc_client_secret="" if federated else self.required("OIDC_CLIENT_SECRET",
                                                                  secret=True),
            oidc_scopes=self.required("OIDC_SCOPES", default="openid profile email"),
            oidc_external_id_claim=self.required("OIDC_EXTERNAL_ID_CLAIM", default="sub"),
            config_dir=config_dir,
            offboard_max_share=self.number("BRIDGE_OFFBOARD_MAX_SHARE", 0.10, low=0, high=1),
            # With webhooks, drift is noticed within seconds: the full repair is a safety net.
            reconcile_interval=self.integer(
                "BRIDGE_RECONCILE_INTERVAL",
                3600 if self.raw("DISCOURSE_WEBHOOK_SECRET") else 300, minimum=10),
            full_reconcile_interval=self.integer("BRIDGE_FULL_RECONCILE_INTERVAL", 86400,
                                                 minimum=60),
            precreate_users=self.boolean("BRIDGE_PRECREATE_USERS", False),
            suppress_welcome_message=self.boolean("BRIDGE_SUPPRESS_WELCOME_MESSAGE", True),
            event_delete_mode=self.choice(
                "BRIDGE_EVENT_DELETE_MODE", "unlist", ("unlist", "delete")
            ),
            event_feeds=feeds,
            event_feed_interval=self.integer("BRIDGE_EVENT_FEED_INTERVAL", 900, minimum=60),
            audit_retention_days=self.integer("BRIDGE_AUDIT_RETENTION_DAYS", 90, minimum=1),
            log_level=self.choice(
                "BRIDGE_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")
            ),
            log_format=self.choice("BRIDGE_LOG_FORMAT", "text", ("text", "json")),
        )
        if "openid" not in settings.oidc_scopes.split():
            self.problem("OIDC_SCOPES", "must include openid")
        if self.problems:
            raise ConfigError(self.problems)
        return settings


def _is_sandbox_url(url: str) -> bool:
    """A loopback host on a port of the embedded default's sandboxes."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return False
    host = parts.hostname or ""
    if host == "localhost":
        loopback = True
    else:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
    return loopback and port in _SANDBOX_PORTS
