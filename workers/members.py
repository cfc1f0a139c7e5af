"""Role sync jobs: one member at a time, or every managed group at once.

`sync_member` costs at most one write (`sync_sso` carries groups and staff
flags together), plus one look-up the first time the member's account is
unknown. When many members change at once, a group pass (`sync_groups`) is
cheaper: it reads each managed group (1000 a page) and writes in batches of
1000; `sync_member` hands over to it when the backlog makes that so.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import threading
import time
from contextlib import contextmanager

from bridge.discourse import ClientError, NotFound
from bridge.members import DIRTY, Member, applied_state, connect_payload
from bridge.rolesync import plan_sync
from bridge.services import Services
from workers import queue as jobs
from workers.runtime import Patient, job, services

log = logging.getLogger(__name__)

GROUP_IDS = "bridge:group-ids"
INFLIGHT = "bridge:members:jobs"  # member and group jobs not yet known to be done
GROUP_SIZES = "bridge:group-sizes"
GROUP_SYNC_GENERATION = "bridge:group-pass:generation"
LOCK_TTL = 20
GROUP_PASS_TIMEOUT = 4 * 3600


@contextmanager
def _lock(svc: Services, name: str, *, wait: int = 600):
    """A Redis lock that lives only while its holder does.

    It expires 20 s after its last renewal and a thread renews it every 5 s,
    so a worker killed mid-job frees it within 20 s.
    """
    # thread_local=False: the renewing thread must see the lock's token.
    lock = svc.redis.lock(f"bridge:lock:{name}", timeout=LOCK_TTL, blocking_timeout=wait,
                          thread_local=False)
    if not lock.acquire():
        raise TimeoutError(f"lock {name} is still held after {wait} s")
    done = threading.Event()

    def renew():
        while not done.wait(LOCK_TTL / 4):
            try:
                lock.reacquire()
            except Exception:  # noqa: BLE001 - lost or Redis away: the holder finds out
                log.warning("could not renew lock %s", name)

    renewer = threading.Thread(target=renew, daemon=True)
    renewer.start()
    try:
        yield
    finally:
        done.set()
        try:
            lock.release()
        except Exception:  # noqa: BLE001 - an expired lock is released already
            log.warning("lock %s expired before release", name)


# -- entry points used by the web process -------------------------------------


def _tracked(svc: Services, job_id: str) -> str:
    svc.redis.sadd(INFLIGHT, job_id)
    return job_id


def enqueue_member(svc: Services, external_id: str, version: int) -> str:
    return _tracked(svc, jobs.enqueue(
        svc.redis_raw,
        "workers.members.sync_member",
        external_id,
        job_id=jobs.job_id_for("member", external_id, f"v{version}"),
        description=f"sync member {external_id} v{version}",
    ))


def enqueue_group_pass(svc: Services, cause: str) -> str:
    """Queue a group pass, unless one is queued already: one pass converges everybody.

    The job id carries the pass generation, which each pass advances when it
    starts, so changes arriving after that start get a pass of their own.
    """
    generation = int(svc.redis.get(GROUP_SYNC_GENERATION) or 0)
    return _tracked(svc, jobs.enqueue(
        svc.redis_raw,
        "workers.members.sync_groups",
        cause,
        job_id=jobs.job_id_for("groups", str(generation)),
        timeout=GROUP_PASS_TIMEOUT,
        description=f"group pass ({cause})",
    ))


def enqueue_changes(svc: Services, external_ids: list[str], cause: str) -> str:
    """Converge changed members the cheaper way: one by one, or by a group pass.

    One by one costs at most a call per member (no call for members without a
    forum account); a group pass costs the reads of every managed group plus
    batched writes. Whichever the backlog makes cheaper is queued, as one job.
    """
    if per_member_cost(svc, external_ids) > group_pass_cost(svc):
        return enqueue_group_pass(svc, cause)
    # The same members at the same versions are the same work: one job id.
    versions = sorted(f"{m.external_id}:{m.version}" for m in svc.members.many(external_ids))
    digest = hashlib.sha256("\n".join(versions).encode()).hexdigest()[:20]
    return _tracked(svc, jobs.enqueue(
        svc.redis_raw,
        "workers.members.sync_members",
        sorted(external_ids),
        cause,
        job_id=jobs.job_id_for("members", cause, digest),
        description=f"sync {len(external_ids)} members ({cause})",
    ))


def after_login(svc: Services, external_id: str) -> None:
    """A member logged in: their account exists; learn its id once, in the background."""
    member = svc.members.get(external_id)
    if member is not None and member.user_id is None:
        jobs.enqueue(
            svc.redis_raw,
            "workers.members.resolve_account",
            external_id,
            job_id=jobs.job_id_for("resolve", external_id),
        )


# -- jobs ---------------------------------------------------------------------


@job
def resolve_account(external_id: str) -> dict:
    svc = services()
    user = svc.discourse.user_by_external_id(external_id)
    if user is None:
        return {"account": "missing"}
    svc.members.record_forum_user(
        external_id, account="exists", user_id=user["id"], username=user["username"]
    )
    return {"account": "exists", "user_id": user["id"]}


@job
def sync_member(external_id: str) -> dict:
    svc = dataclasses.replace(services(), discourse=Patient(services().discourse))
    if _backlog_favours_group_pass(svc):
        return {"handed_over": enqueue_group_pass(svc, "batch")}
    with _lock(svc, f"member:{external_id}"):
        member = svc.members.get(external_id)
        if member is None:
            return {"result": "unknown member"}
        try:
            result = converge_member(svc, member, cause="api")
        except ClientError as error:
            svc.members.record_error(external_id, str(error))
            raise
        svc.members.record_error(external_id, None)
        svc.members.mark_clean(external_id, member.version)
        return result


@job
def sync_members(external_ids: list[str], cause: str = "roster") -> dict:
    """Converge several members one by one; one member's refusal does not stop the rest."""
    svc = dataclasses.replace(services(), discourse=Patient(services().discourse))
    results, refused = {}, []
    for external_id in external_ids:
        with _lock(svc, f"member:{external_id}"):
            member = svc.members.get(external_id)
            if member is None:
                continue
            try:
                results[external_id] = converge_member(svc, member, cause=cause).get("result")
            except ClientError as error:
                svc.members.record_error(external_id, str(error))
                refused.append(external_id)
                continue
            svc.members.record_error(external_id, None)
            svc.members.mark_clean(external_id, member.version)
    if refused:
        raise ClientError(
            f"Discourse refused {len(refused)} of {len(external_ids)} members "
            f"(see each member's last_error): {', '.join(refused[:20])}"
        )
    return results


