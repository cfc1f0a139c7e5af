"""Members: found by name, e-mail or id; one member's desired and forum state."""

from __future__ import annotations

import logging
from urllib.parse import quote

from flask import (
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)

from bridge.member_search import MAX_QUERY, MIN_QUERY, find_members
from bridge.members import ALL_MEMBERS, DIRTY, EXTERNAL_ID
from web.admin.access import (
    PAGE,
    bp,
    error_page,
)
from web.admin.scope import scope
from web.current import current_services

log = logging.getLogger(__name__)


@bp.get("/members")
def member_search():
    """A known external id opens the member; anything else searches names and e-mails."""
    services = current_services()
    shown = scope()
    query = request.args.get("q", request.args.get("external_id", "")).strip()
    known = _known_ids(query)
    if len(known) == 1:
        return redirect(url_for("admin.member", external_id=known[0]))
    if not MIN_QUERY <= len(query) <= MAX_QUERY:
        flash(f"Для поиска введите от {MIN_QUERY} до {MAX_QUERY} символов: часть ФИО, "
              "адреса почты или идентификатора.", "error")
        return redirect(url_for("admin.dashboard"))
    found = find_members(services.redis, query, within=None if shown.everything else shown.has)
    log.info("admin: member search by %s: %s found among %s", g.admin.label, found.total,
             found.read)  # never the query: it is a name or an address
    return render_template("admin/members.html", query=query, search=found,
                           shown=len(found.matches))


def _known_ids(query: str) -> list[str]:
    """The stored members in scope a typed id names: a source's own id or a forum id.

    Two sources may list the same own id: then there are two, and the search lists both.
    """
    if not EXTERNAL_ID.match(query):
        return []
    services = current_services()
    shown = scope()
    federation = services.config.sources
    candidates = {query} | {federation[code].forum_id(query) for code in shown.codes}
    candidates = sorted(c for c in candidates if EXTERNAL_ID.match(c) and shown.has(c))
    pipe = services.redis.pipeline(transaction=False)
    for candidate in candidates:
        pipe.sismember(ALL_MEMBERS, candidate)
    return [c for c, known in zip(candidates, pipe.execute(), strict=True) if known]


@bp.get("/members/<external_id>")
def member(external_id: str):
    services = current_services()
    found = services.members.get(external_id) if EXTERNAL_ID.match(external_id) else None
    # Another source's member is no more visible than an unknown one.
    if found is None or not scope().has(external_id):
        return error_page(404, "Участник не найден",
                      f"Мост не знает участника с идентификатором «{external_id[:64]}».")
    roles = services.config.roles
    grants = found.grants(roles)
    source = services.config.sources.source_of(external_id)
    subject = f"member:{external_id}"
    entries = services.audit.newest(limit=PAGE + 1, subject=subject)
    forum_user_url = None
    if found.bound and found.username:
        forum_user_url = (services.settings.discourse_url.rstrip("/") + "/u/"
                          + quote(found.username, safe=""))
    return render_template(
        "admin/member.html",
        member=found,
        source=source,
        role_labels={code: (spec.label or code) for code, spec in source.roles.roles.items()},
        wanted={"groups": sorted(grants.groups), "admin": grants.admin,
                "moderator": grants.moderator},
        dirty=bool(services.redis.sismember(DIRTY, external_id)),
        entries=entries[:PAGE],
        more_entries=len(entries) > PAGE,
        subject=subject,
        forum_user_url=forum_user_url,
    )
