"""The overview: queue, budget, the last reconciliation, the last 24 hours."""

from __future__ import annotations

import json
import time

from flask import render_template

from bridge.events import EventStore
from bridge.members import ALL_MEMBERS, DIRTY
from bridge.services import Services
from web import charts
from web.admin.access import bp
from web.current import current_services
from workers.members import RECONCILE_KEY
from workers.queue import job_counts


def last_reconciliation(svc: Services) -> dict | None:
    """The report of the last scheduled repair, summarised; None when there was none yet."""
    raw = svc.redis.get(RECONCILE_KEY)
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


@bp.get("/", strict_slashes=False)
def dashboard():
    svc = current_services()
    limit = svc.settings.discourse_max_reqs_per_minute
    used = svc.budget.used()
    store = EventStore(svc.redis)
    return render_template(
        "admin/dashboard.html",
        jobs=job_counts(svc.redis_raw),
        dirty=svc.redis.scard(DIRTY),
        members=svc.redis.scard(ALL_MEMBERS),
        events_dirty=len(store.dirty_ids()),
        budget={"used": used, "limit": limit,
                "percent": round(100 * used / limit) if limit else 0},
        reconcile=last_reconciliation(svc),
        charts=charts.overview_charts(svc.redis, limit=limit, now=time.time()),
    )
