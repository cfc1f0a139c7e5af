"""The queue: JSON-serialized RQ jobs with deterministic ids.

A job's id says what it converges (`member:<id>:v<version>`), so the same
change delivered twice becomes one job, and a newer version gets a job of
its own that reads the newest desired state when it runs. A job done for a
source carries its code (`meta["source"]`): the API shows it to that source
only, and its calls spend that source's share of the Discourse budget.
"""

from __future__ import annotations

import json
import re
from typing import Any

import redis
from rq import Queue
from rq.exceptions import DuplicateJobError, InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

QUEUE_NAME = "bridge"
JOB_TIMEOUT = 600  # seconds; a whole-roster sync at 60 calls a minute is bounded by its batches
# How long RQ keeps a job after it ends. Redis must not grow with uptime: a
# result is kept only as long as someone may ask for it.
RESULT_TTL = 3600  # the job status API (GET /api/v1/jobs/{id}) promises an hour
FAILURE_TTL = 30 * 86400  # failed jobs wait for an administrator (/admin/jobs/failed)
PERIODIC_RESULT_TTL = 600  # nobody asks for a sweep's result: minutes, for an operator
PERIODIC_FAILURE_TTL = 86400  # a failed periodic job is repeated anyway: a night's worth


#: The budget lane of the jobs done for no source (periodic work, the whole forum);
#: not a source code (those have two characters at least).
FORUM_LANE = "-"
#: How far down the queue a waiting job looks for another lane's work.
LANES_LOOKAHEAD = 1000

_ESCAPES = {"_": "__", ".": "_d", ":": "_c"}
#: What RQ accepts as a job id (it raises ValueError on anything else).
JOB_ID = re.compile(r"\A[A-Za-z0-9_-]{1,200}\Z")


def job_id_for(kind: str, key: str, *suffix: str | int) -> str:
    """A deterministic RQ job id (RQ allows only letters, digits, '_' and '-').

    External ids may contain '.' and ':'; they are escaped injectively, so two
    different ids never share a job id.
    """
    escaped = "".join(_ESCAPES.get(ch, ch) for ch in key)
    return "-".join([kind, escaped, *(str(s) for s in suffix)])


def queue(connection: redis.Redis) -> Queue:
    return Queue(QUEUE_NAME, connection=connection, serializer=JSONSerializer)


def enqueue(
    connection: redis.Redis,
    func: str,
    *args: Any,
    job_id: str,
    timeout: int = JOB_TIMEOUT,
    description: str | None = None,
    result_ttl: int = RESULT_TTL,
    failure_ttl: int = FAILURE_TTL,
    source: str | None = None,
) -> str:
    """Enqueue `func` under `job_id` unless a job with that id already exists.

    `source`: the code of the source the job works for; None for the whole forum.
    """
    try:
        queue(connection).enqueue(
            func,
            *args,
            job_id=job_id,
            unique=True,
            job_timeout=timeout,
            result_ttl=result_ttl,
            failure_ttl=failure_ttl,
            description=description or job_id,
            meta={"source": source} if source else None,
        )
    except DuplicateJobError:
        pass
    return job_id


def job_counts(connection: redis.Redis) -> dict[str, int]:
    """How many jobs are queued, running, waiting for a retry, failed."""
    q = queue(connection)
    return {
        "queued": q.count,
        "started": q.started_job_registry.count,
        "scheduled": q.scheduled_job_registry.count,
        "failed": q.failed_job_registry.count,
    }


def lane_of(meta: dict | None) -> str:
    """The budget lane of a job: its source, else the forum's own."""
    return (meta or {}).get("source") or FORUM_LANE


def queued_lanes(connection: redis.Redis) -> set[str]:
    """The lanes of the jobs waiting in the queue (the first LANES_LOOKAHEAD of them)."""
    q = queue(connection)
    job_ids = [i.decode() if isinstance(i, bytes) else i
               for i in connection.lrange(q.key, 0, LANES_LOOKAHEAD - 1)]
    if not job_ids:
        return set()
    pipe = connection.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hget(Job.key_for(job_id), "meta")
    lanes = set()
    for raw in pipe.execute():
        try:
            meta = json.loads(raw) if raw else None
        except ValueError:
            meta = None
        lanes.add(lane_of(meta if isinstance(meta, dict) else None))
    return lanes


