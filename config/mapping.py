"""The administrators' mapping files, `roles.yml` and `events.yml`.

Both are validated completely at start; every message names the file, the key
and what is wrong, so an administrator can fix the file without reading code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bridge.names import name_problems

#: Discourse's group visibility levels (`Group.visibility_levels`).
VISIBILITY_LEVELS = {"public": 0, "logged_on_users": 1, "members": 2, "staff": 3, "owners": 4}
#: Who may @mention or message a group (`Group::ALIAS_LEVELS`): `mentionable_level`,
#: `messageable_level`. A group of thousands that anyone may reach is a spam cannon.
ALIAS_LEVELS = {"nobody": 0, "admins": 1, "staff": 2, "members": 3, "owners": 4, "everyone": 99}
STAFF_FLAGS = ("admin", "moderator")
_COLOR = re.compile(r"[0-9A-Fa-f]{6}|[0-9A-Fa-f]{3}")
_TAG = re.compile(r"[^\s,/#?&'\"]{1,20}")  # Discourse's default max_tag_length is 20
_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")


#: Human-readable notes an administrator may put on any mapping; nothing reaches the forum.
HUMAN_KEYS = frozenset({"label", "description"})


class MappingError(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class GroupSpec:
    name: str
    full_name: str
    visibility: str = "logged_on_users"
    title: str | None = None
    bio: str | None = None
    mentionable: str = "nobody"
    messageable: str = "nobody"
    exclusive: bool = True  # accounts that are not roster members are removed from it

    @property
    def visibility_level(self) -> int:
        return VISIBILITY_LEVELS[self.visibility]

    @property
    def mentionable_level(self) -> int:
        return ALIAS_LEVELS[self.mentionable]

    @property
    def messageable_level(self) -> int:
        return ALIAS_LEVELS[self.messageable]

    def forum_fields(self) -> dict[str, Any]:
        """The group as `POST /admin/groups.json` takes it (and as `doctor` compares it)."""
        fields: dict[str, Any] = {
            "name": self.name,
            "full_name": self.full_name,
            "visibility_level": self.visibility_level,
            "mentionable_level": self.mentionable_level,
            "messageable_level": self.messageable_level,
        }
        if self.title:
            fields["title"] = self.title
        if self.bio:
            fields["bio_raw"] = self.bio
        return fields


@dataclass(frozen=True)
class RoleSpec:
    code: str
    groups: tuple[str, ...]
    staff: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class Grants:
    """What a member's roles and attributes give them on the forum."""

    groups: frozenset[str]
    admin: bool
    moderator: bool


@dataclass(frozen=True)
class RolesConfig:
    groups: Mapping[str, GroupSpec]
    roles: Mapping[str, RoleSpec]
    attributes: Mapping[str, Mapping[str, tuple[str, ...]]]

    @property
    def managed(self) -> frozenset[str]:
        return frozenset(self.groups)

    def for_member(self, forum_id: str) -> RolesConfig:
        """The mapping a member's grants come from (one per source; config/sources.py)."""
        return self

    @property
    def exclusive(self) -> frozenset[str]:
        """Managed groups that hold roster members only."""
        return frozenset(name for name, spec in self.groups.items() if spec.exclusive)

    def grants(self, roles: Iterable[str], attributes: Mapping[str, Any] | None = None) -> Grants:
        groups: set[str] = set()
        staff: set[str] = set()
        for code in roles:
            role = self.roles[code]
            groups.update(role.groups)
            if role.staff:
                staff.add(role.staff)
        for attribute, value in (attributes or {}).items():
            by_value = self.attributes.get(attribute)
            if by_value is None:
                continue
            values = value if isinstance(value, list) else [value]
            for item in values:
                groups.update(by_value.get(str(item), ()))
        return Grants(
            groups=frozenset(groups), admin="admin" in staff, moderator="moderator" in staff
        )


@dataclass(frozen=True)
class CategorySpec:
    slug: str
    name: str
    color: str = "0088CC"
    text_color: str = "FFFFFF"


