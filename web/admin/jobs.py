"""Failed jobs, with a retry."""

from __future__ import annotations

import logging
import re

from flask import (
    flash,
    g,
    redirect,
    render_template,
    url_for,
)
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from bridge.services import Services
from web.admin.access import (
    PAGE,
    bp,
    error_page,
    page_number,
)
from web.admin.scope import Scope, noted_sources, scope, source_code
from web.current import current_services
from workers.queue import JOB_ID, failure_reason, queue, retry_failed

log = logging.getLogger(__name__)

FETCH_BATCH = 500  # failed jobs read in one round trip when a list is narrowed to sources
# Jobs whose id names one member or event: `<kind>-<escaped forum id>-<suffix>`.
_KEYED_JOBS = frozenset({"member", "event", "login"})
_UNESCAPES = {"__": "_", "_d": ".", "_c": ":"}  # workers/queue.py job_id_for, reversed


def job_sources(job: Job) -> frozenset[str] | None:
    """The sources a job works for; None for work of no one source (a group pass).

    The job's own note when it has one; else what its id or its list of members names.
    """
    noted = noted_sources((job.meta or {}).get("source"))
    if noted is not None:
        return noted
    kind, _, rest = job.id.partition("-")
    if kind in _KEYED_JOBS:
        escaped = rest.rpartition("-")[0]
        code = source_code(re.sub(r"_[_dc]", lambda m: _UNESCAPES[m.group(0)], escaped))
        return frozenset({code}) if code else None
    if kind == "members" and job.args and isinstance(job.args[0], list) and job.args[0]:
        codes = {source_code(str(forum_id)) for forum_id in job.args[0]}
        return None if None in codes else frozenset(codes)  # type: ignore[arg-type]
    return None


def _fetched(services: Services, ids: list[str]) -> list[tuple[str, Job | None]]:
    return list(zip(ids, Job.fetch_many(ids, connection=services.redis_raw,
                                        serializer=JSONSerializer), strict=True))


def failed_in_scope(services: Services, shown: Scope) -> list[tuple[str, Job | None]]:
    """The failed jobs (newest first) the scope shows; every one when it shows everything.

    A job gone from Redis is shown only with everything: nobody knows whose it was.
    """
    registry = queue(services.redis_raw).failed_job_registry
    ids = registry.get_job_ids(desc=True)
    if shown.everything:
        return [(job_id, None) for job_id in ids]  # fetched page by page by the caller
    found = []
    for start in range(0, len(ids), FETCH_BATCH):
        for job_id, job in _fetched(services, ids[start:start + FETCH_BATCH]):
            if job is not None and shown.has_all(job_sources(job)):
                found.append((job_id, job))
    return found


@bp.get("/jobs/failed")
def failed_jobs():
    services = current_services()
    shown = scope()
    page = page_number()
    if shown.everything:
        registry = queue(services.redis_raw).failed_job_registry
        total = registry.count
        ids = registry.get_job_ids(start=(page - 1) * PAGE, end=page * PAGE - 1, desc=True)
        rows = _fetched(services, ids)
    else:
        found = failed_in_scope(services, shown)
        total = len(found)
        rows = found[(page - 1) * PAGE : page * PAGE]
    jobs = []
    for job_id, job in rows:
        if job is None:
            jobs.append({"id": job_id, "description": "—", "error": "задание удалено",
                         "when": None, "sources": []})
            continue
        jobs.append({"id": job.id, "description": job.description or job.func_name,
                     "error": failure_reason(job) or "—", "when": job.ended_at,
                     "sources": sorted(job_sources(job) or ())})
    return render_template("admin/failed_jobs.html", jobs=jobs, total=total, page=page,
                           more=page * PAGE < total)


def _may_retry(services: Services, job_id: str) -> bool:
    """Whether the administrator manages the job's sources (a job gone: let retry say so)."""
    shown = scope()
    if shown.everything:
        return True
    try:
        job = Job.fetch(job_id, connection=services.redis_raw, serializer=JSONSerializer)
    except NoSuchJobError:
        return True
    return shown.has_all(job_sources(job))


@bp.post("/jobs/failed/<job_id>/retry")
def retry_job(job_id: str):
    services = current_services()
    if JOB_ID.match(job_id) and not _may_retry(services, job_id):
        log.warning("admin: retry of job %s refused to %s: another source's", job_id,
                    g.admin.label)
        return error_page(404, "Задание не найдено",
                          "Среди упавших заданий ваших источников такого нет.")
    if JOB_ID.match(job_id) and retry_failed(services.redis_raw, job_id):
        log.info("admin: job %s requeued by %s", job_id, g.admin.label)
        flash(f"Задание {job_id} снова в очереди.", "ok")
    else:
        flash(f"Задания {job_id[:200]} нет среди упавших: возможно, его уже повторили.",
              "error")
    return redirect(url_for("admin.failed_jobs"), 303)


@bp.post("/jobs/failed/retry-all")
def retry_all_jobs():
    services = current_services()
    shown = scope()
    requeued = sum(retry_failed(services.redis_raw, job_id)
                   for job_id, _ in failed_in_scope(services, shown))
    log.info("admin: %s failed jobs requeued by %s", requeued, g.admin.label)
    flash(f"Снова в очереди заданий: {requeued}.", "ok")
    return redirect(url_for("admin.failed_jobs", source=shown.chosen), 303)
