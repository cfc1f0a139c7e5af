"""Sources: the member organisations that share the one forum (`config/sources.yml`).

Each source has its own identity provider, roster, mapping file and API
tokens. Without `sources.yml` there is exactly one source, built from the
`OIDC_*` settings, `roles.yml` and `events.yml`: the single-organisation
bridge, unchanged.

A member of source `S` with id `X` is known to the forum (and kept in the
bridge's store) under the forum external id `S:X`; the one `legacy_ids`
source keeps bare `X`, so a forum that began with one source needs no
migration. `Federation.split` reads a forum external id back into its source
and local id, unambiguously: a legacy id may not start with another source's
code and a colon.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.mapping import (
    EventsConfig,
    GroupSpec,
    MappingError,
    RolesConfig,
    _Checker,
    _read_yaml,
    load_events,
    load_roles,
)
from config.settings import Settings

SOURCES_FILE = "sources.yml"
#: The one source of a bridge without `sources.yml`.
DEFAULT_SOURCE = "default"
SOURCE_CODE = re.compile(r"\A[a-z0-9-]{2,20}\Z")
_SOURCE_KEYS = ("name", "issuer", "client_id", "client_secret_env", "external_id_claim",
                "scopes", "roles", "events", "tokens", "admin_roles", "legacy_ids")
#: Group keys that reach Discourse: two sources sharing a group must agree on them.
_FORUM_GROUP_KEYS = ("full_name", "visibility", "title", "bio", "mentionable", "messageable",
                     "exclusive")
_ENV_NAME = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]{0,100}\Z")


@dataclass(frozen=True)
class Source:
    """One member organisation: who logs its members in, what its roles grant."""

    code: str
    name: str
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    roles: RolesConfig = field(repr=False)
    events: EventsConfig = field(repr=False)
    external_id_claim: str = "sub"
    scopes: str = "openid profile email"
    tokens: frozenset[str] = frozenset()
    admin_roles: frozenset[str] = frozenset()
    legacy_ids: bool = False

    def forum_id(self, local_id: str) -> str:
        """The external id the forum (and the bridge's store) knows this member by."""
        return local_id if self.legacy_ids else f"{self.code}:{local_id}"

    def local_id(self, forum_id: str) -> str:
        """The source's own id of one of its members' forum external ids."""
        return forum_id if self.legacy_ids else forum_id.removeprefix(f"{self.code}:")


@dataclass(frozen=True)
class Federation:
    """Every source, and the rules that hold between them."""

    sources: Mapping[str, Source]  # in the order sources.yml lists them
    federated: bool = False  # False: no sources.yml, one source, today's behaviour
    admin_roles: frozenset[tuple[str, str]] = frozenset()  # (source, role): every source

    @property
    def codes(self) -> list[str]:
        return list(self.sources)

    @property
    def only(self) -> Source | None:
        """The one source when there is one."""
        return next(iter(self.sources.values())) if len(self.sources) == 1 else None

    def __getitem__(self, code: str) -> Source:
        return self.sources[code]

    def split(self, forum_id: str) -> tuple[Source, str]:
        """(source, local id) of a forum external id."""
        code, sep, rest = forum_id.partition(":")
        source = self.sources.get(code) if sep else None
        if source is not None and not source.legacy_ids and rest:
            return source, rest
        legacy = self.legacy
        if legacy is None:
            raise KeyError(f"{forum_id!r} belongs to no source")
        return legacy, forum_id

    def source_of(self, forum_id: str) -> Source:
        return self.split(forum_id)[0]

    def local_id(self, forum_id: str) -> str:
        return self.split(forum_id)[1]

    @property
    def legacy(self) -> Source | None:
        return next((s for s in self.sources.values() if s.legacy_ids), None)

    def legacy_conflict(self, local_id: str) -> str | None:
        """The other source a bare legacy id would be read as, if any (the id is then 422)."""
        code, sep, rest = local_id.partition(":")
        other = self.sources.get(code) if sep and rest else None
        return other.code if other is not None and not other.legacy_ids else None

    def for_token(self, name: str) -> list[Source]:
        return [s for s in self.sources.values() if name in s.tokens]

    def administers(self, source: Source, roles: Iterable[str]) -> list[str]:
        """The sources a member of `source` with `roles` administers in /admin."""
        held = set(roles)
        if any((source.code, role) in self.admin_roles for role in held):
            return self.codes
        return [source.code] if held & source.admin_roles else []


class CombinedRoles(RolesConfig):
    """Every source's mapping in one: the managed groups are the union.

    `for_member` gives the mapping of the source a forum external id belongs
    to, so a member's grants always come from their own source's file.
    """

    def __init__(self, federation: Federation, groups: Mapping[str, GroupSpec]):
        roles = {code: spec for s in federation.sources.values()
                 for code, spec in s.roles.roles.items()}
        attributes: dict[str, dict[str, tuple[str, ...]]] = {}
        for source in federation.sources.values():
            for name, values in source.roles.attributes.items():
                attributes.setdefault(name, {}).update(values)
        super().__init__(groups=dict(groups), roles=roles, attributes=attributes)
        object.__setattr__(self, "federation", federation)

    def for_member(self, forum_id: str) -> RolesConfig:
        return self.federation.source_of(forum_id).roles


_FEED_SOURCE = re.compile(r"\A([a-z0-9-]{2,20}):(?!//)(.+)\Z", re.DOTALL)


def split_feed_source(entry: str, federation: Federation) -> tuple[str | None, str]:
    """`vyazma:webinar=https://…` → ("vyazma", "webinar=https://…") in a federation.

    A BRIDGE_EVENT_FEEDS entry may name the source its events belong to; without
    one (and always with one source) they are the legacy or first source's.
    `https://…` is no source: a code is followed by a colon but not by `//`.
    """
    found = _FEED_SOURCE.match(entry) if federation.federated else None
    return (found.group(1), found.group(2)) if found else (None, entry)


def feed_problems(feeds: Iterable[str], federation: Federation) -> list[str]:
    """A feed naming a source sources.yml does not list is a configuration error."""
    codes = (split_feed_source(entry, federation)[0] for entry in feeds)
    return [f"BRIDGE_EVENT_FEEDS: {code!r} is not a source in sources.yml"
            for code in codes if code is not None and code not in federation.sources]


def single_source(settings: Settings, roles: RolesConfig, events: EventsConfig) -> Federation:
    """The federation of a bridge without sources.yml: one legacy source from the settings."""
    source = Source(
        code=DEFAULT_SOURCE, name="", issuer=settings.oidc_issuer,
        client_id=settings.oidc_client_id, client_secret=settings.oidc_client_secret,
        roles=roles, events=events, external_id_claim=settings.oidc_external_id_claim,
        scopes=settings.oidc_scopes, tokens=frozenset(settings.api_tokens), legacy_ids=True,
    )
    return Federation(sources={DEFAULT_SOURCE: source})


def load_sources(
    path: Path, settings: Settings, environ: Mapping[str, str], shared_events: EventsConfig | None,
    shared_events_problems: list[str],
) -> tuple[Federation, CombinedRoles]:
    """Read and check sources.yml and every mapping file it names: all problems at once."""
    data = _read_yaml(path)
    check = _Checker(str(path))
    top = check.mapping(data, "(top level)")
    check.known_keys(top, "(top level)", ("sources", "federation_admin_roles"))
    base = path.parent
    sources: dict[str, Source] = {}
    problems: list[str] = []
    token_owner: dict[str, str] = {}
    used_shared_events = False
    legacy_codes: list[str] = []
    raw_sources = check.mapping(top.get("sources"), "sources")
    if not raw_sources:
        check.fail("sources", "at least one source is required")
    for code, spec in raw_sources.items():
        key = f"sources.{code}"
        code = str(code)
        if not SOURCE_CODE.match(code):
            check.fail(key, "source codes are 2-20 characters of a-z 0-9 -")
        spec = check.mapping(spec, key)
        check.known_keys(spec, key, _SOURCE_KEYS)
        name = check.text(spec.get("name"), f"{key}.name") or code
        issuer = _issuer(check, spec.get("issuer"), f"{key}.issuer", settings)
        client_id = check.text(spec.get("client_id"), f"{key}.client_id") or ""
        secret_env = spec.get("client_secret_env")
        secret = ""
        if not isinstance(secret_env, str) or not _ENV_NAME.match(secret_env):
            check.fail(f"{key}.client_secret_env",
                       "is required: the name of the environment variable holding the secret")
        else:
            secret = (environ.get(secret_env) or "").strip()
            if not secret:
                check.fail(f"{key}.client_secret_env", f"the variable {secret_env} is not set")
        claim = check.text(spec.get("external_id_claim", "sub"), f"{key}.external_id_claim") \
            or "sub"
        scopes = spec.get("scopes", "openid profile email")
        if not isinstance(scopes, str) or "openid" not in scopes.split():
            check.fail(f"{key}.scopes", "must be one space-separated string that includes openid")
            scopes = "openid profile email"
        legacy = spec.get("legacy_ids", False)
        if not isinstance(legacy, bool):
            check.fail(f"{key}.legacy_ids", "must be true or false")
            legacy = False
        if legacy:
            legacy_codes.append(code)
        tokens = check.names(spec.get("tokens"), f"{key}.tokens")
        if not tokens:
            check.fail(f"{key}.tokens", "at least one token name (from BRIDGE_API_TOKENS)")
        for token in tokens:
            if token not in settings.api_tokens:
                check.fail(f"{key}.tokens", f"{token!r} is not a name in BRIDGE_API_TOKENS")
            token_owner.setdefault(token, code)
        admin_roles = check.names(spec.get("admin_roles"), f"{key}.admin_roles")

        roles = _mapping(check, problems, spec.get("roles"), f"{key}.roles", base, load_roles)
        for role in admin_roles:
            if roles is not None and role not in roles.roles:
                check.fail(f"{key}.admin_roles", f"unknown role {role!r} in {spec.get('roles')}")
        if spec.get("events") is None:
            events = shared_events
            used_shared_events = True
        else:
            events = _mapping(check, problems, spec.get("events"), f"{key}.events", base,
                              lambda p: load_events(p, p.parent / "templates"))
        if roles is None or events is None:
            continue
        sources[code] = Source(
            code=code, name=name, issuer=issuer, client_id=client_id, client_secret=secret,
            roles=roles, events=events, external_id_claim=claim, scopes=scopes,
            tokens=frozenset(tokens), admin_roles=frozenset(admin_roles), legacy_ids=legacy,
        )
    if used_shared_events:
        problems += shared_events_problems
    if len(legacy_codes) > 1:
        check.fail("sources",
                   f"at most one source may have legacy_ids: {', '.join(legacy_codes)}")
    for name in settings.api_tokens:
        if name not in token_owner:
            problems.append(f"BRIDGE_API_TOKENS: the token {name!r} is listed by no source "
                            f"in {path}")
    admins: set[tuple[str, str]] = set()
    for item in check.names(top.get("federation_admin_roles"), "federation_admin_roles"):
        code, sep, role = item.partition(":")
        if not sep or code not in raw_sources:
            check.fail("federation_admin_roles", f"{item!r} must be source:role of a listed source")
        elif code in sources and role not in sources[code].roles.roles:
            check.fail("federation_admin_roles", f"{item!r}: unknown role {role!r}")
        else:
            admins.add((code, role))
    groups = _shared_groups(check, sources, raw_sources)
    _shared_categories(check, sources, raw_sources)
    problems = check.problems + problems
    if problems:
        raise MappingError(problems)
    federation = Federation(sources=sources, federated=True, admin_roles=frozenset(admins))
    return federation, CombinedRoles(federation, groups)


def _issuer(check: _Checker, value: Any, key: str, settings: Settings) -> str:
    if not isinstance(value, str) or not value.strip():
        check.fail(key, "is required: the identity provider's issuer URL")
        return ""
    if not re.match(r"\Ahttps?://[^/?#\s]+[^?#\s]*\Z", value):
        check.fail(key, f"must be an http(s) URL without query or fragment, got {value!r}")
    elif settings.production and not value.startswith("https://"):
        check.fail(key, "must be https:// in production")
    return value


def _mapping(check: _Checker, problems: list[str], value: Any, key: str, base: Path, loader):
    if not isinstance(value, str) or not value.strip():
        check.fail(key, "is required: a mapping file next to sources.yml")
        return None
    path = (base / value).resolve()
    try:
        return loader(path)
    except MappingError as error:
        problems += error.problems
        return None


def _shared_groups(
    check: _Checker, sources: Mapping[str, Source], raw: Mapping[str, Any]
) -> dict[str, GroupSpec]:
    """The union of every source's groups; a group two sources declare differently is refused."""
    groups: dict[str, GroupSpec] = {}
    declared_by: dict[str, str] = {}
    lowered: dict[str, str] = {}
    for code, source in sources.items():
        for name, spec in source.roles.groups.items():
            if name.lower() in lowered and lowered[name.lower()] != name:
                check.fail(f"sources.{code}.roles",
                           f"group {name!r} differs only in case from {lowered[name.lower()]!r} "
                           f"of {raw[declared_by[lowered[name.lower()]]].get('roles')}")
                continue
            lowered[name.lower()] = name
            if name not in groups:
                groups[name], declared_by[name] = spec, code
                continue
            differing = [k for k in _FORUM_GROUP_KEYS
                         if getattr(spec, k) != getattr(groups[name], k)]
            if differing:
                other = declared_by[name]
                check.fail(
                    f"sources.{code}.roles",
                    f"group {name!r} is declared differently in {raw[code].get('roles')} and "
                    f"{raw[other].get('roles')} (source {other}): {', '.join(differing)}")
    return groups


def _shared_categories(check: _Checker, sources: Mapping[str, Source],
                       raw: Mapping[str, Any]) -> None:
    """A category slug two sources' events files name must be the same category."""
    seen: dict[str, tuple[str, Any]] = {}
    for code, source in sources.items():
        for slug, spec in source.events.categories.items():
            if slug not in seen:
                seen[slug] = (code, spec)
            elif seen[slug][1] != spec:
                other = seen[slug][0]
                check.fail(f"sources.{code}.events",
                           f"category {slug!r} is declared differently in "
                           f"{raw[code].get('events') or 'events.yml'} and "
                           f"{raw[other].get('events') or 'events.yml'} (source {other})")