def job_state(connection: redis.Redis, job_id: str) -> dict | None:
    """The public state of a job; None for an unknown id, whatever its shape.

    `source` is the code of the source the job works for (None: the whole forum).
    """
    if not JOB_ID.match(job_id):
        return None
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
        error = failure_reason(job)
    elif (job.meta or {}).get("retrying"):
        error = job.meta.get("error")
    return {"id": job_id, "status": public, "error": error,
            "source": (job.meta or {}).get("source")}


def failure_reason(job: Job) -> str | None:
    """Why a job failed, in one line: the job's own note, else the exception's last line."""
    noted = (job.meta or {}).get("error")
    if noted:
        return str(noted)
    text = getattr(job.latest_result(), "exc_string", None) or ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else None


HEARTBEAT_STALE = 20  # a worker beats every 5 s while it runs a job: 20 s of silence, it is gone


def job_is_orphaned(connection: redis.Redis, job_id: str) -> bool:
    """A job is orphaned when it failed by abandonment or its worker stopped beating."""
    from datetime import UTC, datetime

    from rq.worker import Worker

    try:
        job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
    except NoSuchJobError:
        return False
    status = job.get_status(refresh=True)
    if status == JobStatus.FAILED:
        result = job.latest_result()
        text = getattr(result, "exc_string", "") or ""
        return "AbandonedJobError" in text or "abandoned" in text.lower()
    if status != JobStatus.STARTED:
        return False
    if not job.worker_name:
        return True
    worker = Worker.find_by_key(
        Worker.redis_worker_namespace_prefix + job.worker_name, connection=connection
    )
    if worker is None or worker.last_heartbeat is None:
        return True
    age = (datetime.now(UTC) - worker.last_heartbeat.replace(tzinfo=UTC)).total_seconds()
    return age > HEARTBEAT_STALE


def retry_failed(connection: redis.Redis, job_id: str) -> bool:
    """An administrator's retry of a failed job: its backoff starts from the beginning.

    False when the job is gone or is not (any more) among the failed ones.
    """
    registry = queue(connection).failed_job_registry
    try:
        job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
        if job_id not in registry:
            return False
        for key in ("attempt", "error", "retrying"):
            job.meta.pop(key, None)
        job.save_meta()
        registry.requeue(job)
    except (NoSuchJobError, InvalidJobOperation):
        return False
    return True


def requeue(connection: redis.Redis, job_id: str) -> bool:
    """Put an existing failed or orphaned job back on the queue; False if it is gone."""
    try:
        job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
    except NoSuchJobError:
        return False
    q = queue(connection)
    if job.get_status(refresh=True) == JobStatus.FAILED:
        q.failed_job_registry.requeue(job)
    else:  # started by a worker that is gone: forget that execution, queue it again
        q.started_job_registry.remove_executions(job)
        q.enqueue_job(job)
    return True


def enqueue_or_rerun(connection: redis.Redis, func: str, *args: Any, job_id: str,
                     timeout: int = JOB_TIMEOUT) -> bool:
    """Queue `func` under `job_id`, running a finished job of that id once more.

    For work whose state changed after its job finished (the id names the work,
    not each attempt). A queued, scheduled, running or failed job is left as it
    is; False when nothing was queued.
    """
    state = job_state(connection, job_id)
    if state is None:
        enqueue(connection, func, *args, job_id=job_id, timeout=timeout)
        return True
    if state["status"] == "finished":
        return requeue(connection, job_id)
    return False


def requeue_or_enqueue(connection: redis.Redis, func: str, *args: Any, job_id: str,
                       timeout: int = JOB_TIMEOUT) -> str:
    """Put a lost or orphaned job back on the queue (or create it when it is gone)."""
    if not requeue(connection, job_id):
        enqueue(connection, func, *args, job_id=job_id, timeout=timeout)
    return job_id
