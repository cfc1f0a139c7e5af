"""What an administrator sees: the sources they manage, narrowed by `?source=`.

A member holding one of a source's `admin_roles` manages that source only; the
`federation_admin_roles` (and a token acting for several sources) manage
several and may narrow every list to one of them with `?source=CODE`.

Members and events belong to the source of their forum external id (`S:X`, or
a bare id of the legacy source); jobs and audit entries to the source of what
they name. What belongs to no one source (a group pass, a group's entries) is
shown only to those who manage every source, when the list is not narrowed.

With one source there is nothing to choose: no page shows a source.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import abort, g, request

from config import Source
from web.admin.access import bp
from web.current import current_services

SOURCE_FIELD = "source"  # the query parameter (and form field) naming one source


@dataclass(frozen=True)
class Scope:
    codes: frozenset[str]  # the sources shown
    everything: bool  # every source, not narrowed: what belongs to no source is shown too
    chosen: str | None  # the source the list is narrowed to, if any

    def has(self, forum_id: str) -> bool:
        """Whether a member or event (by forum external id) is shown."""
        return source_code(forum_id) in self.codes

    def has_all(self, codes: Iterable[str] | None) -> bool:
        """Whether something belonging to `codes` (None: to no one source) is shown."""
        if codes is None:
            return self.everything
        codes = frozenset(codes)
        return bool(codes) and codes <= self.codes


def several_sources() -> bool:
    """Whether the bridge serves more than one source: only then do pages show sources."""
    return len(current_services().config.sources.sources) > 1


def source_code(forum_id: str) -> str | None:
    """The source of a forum external id; None for an id of no source."""
    try:
        return current_services().config.sources.source_of(forum_id).code
    except KeyError:
        return None


def subject_sources(subject: str) -> frozenset[str] | None:
    """The source an audit subject (`member:<id>`, `event:<id>`) belongs to; None for others."""
    kind, _, forum_id = subject.partition(":")
    if kind in ("member", "event") and forum_id:
        code = source_code(forum_id)
        return frozenset({code}) if code else None
    return None


def noted_sources(value: Any) -> frozenset[str] | None:
    """A `source` noted on a job or an audit entry: one code or a list of them."""
    if isinstance(value, str) and value:
        return frozenset({value})
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        return frozenset(value)
    return None


def scope() -> Scope:
    """This request's scope: the administrator's sources, narrowed by `?source=` if given.

    A source the administrator does not manage is 404, like any page that is not theirs.
    """
    if "admin_scope" not in g:
        federation = current_services().config.sources
        mine = frozenset(g.admin.sources) if g.admin.sources else frozenset(federation.codes)
        chosen = request.args.get(SOURCE_FIELD, "").strip() or None
        if len(federation.sources) == 1:
            chosen = None  # one source: nothing to narrow
        if chosen is not None and chosen not in mine:
            abort(404)
        every = mine >= frozenset(federation.codes)
        g.admin_scope = Scope(codes=frozenset({chosen}) if chosen else mine,
                              everything=every and chosen is None, chosen=chosen)
    return g.admin_scope


def managed() -> list[Source]:
    """The sources the administrator manages, in the order sources.yml lists them."""
    federation = current_services().config.sources
    mine = set(g.admin.sources) if g.admin and g.admin.sources else set(federation.codes)
    return [s for s in federation.sources.values() if s.code in mine]


@bp.context_processor
def _source_helpers() -> dict[str, Any]:
    """What templates need to show sources: only with several, never for one."""
    federation = current_services().config.sources
    several = len(federation.sources) > 1

    def source_of(forum_id: str) -> Source | None:
        code = source_code(forum_id)
        return federation[code] if code else None

    def local_id(forum_id: str) -> str:
        """A member's or event's own id in their source (the forum key without `S:`)."""
        if not several:
            return forum_id
        try:
            return federation.local_id(forum_id)
        except KeyError:
            return forum_id

    def source_name(code: str | None) -> str:
        source = federation.sources.get(code or "")
        return (source.name or source.code) if source else "—"

    admin = g.get("admin")
    mine = managed() if admin is not None else []
    return {
        "several_sources": several,
        "manages_every_source": len(mine) == len(federation.sources),
        # The filter is offered to whoever manages more than one source.
        "source_choices": mine if several and len(mine) > 1 else [],
        "chosen_source": getattr(g.get("admin_scope"), "chosen", None),
        "source_of": source_of,
        "source_code": source_code,
        "source_name": source_name,
        "local_id": local_id,
    }
