"""The overview: queue, budget, the last reconciliation, the last 24 hours."""

from __future__ import annotations

import json
import time

from flask import render_template

from bridge.members import ALL_MEMBERS, DIRTY
from bridge.services import Services
from web import charts
from web.admin.access import bp
from web.admin.jobs import failed_in_scope
from web.admin.scope import Scope, scope, several_sources, source_code
from web.current import current_services
from workers.members import RECONCILE_KEY
from workers.queue import job_counts


def last_reconciliation(services: Services) -> dict | None:
    """The report of the last scheduled repair, summarised; None when there was none yet."""
    raw = services.redis.get(RECONCILE_KEY)
    if raw is None:
        return None
    try:
        report = json.loads(raw)
    except ValueError:
        return {"broken": True}
    if not isinstance(report, dict):
        return {"broken": True}
    groups = report.get("groups") if isinstance(report.get("groups"), dict) else {}
    rows = []
    for name, change in sorted(groups.items()):
        change = change if isinstance(change, dict) else {}
        rows.append({"group": name, "add": len(change.get("add") or []),
                     "remove": len(change.get("remove") or [])})
    unknown = report.get("unknown_accounts") if isinstance(report.get("unknown_accounts"),
                                                             dict) else {}
    return {
        "broken": False,
        "at": report.get("at"),
        "cause": report.get("cause"),
        "write_calls": report.get("write_calls"),
        "groups": rows,
        "added": sum(r["add"] for r in rows),
        "removed": sum(r["remove"] for r in rows),
        "staff": len(report.get("staff") or []),
        "unknown_accounts": sum(len(v or []) for v in unknown.values()),
    }


def members_by_source(services: Services, key: str, shown: Scope) -> dict[str, int]:
    """How many of a set's members (ALL_MEMBERS, DIRTY) each shown source has."""
    codes = services.config.sources.codes  # in the order sources.yml lists them
    counts = {code: 0 for code in codes if code in shown.codes}
    for forum_id in set(services.redis.sscan_iter(key, count=1000)):
        code = source_code(forum_id)
        if code in counts:
            counts[code] += 1
    return counts


@bp.get("/", strict_slashes=False)
def dashboard():
    services = current_services()
    shown = scope()
    limit = services.settings.discourse_max_reqs_per_minute
    used = services.budget.used()
    jobs = job_counts(services.redis_raw)  # the queue is one for every source
    per_source = None
    if several_sources():
        per_source = members_by_source(services, ALL_MEMBERS, shown)
        dirty = sum(members_by_source(services, DIRTY, shown).values())
        members = sum(per_source.values())
    else:
        dirty, members = services.redis.scard(DIRTY), services.redis.scard(ALL_MEMBERS)
    if not shown.everything:
        jobs["failed"] = len(failed_in_scope(services, shown))
    events_dirty = [e for e in services.events.dirty_ids() if shown.everything or shown.has(e)]
    return render_template(
        "admin/dashboard.html",
        jobs=jobs,
        dirty=dirty,
        members=members,
        per_source=per_source,
        events_dirty=len(events_dirty),
        budget={"used": used, "limit": limit,
                "percent": round(100 * used / limit) if limit else 0},
        # The repair is forum-wide: shown to whoever manages every source.
        reconcile=last_reconciliation(services) if shown.everything else None,
        reconcile_shown=shown.everything,
        charts=charts.overview_charts(services.redis, limit=limit, now=time.time()),
    )
