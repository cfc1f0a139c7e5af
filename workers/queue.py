"""The queue: JSON-serialized RQ jobs with deterministic ids.

A job's id says what it converges (`member:<id>:v<version>`), so the same
change delivered twice becomes one job, and a newer version gets a job of
its own that reads the newest desired state when it runs.
"""

from __future__ import annotations

from typing import Any

import redis
from rq import Queue
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

QUEUE_NAME = "bridge"
JOB_TIMEOUT = 600  # seconds; a whole-roster sync at 60 calls a minute is bounded by its batches
RESULT_TTL = 7 * 86400  # the job status API promises at least an hour
FAILURE_TTL = 30 * 86400


def queue(connection: redis.Redis) -> Queue:
    return Queue(QUEUE_NAME, connection=connection, serializer=JSONSerializer)


def enqueue(
    connection: redis.Redis,
    func: str,
    *args: Any,
    job_id: str,
    timeout: int = JOB_TIMEOUT,
    description: str | None = None,
) -> str:
    """Enqueue `func` under `job_id` unless a job with that id already exists."""
    try:
        queue(connection).enqueue(
            func,
            *args,
            job_id=job_id,
            unique=True,
            job_timeout=timeout,
            result_ttl=RESULT_TTL,
            failure_ttl=FAILURE_TTL,
            description=description or job_id,
        )
    except DuplicateJobError:
        pass
    return job_id


def job_state(connection: redis.Redis, job_id: str) -> dict | None:
    try:
        job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
    except NoSuchJobError:
        return None
    status = job.get_status(refresh=True)
    public = {
        JobStatus.QUEUED: "queued",
        JobStatus.DEFERRED: "queued",
        JobStatus.SCHEDULED: "queued",
        JobStatus.STARTED: "started",
        JobStatus.FINISHED: "finished",
        JobStatus.FAILED: "failed",
        JobStatus.STOPPED: "failed",
        JobStatus.CANCELED: "failed",
    }.get(status, "queued")
    error = None
    if public == "failed":
        error = (job.meta or {}).get("error") or _last_line(job.latest_result())
    elif (job.meta or {}).get("retrying"):
        error = job.meta.get("error")
    return {"id": job_id, "status": public, "error": error}


def _last_line(result) -> str | None:
    text = getattr(result, "exc_string", None)
    if not text:
        return None
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else None