def converge_member(svc: Services, member: Member, *, cause: str) -> dict:
    roles = svc.config.roles
    wanted = applied_state(member.grants(roles))
    subject = f"member:{member.external_id}"

    if member.account == "unknown":  # "none" changes only by a login, which records it
        user = svc.discourse.user_by_external_id(member.external_id)
        if user is not None:
            svc.members.record_forum_user(
                member.external_id, account="exists", user_id=user["id"],
                username=user["username"],
            )
            member.account, member.user_id, member.username = "exists", user["id"], user["username"]
        else:
            svc.members.record_forum_user(member.external_id, account="none")
            member.account = "none"

    if member.account != "exists":
        if member.active and svc.settings.precreate_users and member.account == "none":
            return _sync_sso(svc, member, cause=cause, action="account.create")
        return {"result": "no forum account yet: groups are applied at first login"}

    desired_erase = member.desired.get("erase") and member.removed
    if member.applied == wanted and not desired_erase and member.active:
        return {"result": "unchanged"}
    result = {}
    if member.applied != wanted:
        result = _sync_sso(svc, member, cause=cause, action="member.sync")
    if not member.active and member.user_id is not None:
        svc.discourse.log_out(member.user_id)
        svc.audit.record(subject=subject, action="logout", target=str(member.user_id), cause=cause)
        result["logged_out"] = True
        if desired_erase:
            new_name = svc.discourse.anonymize(member.user_id)
            svc.audit.record(
                subject=subject, action="anonymize", target=str(member.user_id), cause=cause
            )
            svc.members.forget_forum_account(member.external_id)
            result["anonymized"] = bool(new_name)
    return result


def _sync_sso(svc: Services, member: Member, *, cause: str, action: str) -> dict:
    """One call that sets the member's managed groups and staff flags together."""
    roles = svc.config.roles
    username = svc.members.assign_username(member)
    payload = connect_payload(
        member, roles, username=username,
        suppress_welcome_message=svc.settings.suppress_welcome_message,
    )
    user = svc.discourse.sync_sso(payload)
    grants = member.grants(roles)
    svc.members.record_forum_user(
        member.external_id, account="exists", user_id=user.get("id"),
        username=user.get("username"),
    )
    svc.members.record_applied(member.external_id, grants)
    svc.audit.record(
        subject=f"member:{member.external_id}",
        action=action,
        target=",".join(sorted(grants.groups)) or "-",
        cause=cause,
        detail=f"admin={grants.admin} moderator={grants.moderator}",
    )
    return {"result": "synced", "user_id": user.get("id")}


