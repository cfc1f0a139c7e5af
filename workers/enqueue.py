"""Queueing role-sync work: the one module the web process and the login import.

Every job id is deterministic, so the same change delivered twice is one job.
Member and group jobs are tracked until done, so the sweep can bring back work
whose worker died. Each job carries the source it works for (None: the whole
forum): its status is that source's to see, its calls spend that source's share.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Any

from bridge.services import Services
from workers import queue as jobs

INFLIGHT = "bridge:members:jobs"  # member and group jobs not yet known to be done
GROUP_PASS_GENERATION = "bridge:group-pass:generation"  # noqa: S105 - a Redis key
ACCOUNT_REPAIR_QUEUED = "bridge:account-repair:queued:"  # forum user id -> a read-back waits
ACCOUNT_REPAIR_TTL = 600
GROUP_PASS_TIMEOUT = 4 * 3600


def _tracked(services: Services, job_id: str) -> str:
    services.redis.sadd(INFLIGHT, job_id)
    return job_id


def member_job_id(external_id: str, version: int) -> str:
    return jobs.job_id_for("member", external_id, f"v{version}")


def source_of(services: Services, external_ids: list[str]) -> str | None:
    """The code of the one source these members belong to; None when they span several."""
    try:
        codes = {services.config.sources.source_of(external_id).code
                 for external_id in external_ids}
    except KeyError:  # an id of no source: whole-forum work
        return None
    return codes.pop() if len(codes) == 1 else None


def member(services: Services, external_id: str, version: int) -> str:
    """Converge one member at this version (a newer version gets a job of its own)."""
    return _tracked(services, jobs.enqueue(
        services.redis_raw,
        "workers.members.sync_member",
        external_id,
        job_id=member_job_id(external_id, version),
        description=f"sync member {external_id} v{version}",
        source=source_of(services, [external_id]),
    ))


def group_pass_job_id(services: Services, source: str | None = None) -> str:
    """In a federation each source's changes get a pass of their own (its status is theirs)."""
    generation = services.redis.get(GROUP_PASS_GENERATION) or "0"
    if source is not None and services.config.federated:
        return jobs.job_id_for("groups", source, generation)
    return jobs.job_id_for("groups", generation)


def group_pass(services: Services, cause: str, *, force: bool = False,
               source: str | None = None) -> str:
    """Queue a group pass, unless one is queued already: one pass converges everybody.

    The job id carries the pass generation, which each pass advances when it
    starts, so changes arriving after that start get a pass of their own.
    `source`: whose changes the pass is for (None: the whole forum's).
    """
    return _tracked(services, jobs.enqueue(
        services.redis_raw,
        "workers.members.group_pass",
        cause,
        force,
        job_id=group_pass_job_id(services, source),
        timeout=GROUP_PASS_TIMEOUT,
        description=f"group pass ({cause})",
        source=source,
    ))


def group_pass_queued(services: Services, source: str | None = None) -> bool:
    state = jobs.job_state(services.redis_raw, group_pass_job_id(services, source))
    return state is not None and state["status"] == "queued"


def changes(services: Services, external_ids: list[str], cause: str, *, force: bool = False) -> str:
    """Converge changed members the cheaper way: one by one, or by a group pass.

    One by one costs at most a call or two per member; a group pass costs the
    reads of every managed group plus batched writes. Whichever the backlog
    makes cheaper is queued, as one job.
    """
    sync = services.member_sync()
    source = source_of(services, external_ids)
    if sync.per_member_cost(external_ids) > sync.group_pass_cost():
        return group_pass(services, cause, force=force, source=source)
    # The same members at the same versions are the same work: one job id.
    versions = sorted(f"{m.external_id}:{m.version}" for m in services.members.many(external_ids))
    digest = hashlib.sha256("\n".join(versions).encode()).hexdigest()[:20]
    return _tracked(services, jobs.enqueue(
        services.redis_raw,
        "workers.members.sync_members",
        sorted(external_ids),
        cause,
        job_id=jobs.job_id_for("members", cause, digest),
        description=f"sync {len(external_ids)} members ({cause})",
        source=source,
    ))


def account_repair(services: Services, user_id: int, cause: str = "webhook") -> str | None:
    """Read an account back after a webhook's hint.

    Hints arriving while a read-back is still queued are one job (it reads the
    newest state); a hint after it started gets a job of its own.
    """
    pending = f"{ACCOUNT_REPAIR_QUEUED}{int(user_id)}"
    if not services.redis.set(pending, "1", nx=True, ex=ACCOUNT_REPAIR_TTL):
        return None
    return jobs.enqueue(
        services.redis_raw,
        "workers.members.repair_account",
        int(user_id),
        cause,
        job_id=jobs.job_id_for("account", str(int(user_id)), str(time.time_ns())),
        description=f"read account {int(user_id)} back ({cause})",
    )


def account_repair_started(services: Services, user_id: int) -> None:
    services.redis.delete(f"{ACCOUNT_REPAIR_QUEUED}{int(user_id)}")


def after_login(services: Services, external_id: str, sequence: int,
                sent: Mapping[str, Any]) -> str:
    """Learn the account of this login once Discourse has it (each login its own job).

    The browser is on its way to Discourse; until the account is there the job
    is retried with backoff, for as long as the login can still complete.
    """
    # Not tracked for the sweep: a lost one is made good by the next login, or by
    # the group pass, which reads any unbound account it finds in a managed group.
    return jobs.enqueue(
        services.redis_raw,
        "workers.members.learn_login",
        external_id,
        dict(sent),
        job_id=jobs.job_id_for("login", external_id, str(sequence)),
        description=f"learn the account of {external_id}'s login {sequence}",
        source=source_of(services, [external_id]),
    )
