"""Role sync jobs: one member at a time, or every managed group at once.

`sync_member` costs at most one write (`sync_sso` carries groups and staff
flags together), plus one look-up the first time the member's account is
unknown. When many members change at once, a group pass (`sync_groups`) is
cheaper: it reads each managed group (1000 a page) and writes in batches of
1000; `sync_member` hands over to it when the backlog makes that so.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager

from bridge.discourse import ClientError, NotFound
from bridge.members import Member, connect_payload
from bridge.rolesync import plan_sync
from bridge.services import Services
from workers import queue as jobs
from workers.runtime import job, services

log = logging.getLogger(__name__)

GROUP_IDS = "bridge:group-ids"
GROUP_SIZES = "bridge:group-sizes"
LOCK_TIMEOUT = 3600
GROUP_PASS_TIMEOUT = 4 * 3600


@contextmanager
def _lock(svc: Services, name: str, *, timeout: int = 600):
    lock = svc.redis.lock(f"bridge:lock:{name}", timeout=timeout, blocking_timeout=timeout)
    if not lock.acquire():
        raise TimeoutError(f"lock {name} is held too long")
    try:
        yield
    finally:
        try:
            lock.release()
        except Exception:  # noqa: BLE001 - an expired lock is released already
            log.warning("lock %s expired before release", name)


# -- entry points used by the web process -------------------------------------


def enqueue_member(svc: Services, external_id: str, version: int) -> str:
    return jobs.enqueue(
        svc.redis_raw,
        "workers.members.sync_member",
        external_id,
        job_id=jobs.job_id_for("member", external_id, f"v{version}"),
        description=f"sync member {external_id} v{version}",
    )


def enqueue_group_pass(svc: Services, cause: str) -> str:
    """One group pass at a time is enough: it converges every member."""
    slot = int(time.time() * 1000)
    return jobs.enqueue(
        svc.redis_raw,
        "workers.members.sync_groups",
        cause,
        job_id=jobs.job_id_for("groups", cause, slot),
        timeout=GROUP_PASS_TIMEOUT,
        description=f"group pass ({cause})",
    )


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
    svc = services()
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


def converge_member(svc: Services, member: Member, *, cause: str) -> dict:
    roles = svc.config.roles
    wanted = _applied(member.grants(roles))
    subject = f"member:{member.external_id}"

    if member.account in ("unknown", "none"):
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


def _applied(grants) -> dict:
    return {"groups": sorted(grants.groups), "admin": grants.admin, "moderator": grants.moderator}


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
    """Calls a group pass needs just to read the managed groups and the staff list."""
    sizes = svc.redis.hgetall(GROUP_SIZES)
    managed = svc.config.roles.managed
    return 1 + sum(int(sizes.get(g, 0)) // 1000 + 1 for g in managed)


def _backlog_favours_group_pass(svc: Services) -> bool:
    return len(svc.members.dirty_ids()) > group_pass_cost(svc)


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
    with _lock(svc, "groups", timeout=GROUP_PASS_TIMEOUT):
        return group_pass(svc, cause=cause)


def group_pass(svc: Services, *, cause: str, dry_run: bool = False) -> dict:
    """Read every managed group, compare with the desired state, repair the drift."""
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
    entries = []
    for name, group_plan in sorted(plan.groups.items()):
        if group_plan.empty:
            continue
        gid = group_id(svc, name)
        if group_plan.add_usernames:
            svc.discourse.add_members(gid, usernames=group_plan.add_usernames)
            entries += _entries(group_plan.add_usernames, "group.add", name, cause, svc)
        if group_plan.remove_usernames:
            svc.discourse.remove_members(gid, usernames=group_plan.remove_usernames)
            entries += _entries(group_plan.remove_usernames, "group.remove", name, cause, svc)
    for external_id in plan.staff:
        member = svc.members.get(external_id)
        if member is not None:
            _sync_sso(svc, member, cause=cause, action="staff.sync")
    if entries:
        svc.audit.record_many(entries)

    dirty = set(svc.members.dirty_ids())
    for member in svc.members.many(by_id):  # re-read: accounts may have been learned
        if member.account == "exists":
            grants = member.grants(roles)
            svc.members.record_applied(member.external_id, grants)
            if not member.active and member.external_id in dirty:
                member.applied = _applied(grants)
                converge_member(svc, member, cause=cause)  # log out, erase if asked
        svc.members.mark_clean(member.external_id, by_id[member.external_id].version)
    report["write_calls"] = plan.write_calls()
    return report


def _entries(usernames, action, group, cause, svc: Services) -> list[dict]:
    index = svc.members.usernames_index()
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
    with _lock(svc, "groups", timeout=GROUP_PASS_TIMEOUT):
        report = group_pass(svc, cause="reconcile")
    svc.redis.set("bridge:reconcile:last", json.dumps({"at": time.time(), **report},
                                                      ensure_ascii=False))
    return report


@job
def sweep() -> dict:
    """Re-enqueue work for members whose change has no live job (e.g. a killed worker)."""
    svc = services()
    enqueued = []
    for member in svc.members.many(svc.members.dirty_ids()):
        job_id = jobs.job_id_for("member", member.external_id, f"v{member.version}")
        state = jobs.job_state(svc.redis_raw, job_id)
        if state is None or jobs.job_is_orphaned(svc.redis_raw, job_id):
            jobs.requeue_or_enqueue(
                svc.redis_raw, "workers.members.sync_member", member.external_id, job_id=job_id
            )
            enqueued.append(job_id)
    return {"enqueued": enqueued}