@dataclass(frozen=True)
class KindSpec:
    kind: str
    label: str
    category: str
    tags: tuple[str, ...] = ()
    template: str = "event.md.j2"


@dataclass(frozen=True)
class EventsConfig:
    calendar: bool
    categories: Mapping[str, CategorySpec]
    kinds: Mapping[str, KindSpec]
    templates_dir: Path = field(default=Path("."))


class _Checker:
    def __init__(self, file: str):
        self.file = file
        self.problems: list[str] = []

    def fail(self, key: str, text: str) -> None:
        self.problems.append(f"{self.file}: {key}: {text}")

    def mapping(self, value: Any, key: str) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(key, f"must be a mapping, got {type(value).__name__}")
            return {}
        return value

    def known_keys(self, value: dict, key: str, allowed: Iterable[str]) -> None:
        """Unknown keys are errors; `label` and `description` are welcome anywhere."""
        allowed = set(allowed) | HUMAN_KEYS
        for unknown in sorted(set(value) - allowed, key=str):
            self.fail(f"{key}.{unknown}", f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def text(self, value: Any, key: str, *, required: bool = True, limit: int = 255) -> str | None:
        if value is None:
            if required:
                self.fail(key, "is required")
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(key, "must be a non-empty text")
            return None
        if len(value) > limit:
            self.fail(key, f"must be at most {limit} characters")
        return value.strip()

    def names(self, value: Any, key: str) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(key, "must be a list of names")
            return []
        return value


def _read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as stream:
            return yaml.safe_load(stream)
    except FileNotFoundError:
        raise MappingError([f"{path}: file not found"]) from None
    except yaml.YAMLError as error:
        raise MappingError([f"{path}: not valid YAML: {error}"]) from None


def load_roles(path: Path) -> RolesConfig:
    data = _read_yaml(path)
    check = _Checker(str(path))
    top = check.mapping(data, "(top level)")
    check.known_keys(top, "(top level)", ("groups", "roles", "attributes"))

    groups: dict[str, GroupSpec] = {}
    lowered: dict[str, str] = {}
    for name, spec in check.mapping(top.get("groups"), "groups").items():
        key = f"groups.{name}"
        name = str(name)
        for problem in name_problems(name):
            check.fail(key, f"not a valid Discourse group name: {problem}")
        if name.lower() in lowered:
            check.fail(key, f"same name as {lowered[name.lower()]!r} (Discourse ignores case)")
        lowered[name.lower()] = name
        spec = check.mapping(spec, key)
        check.known_keys(spec, key, ("full_name", "visibility", "title", "bio", "mentionable",
                                     "messageable", "exclusive"))
        visibility = spec.get("visibility", "logged_on_users")
        if visibility not in VISIBILITY_LEVELS:
            check.fail(f"{key}.visibility", f"must be one of {', '.join(VISIBILITY_LEVELS)}")
            visibility = "logged_on_users"
        levels = {}
        for level in ("mentionable", "messageable"):
            levels[level] = spec.get(level, "nobody")
            if levels[level] not in ALIAS_LEVELS:
                check.fail(f"{key}.{level}", f"must be one of {', '.join(ALIAS_LEVELS)}")
                levels[level] = "nobody"
        exclusive = spec.get("exclusive", True)
        if not isinstance(exclusive, bool):
            check.fail(f"{key}.exclusive", "must be true or false")
            exclusive = True
        groups[name] = GroupSpec(
            name=name,
            full_name=check.text(spec.get("full_name"), f"{key}.full_name") or name,
            visibility=visibility,
            title=check.text(spec.get("title"), f"{key}.title", required=False),
            bio=check.text(spec.get("bio"), f"{key}.bio", required=False, limit=3000),
            exclusive=exclusive,
            **levels,
        )
    if not groups:
        check.fail("groups", "at least one managed group is required")

    def group_refs(value: Any, key: str) -> tuple[str, ...]:
        refs = check.names(value, key)
        for ref in refs:
            if ref not in groups:
                check.fail(key, f"unknown group {ref!r} (not listed under groups)")
        return tuple(refs)

    roles: dict[str, RoleSpec] = {}
    for code, spec in check.mapping(top.get("roles"), "roles").items():
        key = f"roles.{code}"
        if not isinstance(code, str) or not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", code):
            check.fail(key, "role codes are 1-64 characters of A-Z a-z 0-9 _ . : -")
        spec = check.mapping(spec, key)
        check.known_keys(spec, key, ("groups", "staff", "label"))
        staff = spec.get("staff")
        if staff is not None and staff not in STAFF_FLAGS:
            check.fail(f"{key}.staff", "must be admin or moderator")
            staff = None
        roles[str(code)] = RoleSpec(
            code=str(code),
            groups=group_refs(spec.get("groups"), f"{key}.groups"),
            staff=staff,
            label=check.text(spec.get("label"), f"{key}.label", required=False),
        )

    attributes: dict[str, dict[str, tuple[str, ...]]] = {}
    for attribute, values in check.mapping(top.get("attributes"), "attributes").items():
        key = f"attributes.{attribute}"
        attributes[str(attribute)] = {
            str(value): group_refs(refs, f"{key}.{value}")
            for value, refs in check.mapping(values, key).items()
        }
    if check.problems:
        raise MappingError(check.problems)
    return RolesConfig(groups=groups, roles=roles, attributes=attributes)


def load_events(path: Path, templates_dir: Path) -> EventsConfig:
    data = _read_yaml(path)
    check = _Checker(str(path))
    top = check.mapping(data, "(top level)")
    check.known_keys(top, "(top level)", ("calendar", "categories", "kinds"))
    calendar = top.get("calendar", False)
    if not isinstance(calendar, bool):
        check.fail("calendar", "must be true or false")

    categories: dict[str, CategorySpec] = {}
    for slug, spec in check.mapping(top.get("categories"), "categories").items():
        key = f"categories.{slug}"
        if not isinstance(slug, str) or not re.fullmatch(r"[a-z0-9-]{1,50}", slug):
            check.fail(key, "category keys are slugs: 1-50 of a-z 0-9 -")
        spec = check.mapping(spec, key)
        check.known_keys(spec, key, ("name", "color", "text_color"))
        colors = {}
        for color_key in ("color", "text_color"):
            if color_key in spec:
                value = str(spec[color_key])
                if not _COLOR.fullmatch(value):
                    check.fail(f"{key}.{color_key}", "must be a hex color without '#', e.g. 0088CC")
                colors[color_key] = value
        categories[str(slug)] = CategorySpec(
            slug=str(slug), name=check.text(spec.get("name"), f"{key}.name", limit=50) or "",
            **colors,
        )

    kinds: dict[str, KindSpec] = {}
    for kind, spec in check.mapping(top.get("kinds"), "kinds").items():
        key = f"kinds.{kind}"
        if not isinstance(kind, str) or not _KEY.fullmatch(kind):
            check.fail(key, "kind keys are 1-64 of a-z 0-9 _, starting with a letter")
        spec = check.mapping(spec, key)
        check.known_keys(spec, key, ("label", "category", "tags", "template"))
        category = spec.get("category")
        if category not in categories:
            check.fail(f"{key}.category", f"unknown category {category!r} (not under categories)")
        tags = check.names(spec.get("tags"), f"{key}.tags")
        for tag in tags:
            if not _TAG.fullmatch(tag):
                check.fail(f"{key}.tags", f"{tag!r} is not a valid Discourse tag (≤ 20, no spaces)")
        template = spec.get("template", "event.md.j2")
        if not isinstance(template, str) or not (templates_dir / template).is_file():
            check.fail(f"{key}.template", f"template {template!r} not found in {templates_dir}")
        kinds[str(kind)] = KindSpec(
            kind=str(kind),
            label=check.text(spec.get("label"), f"{key}.label") or str(kind),
            category=str(category),
            tags=tuple(tags),
            template=str(template),
        )
    if not kinds:
        check.fail("kinds", "at least one kind of event is required")
    if check.problems:
        raise MappingError(check.problems)
    return EventsConfig(
        calendar=bool(calendar), categories=categories, kinds=kinds, templates_dir=templates_dir
    )
