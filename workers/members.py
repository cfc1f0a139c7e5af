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
from workers import enqueue
from workers import queue as jobs
from workers.locks import held
from workers.resumable import ResumablePass
from workers.runtime import Patient, job, resumable, services

GROUP_PASS_LOCK_WAIT = 5.0
GROUP_PASS_BUSY_RETRY = 30  # a pass may run for many minutes: look again twice a minute
RECONCILE_KEY = "bridge:reconcile:last"
FULL_RECONCILE_KEY = "bridge:reconcile:full-at"


def _sync(svc: Services, discourse=None) -> MemberSync:
    """Long jobs retry a transient failure in place rather than start over."""
    return svc.member_sync(discourse=discourse or Patient(svc.discourse))


@contextmanager
def _pass_client(svc: Services, *, fresh: bool = False) -> Iterator:
    """The group pass's client: one that can stop for another source and resume, when
    sources share the budget (a single source never gives way)."""
    client = Patient(svc.discourse)
    current = get_current_job()
    if not svc.budget.reserve or current is None:
        yield client
        return
    with ResumablePass.open(client, svc.redis, current.id, fresh=fresh) as reads:
        yield reads


def _converge_one(svc: Services, sync: MemberSync, external_id: str, cause: str) -> dict:
    """Converge one member under its lock; its error is kept on the member for admins.

    Resumable: each step keeps what it did (an account learnt, grants applied),
    so a new run of an interrupted convergence repeats a call at most.
    """
    with held(svc.redis, f"member:{external_id}"), resumable():
        member = svc.members.get(external_id)
        if member is None:
            return {"result": "unknown member"}
        try:
            result = sync.converge(member, cause=cause)
        except InvalidCredentials:
            raise  # the bridge's configuration, not this member's problem
        except ClientError as error:
            svc.members.record_error(external_id, str(error))
            raise
        svc.members.record_error(external_id, None)
        svc.members.mark_clean(external_id, member.version)
        return result


@job
def sync_member(external_id: str) -> dict:
    svc = services()
    source = enqueue.source_of(svc, [external_id])
    if backlog_favours_group_pass(svc, source):
        return {"handed_over": enqueue.group_pass(svc, "batch", source=source)}
    return _converge_one(svc, _sync(svc), external_id, "api")


@job
def sync_members(external_ids: list[str], cause: str = "roster") -> dict:
    """Converge several members one by one; one member's refusal does not stop the rest."""
    svc = services()
    sync = _sync(svc)
    results, refused = {}, []
    for external_id in external_ids:
        try:
            results[external_id] = _converge_one(svc, sync, external_id, cause).get("result")
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
    svc = services()
    with held(svc.redis, f"member:{external_id}"), resumable():
        return svc.member_sync().learn_login(external_id, sent)


def backlog_favours_group_pass(svc: Services, source: str | None = None) -> bool:
    """Whether one group pass converges the dirty members for fewer calls than their jobs.

    Decided from counters, as every member job asks: a pass already queued reads
    the newest state anyway, and a member costs about one call, so a backlog
    larger than a pass's reads is cheaper as a pass. In a federation only the
    member's own source's backlog counts: another source's large roster must
    not turn a single change into a wait for a whole pass.
    """
    if enqueue.group_pass_queued(svc, source):
        return True
    return _dirty_count(svc, source) > svc.member_sync().group_pass_cost()


def _dirty_count(svc: Services, source: str | None) -> int:
    federation = svc.config.sources
    if not federation.federated or source is None:
        return svc.redis.scard(svc.members.dirty_key)
    return sum(1 for external_id in svc.redis.sscan_iter(svc.members.dirty_key, count=1000)
               if enqueue.source_of(svc, [external_id]) == source)


@job
def sync_groups(cause: str = "roster", force: bool = False) -> dict:
    """The group pass: every managed group read, the drift repaired."""
    svc = services()
    with held(svc.redis, "groups", wait=GROUP_PASS_LOCK_WAIT, retry_in=GROUP_PASS_BUSY_RETRY), \
            _pass_client(svc) as client:
        svc.redis.incr(enqueue.GROUP_SYNC_GENERATION)  # later changes need a pass after this
        return _sync(svc, client).group_pass(cause=cause, force=force)


@job
def reconcile() -> dict:
    """The scheduled repair: a group pass that reports what it fixed.

    With webhooks reporting drift as it happens, it is a quick check of group
    sizes (a pass over the groups that differ), and a full pass every
    BRIDGE_FULL_RECONCILE_INTERVAL (a day by default).
    """
    svc = services()
    with held(svc.redis, "groups", wait=GROUP_PASS_LOCK_WAIT, retry_in=GROUP_PASS_BUSY_RETRY), \
            _pass_client(svc, fresh=True) as client:
        sync = _sync(svc, client)
        last_full = float(svc.redis.get(FULL_RECONCILE_KEY) or 0)
        full_every = svc.settings.full_reconcile_interval
        if svc.settings.discourse_webhook_secret and time.time() - last_full < full_every:
            report = sync.quick_check(cause="reconcile")
        else:
            report = sync.group_pass(cause="reconcile")
            svc.redis.set(FULL_RECONCILE_KEY, f"{time.time():.0f}")
    svc.redis.set(RECONCILE_KEY, json.dumps({"at": time.time(), **report}, ensure_ascii=False))
    return report


@job
def repair_account(user_id: int, cause: str = "webhook") -> dict:
    """A webhook reported a change in a managed group: read the account back, repair."""
    svc = services()
    with held(svc.redis, f"account:{user_id}"), resumable():
        enqueue.account_repair_started(svc, user_id)  # later hints need a read of their own
        return _sync(svc).repair_account(user_id, cause=cause)


@job
def sweep() -> dict:
    """The safety net: no accepted change may wait for ever.

    A member job whose worker was killed is put back on the queue; members whose
    change has no job at all (the web process died between storing and queueing)
    get one. A change that failed for a permanent reason keeps its error for an
    administrator and is not retried blindly: at most one sweep job a ten minutes.
    """
    svc = services()
    in_progress, requeued = False, []
    for job_id in svc.redis.smembers(enqueue.INFLIGHT):
        state = jobs.job_state(svc.redis_raw, job_id)
        if state is not None and jobs.job_is_orphaned(svc.redis_raw, job_id):
            jobs.requeue(svc.redis_raw, job_id)
            requeued.append(job_id)
        elif state is None or state["status"] in ("finished", "failed"):
            svc.redis.srem(enqueue.INFLIGHT, job_id)
            continue
        in_progress = True
    if in_progress:
        return {"in_progress": True, "requeued": requeued}
    stuck = [m.external_id for m in svc.members.many(svc.members.dirty_ids()) if not m.last_error]
    if not stuck or not svc.redis.set("bridge:sweep:members", "1", nx=True, ex=600):
        return {"stuck": len(stuck)}
    return {"enqueued": enqueue.changes(svc, stuck, "sweep")}
