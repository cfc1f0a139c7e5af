"""Failed jobs, with a retry."""

from __future__ import annotations

import logging

from flask import (
    flash,
    g,
    redirect,
    render_template,
    url_for,
)
from rq.job import Job
from rq.serializers import JSONSerializer

from web.admin.access import (
    PAGE,
    bp,
    page_number,
)
from web.current import current_services
from workers.queue import JOB_ID, failure_reason, queue, retry_failed

log = logging.getLogger(__name__)


@bp.get("/jobs/failed")
def failed_jobs():
    svc = current_services()
    registry = queue(svc.redis_raw).failed_job_registry
    page = page_number()
    total = registry.count
    ids = registry.get_job_ids(start=(page - 1) * PAGE, end=page * PAGE - 1, desc=True)
    jobs = []
    for job_id, job in zip(
        ids, Job.fetch_many(ids, connection=svc.redis_raw, serializer=JSONSerializer),
        strict=True,
    ):
        if job is None:
            jobs.append({"id": job_id, "description": "—", "error": "задание удалено",
                         "when": None})
            continue
        jobs.append({"id": job.id, "description": job.description or job.func_name,
                     "error": failure_reason(job) or "—", "when": job.ended_at})
    return render_template("admin/failed_jobs.html", jobs=jobs, total=total, page=page,
                           more=page * PAGE < total)


@bp.post("/jobs/failed/<job_id>/retry")
def retry_job(job_id: str):
    svc = current_services()
    if JOB_ID.match(job_id) and retry_failed(svc.redis_raw, job_id):
        log.info("admin: job %s requeued by %s", job_id, g.admin.label)
        flash(f"Задание {job_id} снова в очереди.", "ok")
    else:
        flash(f"Задания {job_id[:200]} нет среди упавших: возможно, его уже повторили.",
              "error")
    return redirect(url_for("admin.failed_jobs"), 303)


@bp.post("/jobs/failed/retry-all")
def retry_all_jobs():
    svc = current_services()
    registry = queue(svc.redis_raw).failed_job_registry
    requeued = sum(retry_failed(svc.redis_raw, job_id) for job_id in registry.get_job_ids())
    log.info("admin: %s failed jobs requeued by %s", requeued, g.admin.label)
    flash(f"Снова в очереди заданий: {requeued}.", "ok")
    return redirect(url_for("admin.failed_jobs"), 303)


