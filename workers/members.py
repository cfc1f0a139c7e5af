"""Role sync jobs: thin layers over `bridge.membersync.MemberSync`.

A job takes its lock, asks `MemberSync` to converge, and marks members clean
only when the version it converged is still the newest. Queueing lives in
`workers.enqueue`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rq import get_current_job

from bridge.discourse import ClientError, InvalidCredentials
from bridge.membersync import MemberSync
from bridge.services import Services
from workers import enqueue, runtime
from workers import queue as jobs
from workers.locks import held
from workers.resumable import ResumablePass
from workers.runtime import RetryingClient, job, resumable

GROUP_PASS_LOCK_WAIT = 5.0
GROUP_PASS_BUSY_RETRY = 30  # a pass may run for many minutes: look again twice a minute
RECONCILE_KEY = "bridge:reconcile:last"
FULL_RECONCILE_KEY = "bridge:reconcile:full-at"


def _sync(services: Services, discourse=None) -> MemberSync:
    """Long jobs retry a transient failure in place rather than start over."""
    return services.member_sync(discourse=discourse or RetryingClient(services.discourse))


@contextmanager
def _pass_client(services: Services, *, fresh: bool = False) -> Iterator:
    """The group pass's client: one that can stop for another source and resume, when
    sources share the budget (a single source never gives way)."""
    client = RetryingClient(services.discourse)
    current = get_current_job()
    if not services.budget.reserve or current is None:
        yield client
        return
    with ResumablePass.open(client, services.redis, current.id, fresh=fresh) as reads:
        yield reads


def _converge_one(services: Services, sync: MemberSync, external_id: str, cause: str) -> dict:
    """Converge one member under its lock; its error is kept on the member for admins.

    Resumable: each step keeps what it did (an account learnt, grants applied),
    so a new run of an interrupted convergence repeats a call at most.
    """
    with held(services.redis, f"member:{external_id}"), resumable():
        member = services.members.get(external_id)
        if member is None:
            return {"result": "unknown member"}
        try:
            result = sync.converge(member, cause=cause)
        except InvalidCredentials:
            raise  # the bridge's configuration, not this member's problem
        except ClientError as error:
            services.members.record_error(external_id, str(error))
            raise
        services.members.record_error(external_id, None)
        services.members.mark_clean(external_id, member.version)
        return result


@job
def sync_member(external_id: str) -> dict:
    services = runtime.services()
    source = enqueue.source_of(services, [external_id])
    if backlog_favours_group_pass(services, source):
        return {"handed_over": enqueue.group_pass(services, "batch", source=source)}
    return _converge_one(services, _sync(services), external_id, "api")


@job
def sync_members(external_ids: list[str], cause: str = "roster") -> dict:
    """Converge several members one by one; one member's refusal does not stop the rest."""
    services = runtime.services()
    sync = _sync(services)
    results, refused = {}, []
    for external_id in external_ids:
        try:
            results[external_id] = _converge_one(services, sync, external_id, cause).get("result")
        except InvalidCredentials:
            raise
        except ClientError:
            refused.append(external_id)
    if refused:
        raise ClientError(
            f"Discourse refused {len(refused)} of {len(external_ids)} members "
            f"(see each member's last_error): {', '.join(refused[:20])}"
        )
    return results


@job
def learn_login(external_id: str, sent: Mapping[str, Any]) -> dict:
    """After a login reply: bind the account Discourse created or found for it."""
    services = runtime.services()
    with held(services.redis, f"member:{external_id}"), resumable():
        return services.member_sync().learn_login(external_id, sent)


def backlog_favours_group_pass(services: Services, source: str | None = None) -> bool:
    """Whether one group pass converges the dirty members for fewer calls than their jobs.

    Decided from counters, as every member job asks: a pass already queued reads
    the newest state anyway, and a member costs about one call, so a backlog
    larger than a pass's reads is cheaper as a pass. In a federation only the
    member's own source's backlog counts: another source's large roster must
    not turn a single change into a wait for a whole pass.
    """
    if enqueue.group_pass_queued(services, source):
        return True
    return _dirty_count(services, source) > services.member_sync().group_pass_cost()