# -- the group pass -----------------------------------------------------------


def group_pass_cost(svc: Services) -> int:
    """Calls a group pass needs just to read the managed groups, the staff list and
    (when accounts are unknown) the user list; its writes come on top."""
    sizes = svc.redis.hgetall(GROUP_SIZES)
    managed = svc.config.roles.managed
    return 2 + sum(int(sizes.get(g, 0)) // 1000 + 1 for g in managed)


def per_member_cost(svc: Services, external_ids: list[str]) -> int:
    """Calls to converge these members one by one: a `sync_sso` for each account,
    plus a look-up first where the bridge does not know whether there is one."""
    cost = {"exists": 1, "unknown": 2}
    return sum(cost.get(m.account, 0) for m in svc.members.many(external_ids))


def _backlog_favours_group_pass(svc: Services) -> bool:
    """Whether a group pass converges the dirty members for fewer calls than their jobs.

    Cheap checks first, as every member job asks: a pass already queued will read
    the newest state anyway, and a backlog costing at most two calls a member
    that is smaller than a pass needs no per-member reads to decide.
    """
    pending = jobs.job_id_for("groups", svc.redis.get(GROUP_SYNC_GENERATION) or "0")
    state = jobs.job_state(svc.redis_raw, pending)
    if state is not None and state["status"] == "queued":
        return True
    pass_cost = group_pass_cost(svc)
    if 2 * svc.redis.scard(DIRTY) <= pass_cost:
        return False
    return per_member_cost(svc, svc.members.dirty_ids()) > pass_cost


def group_id(svc: Services, name: str) -> int:
    cached = svc.redis.hget(GROUP_IDS, name)
    if cached:
        return int(cached)
    group = svc.discourse.group(name)
    if group is None:
        raise NotFound(
            f"managed group {name!r} is missing on the forum: "
            "run `flask --app wsgi discourse setup`"
        )
    svc.redis.hset(GROUP_IDS, name, group["id"])
    return int(group["id"])


@job
def sync_groups(cause: str = "roster") -> dict:
    svc = services()
    with _lock(svc, "groups", wait=GROUP_PASS_TIMEOUT):
        svc.redis.incr(GROUP_SYNC_GENERATION)  # later changes need a pass after this one
        return group_pass(svc, cause=cause)


def group_pass(svc: Services, *, cause: str, dry_run: bool = False) -> dict:
    """Read every managed group, compare with the desired state, repair the drift."""
    svc = dataclasses.replace(svc, discourse=Patient(svc.discourse))
    roles = svc.config.roles
    members = list(svc.members.all())
    discover_accounts(svc, members)  # bridge state only: fine in a dry run too
    current = {}
    for name in sorted(roles.managed):
        current[name] = svc.discourse.group_members(name)
        svc.redis.hset(GROUP_SIZES, name, len(current[name]))
    staff = {u["id"]: (bool(u.get("admin")), bool(u.get("moderator")))
             for u in svc.discourse.staff_users()}
    plan = plan_sync(
        members, roles, current, usernames=svc.members.usernames_index(), staff=staff
    )
    report = {"cause": cause, "dry_run": dry_run, **plan.report()}
    if dry_run:
        return report

    for external_id, (user_id, username) in plan.seen.items():
        svc.members.record_forum_user(
            external_id, account="exists", user_id=user_id, username=username
        )
    by_id = {m.external_id: m for m in members}
    index = svc.members.usernames_index()
    entries = []
    for name, group_plan in sorted(plan.groups.items()):
        if group_plan.empty:
            continue
        gid = group_id(svc, name)
        if group_plan.add_usernames:
            svc.discourse.add_members(gid, usernames=group_plan.add_usernames)
            entries += _entries(index, group_plan.add_usernames, "group.add", name, cause)
        if group_plan.remove_usernames:
            svc.discourse.remove_members(gid, usernames=group_plan.remove_usernames)
            entries += _entries(index, group_plan.remove_usernames, "group.remove", name, cause)
    if entries:
        svc.audit.record_many(entries)

    refused = set()
    dirty = set(svc.members.dirty_ids())
    staff_changes = set(plan.staff)
    for member in svc.members.many(by_id):  # re-read: accounts may have been learned
        try:
            if member.external_id in staff_changes:
                _sync_sso(svc, member, cause=cause, action="staff.sync")
            if member.account == "exists":
                grants = member.grants(roles)
                svc.members.record_applied(member.external_id, grants)
                if not member.active and member.external_id in dirty:
                    member.applied = applied_state(grants)
                    converge_member(svc, member, cause=cause)  # log out, erase if asked
        except ClientError as error:  # this member's problem: the pass goes on
            svc.members.record_error(member.external_id, str(error))
            refused.add(member.external_id)
            continue
        svc.members.mark_clean(member.external_id, by_id[member.external_id].version)
    report["write_calls"] = plan.write_calls()
    if refused:
        report["refused"] = sorted(refused)
    return report


def _entries(index: dict[str, str], usernames, action: str, group: str, cause: str) -> list:
    return [
        {
            "subject": f"member:{index.get(u.lower(), '?')}",
            "action": action,
            "target": group,
            "cause": cause,
            "result": "ok",
            "detail": "",
        }
        for u in usernames
    ]


def discover_accounts(svc: Services, members: list[Member]) -> None:
    """Find which members already have forum accounts, when the bridge does not know.

    One read per hundred forum accounts (the admin user list with e-mails)
    instead of one look-up per member; members are matched by e-mail, which
    DiscourseConnect keeps equal to the institute's. Whoever is not found has
    no account yet and gets their groups at first login.
    """
    unknown = [m for m in members if m.account == "unknown" and m.email]
    if not unknown:
        return
    by_email = {u["email"].lower(): u for u in svc.discourse.active_users_with_emails()
                if u.get("email")}
    missing = []
    for member in unknown:
        user = by_email.get(member.email.lower())
        if user is None:
            missing.append(member.external_id)
            member.account = "none"
            continue
        svc.members.record_forum_user(
            member.external_id, account="exists", user_id=user["id"], username=user["username"]
        )
        member.account, member.user_id, member.username = "exists", user["id"], user["username"]
    svc.members.record_accounts_missing(missing)


def setup_groups(svc: Services) -> list[str]:
    """Create the managed groups that the forum lacks (idempotent); returns their names.

    Creating first costs one call per group on a new forum (two on a set-up one,
    where Discourse answers 422 "name taken" and the group is read instead).
    """
    created = []
    for name, spec in sorted(svc.config.roles.groups.items()):
        fields = {
            "name": name,
            "full_name": spec.full_name,
            "visibility_level": spec.visibility_level,
            "mentionable_level": 3,
            "messageable_level": 3,
        }
        if spec.title:
            fields["title"] = spec.title
        if spec.bio:
            fields["bio_raw"] = spec.bio
        try:
            group = svc.discourse.create_group(**fields)
        except ClientError as error:
            group = svc.discourse.group(name) if error.status == 422 else None
            if group is None:
                raise
        else:
            svc.audit.record(subject=f"group:{name}", action="group.create",
                             target=name, cause="admin")
            created.append(name)
        svc.redis.hset(GROUP_IDS, name, group["id"])
    return created


@job
def reconcile() -> dict:
    """The scheduled repair: a group pass that reports what it fixed."""
    svc = services()
    with _lock(svc, "groups", wait=GROUP_PASS_TIMEOUT):
        report = group_pass(svc, cause="reconcile")
    svc.redis.set("bridge:reconcile:last", json.dumps({"at": time.time(), **report},
                                                      ensure_ascii=False))
    return report


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
    for job_id in svc.redis.smembers(INFLIGHT):
        state = jobs.job_state(svc.redis_raw, job_id)
        if state is not None and jobs.job_is_orphaned(svc.redis_raw, job_id):
            jobs.requeue(svc.redis_raw, job_id)
            requeued.append(job_id)
        elif state is None or state["status"] in ("finished", "failed"):
            svc.redis.srem(INFLIGHT, job_id)
            continue
        in_progress = True
    if in_progress:
        return {"in_progress": True, "requeued": requeued}
    stuck = [m.external_id for m in svc.members.many(svc.members.dirty_ids()) if not m.last_error]
    if not stuck or not svc.redis.set("bridge:sweep:members", "1", nx=True, ex=600):
        return {"stuck": len(stuck)}
    return {"enqueued": enqueue_changes(svc, stuck, "sweep")}