def _dirty_count(services: Services, source: str | None) -> int:
    federation = services.config.sources
    if not federation.federated or source is None:
        return services.redis.scard(services.members.dirty_key)
    dirty = services.redis.sscan_iter(services.members.dirty_key, count=1000)
    return sum(1 for external_id in dirty
               if enqueue.source_of(services, [external_id]) == source)


@job
def group_pass(cause: str = "roster", force: bool = False) -> dict:
    """The group pass: every managed group read, the drift repaired."""
    services = runtime.services()
    with held(services.redis, "groups", wait=GROUP_PASS_LOCK_WAIT,
              retry_in=GROUP_PASS_BUSY_RETRY), \
            _pass_client(services) as client:
        services.redis.incr(enqueue.GROUP_PASS_GENERATION)  # later changes need a pass after this
        return _sync(services, client).group_pass(cause=cause, force=force)


sync_groups = group_pass  # the job's name until 2026-12: passes queued before an upgrade still run


@job
def reconcile() -> dict:
    """The scheduled repair: a group pass that reports what it fixed.

    With webhooks reporting drift as it happens, it is a quick check of group
    sizes (a pass over the groups that differ), and a full pass every
    BRIDGE_FULL_RECONCILE_INTERVAL (a day by default).
    """
    services = runtime.services()
    with held(services.redis, "groups", wait=GROUP_PASS_LOCK_WAIT,
              retry_in=GROUP_PASS_BUSY_RETRY), \
            _pass_client(services, fresh=True) as client:
        sync = _sync(services, client)
        last_full = float(services.redis.get(FULL_RECONCILE_KEY) or 0)
        full_every = services.settings.full_reconcile_interval
        if services.settings.discourse_webhook_secret and time.time() - last_full < full_every:
            report = sync.quick_check(cause="reconcile")
        else:
            report = sync.group_pass(cause="reconcile")
            services.redis.set(FULL_RECONCILE_KEY, f"{time.time():.0f}")
    services.redis.set(RECONCILE_KEY, json.dumps({"at": time.time(), **report}, ensure_ascii=False))
    return report


@job
def repair_account(user_id: int, cause: str = "webhook") -> dict:
    """A webhook reported a change in a managed group: read the account back, repair."""
    services = runtime.services()
    with held(services.redis, f"account:{user_id}"), resumable():
        enqueue.account_repair_started(services, user_id)  # later hints need a read of their own
        return _sync(services).repair_account(user_id, cause=cause)


@job
def sweep() -> dict:
    """The safety net: no accepted change may wait for ever.

    A member job whose worker was killed is put back on the queue; members whose
    change has no job at all (the web process died between storing and queueing)
    get one. A change that failed for a permanent reason keeps its error for an
    administrator and is not retried blindly: at most one sweep job a ten minutes.
    """
    services = runtime.services()
    in_progress, requeued = False, []
    for job_id in services.redis.smembers(enqueue.INFLIGHT):
        state = jobs.job_state(services.redis_raw, job_id)
        if state is not None and jobs.job_is_orphaned(services.redis_raw, job_id):
            jobs.requeue(services.redis_raw, job_id)
            requeued.append(job_id)
        elif state is None or state["status"] in ("finished", "failed"):
            services.redis.srem(enqueue.INFLIGHT, job_id)
            continue
        in_progress = True
    if in_progress:
        return {"in_progress": True, "requeued": requeued}
    stuck = [m.external_id for m in services.members.many(services.members.dirty_ids())
             if not m.last_error]
    if not stuck or not services.redis.set("bridge:sweep:members", "1", nx=True, ex=600):
        return {"stuck": len(stuck)}
    return {"enqueued": enqueue.changes(services, stuck, "sweep")}
