"""Role sync: members' desired grants reach the forum, on the account that is theirs.

`MemberSync` holds every decision of the member path, the way `EventPublisher`
holds the event path: jobs and web handlers only call it. Its collaborators
(store, client, audit, mapping, Redis for small caches) are injected.

Identity is the one rule everything here keeps: a member's account is the one
Discourse keys on them (`bridge.members`); an account is never found by name.

Two ways to converge, whichever costs fewer admin API calls:
- one member: a single `sync_sso` carries groups and staff flags together;
- a group pass: read every managed group (1000 a page), add and remove by user
  id in batches of 1000, one `sync_sso` per staff-flag change.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from bridge.audit import AuditLog
from bridge.discourse import (
    ClientError,
    DiscourseClient,
    DiscourseError,
    InvalidCredentials,
    NotFound,
    ServerError,
)
from bridge.members import Member, MemberStore, applied_state, connect_payload, union
from bridge.rolesync import SyncPlan, plan_sync
from config.mapping import Grants, GroupSpec, RolesConfig
from config.sources import Federation

log = logging.getLogger(__name__)

GROUP_IDS = "bridge:group-ids"  # managed group name -> forum group id
GROUP_SIZES = "bridge:group-sizes"  # managed group name -> members last seen
ACCOUNT_OWNER = "bridge:account-owner:"  # forum user id -> its external id ("" for none)
ACCOUNT_OWNER_TTL = 24 * 3600
GROUP_INDEX_PAGE = 36  # groups a page of `GET /groups.json` (GroupsController#index)
EXPECTED = "bridge:expected-change:"  # forum user id -> the bridge just changed its groups
EXPECTED_TTL = 600


class AccountNotYetThere(ServerError):
    """A login reply was issued but Discourse has no account for it yet: ask again later."""


class AccountGone(ClientError):
    """The account bound to a member no longer exists on the forum: reported, never guessed."""


class ManagedGroupMissing(DiscourseError):
    """A group `roles.yml` manages is not on the forum: the setup, not a member, is at fault."""


class ListedElsewhere(ClientError):
    """An erasure asked by one source while other sources still list the person."""


@dataclass(frozen=True)
class LoginReply:
    fields: dict[str, Any]  # the DiscourseConnect reply, to be signed
    sequence: int  # this member's login count: each login learns its account once
    sent: dict[str, Any]  # the grants the reply carries, as `Member.applied` keeps them
    anchor: str  # the external id the reply carries: the account's, learned afterwards


@dataclass
class Account:
    """One person's forum account and the listings (one per source) that grant on it.

    Without links an account has one listing, its member. With links, the
    anchor is the listing whose external id the forum keys the account on; its
    binding (`user_id`, `applied`) stands for the whole account.
    """

    anchor: Member
    listings: list[Member]  # the anchor first

    @property
    def active(self) -> bool:
        return any(listing.active for listing in self.listings)

    def grants(self, roles: RolesConfig) -> Grants:
        return union(listing.grants(roles) for listing in self.listings)

    def person(self, preferred: Member | None = None) -> Member:
        """The listing whose e-mail and name go to the forum."""
        if preferred is not None and preferred.active:
            return preferred
        return next((m for m in self.listings if m.active), preferred or self.anchor)


@dataclass(frozen=True)
class SyncOptions:
    precreate_users: bool = False
    suppress_welcome_message: bool = True
    max_share: float = 0.10  # the safety valve's share of active members


class MemberSync:
    def __init__(
        self,
        *,
        store: MemberStore,
        discourse: DiscourseClient,
        audit: AuditLog,
        roles: RolesConfig,
        redis_client: redis.Redis,
        options: SyncOptions,
        federation: Federation | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.federation = federation
        self.store = store
        self.discourse = discourse
        self.audit = audit
        self.roles = roles
        self.r = redis_client
        self.options = options
        self.clock = clock

    # -- logins (the DiscourseConnect reply and `sync_sso` share one payload) --------------

    def account(self, member: Member) -> Account:
        """The member's account: the anchor and every listing linked to it."""
        anchor = member
        if member.linked_to:
            anchor = self.store.get(member.linked_to) or member
        listings = [anchor, *self.store.linked(anchor.external_id)] if self.federation \
            and self.federation.federated else [anchor]
        return Account(anchor, listings)

    def payload(self, member: Member, *, account: Account | None = None,
                **reply: str | None) -> dict[str, Any]:
        """The DiscourseConnect fields for a member's account; `reply` adds nonce and return URL.

        The fields are the person's (the member's own when active); the external
        id, the groups and the flags are the account's.
        """
        account = account or self.account(member)
        person = account.person(member)
        return connect_payload(
            person, self.roles,
            username=self.store.assign_username(person),
            suppress_welcome_message=self.options.suppress_welcome_message,
            grants=account.grants(self.roles), external_id=account.anchor.external_id,
            **reply,
        )

    def login_reply(self, member: Member, *, nonce: str, return_sso_url: str) -> LoginReply:
        """The signed-in member's reply fields; the login is recorded.

        The account is not known yet: Discourse creates or finds it when the
        browser arrives, keyed by external id; `learn_login` finds it afterwards.
        """
        account = self.account(member)
        fields = self.payload(member, account=account, nonce=nonce,
                              return_sso_url=return_sso_url)
        anchor = account.anchor.external_id
        sequence = self.store.record_login(anchor, at=self.clock())
        self.audit.record(subject=self._subject(member), action="login", target="sso",
                          cause="login")
        return LoginReply(fields, sequence, applied_state(account.grants(self.roles)), anchor)

    def listed_elsewhere(self, member: Member) -> list[str]:
        """The other sources that still list this member's person (their account is shared)."""
        if self.federation is None or not self.federation.federated:
            return []
        own = self.federation.source_of(member.external_id).code
        others = {self.federation.source_of(m.external_id).code
                  for m in self.account(member).listings
                  if m.active and m.external_id != member.external_id}
        return sorted(others - {own})

    def learn_login(self, external_id: str, sent: Mapping[str, Any]) -> dict:
        """After a login reply: bind the account Discourse now has for this external id.

        `sent` is the grants the reply carried. Raises `AccountNotYetThere`
        (transient) while the login may still complete.
        """
        member = self.store.get(external_id)
        if member is None:
            return {"result": "unknown member"}
        # Bound already (before this login, or by a webhook since): the reply,
        # keyed by the same external id, reached that account; no read needed.
        if not member.bound:
            user = self.discourse.user_by_external_id(external_id)
            if user is None:
                if member.login_in_flight(self.clock()):
                    raise AccountNotYetThere(f"no forum account for {external_id} yet")
                self.store.record_no_account([external_id])
                return {"result": "no forum account: the login was not completed",
                        "account": "none"}
            self._bind(member, user, cause="login")
        # The reply set the managed groups and staff flags to what it carried.
        grants = _grants_from(sent)
        self.store.record_applied(external_id, grants)
        member.applied = applied_state(grants)
        result: dict[str, Any] = {"result": "account bound", "user_id": member.user_id}
        if member.applied != applied_state(self.account(member).grants(self.roles)):
            result.update(self.converge(member, cause="login"))  # changed since the reply
        return result

    # -- one member --------------------------------------------------------------------

    def converge(self, member: Member, *, cause: str) -> dict:
        """Make one member's forum account match their desired state.

        A member whose person other sources still list leaves the account to
        them: only this source's grants go (and an erasure needs `unlink`).
        """
        account = self.account(member)
        if not member.active:
            others = [m for m in account.listings if m.active]
            if not others:
                return self.offboard(member, cause=cause, account=account)
            if member.desired.get("erase"):
                if not member.desired.get("unlink"):
                    raise ListedElsewhere(
                        f"member {member.external_id} is still listed by "
                        f"{', '.join(self.listed_elsewhere(member))}: not anonymized")
                return self.offboard(member, cause=cause, account=account)
            result = self._converge_account(account, cause=cause)
            self.audit.record(subject=self._subject(member), action="account.leave",
                              target=str(account.anchor.user_id or "-"), cause=cause,
                              detail="other sources still list the person")
            self.store.forget_personal_data(member)
            return {**result, "result": "left: other sources still list the person"}
        return self._converge_account(account, cause=cause, member=member)

    def _converge_account(self, account: Account, *, cause: str,
                          member: Member | None = None) -> dict:
        anchor = account.anchor
        if not anchor.bound and anchor.account in ("unknown", "pending"):
            self.look_up(anchor, cause=cause)  # "none" changes only by a login
        if anchor.bound:
            if anchor.applied == applied_state(account.grants(self.roles)):
                return {"result": "unchanged"}
            return self._sync_sso(anchor, cause=cause, action="member.sync", account=account)
        if anchor.account == "pending":
            return {"result": "login in progress: its reply carried the groups"}
        if (self.options.precreate_users and anchor.account == "none"
                and not self.email_conflicts(anchor)):
            return self._sync_sso(anchor, cause=cause, action="account.create", account=account)
        return {"result": "no forum account yet: groups are applied at first login",
                "account": (member or anchor).account}

    def email_conflicts(self, member: Member) -> list[Member]:
        """Other sources' members whose account may hold this member's e-mail.

        Discourse links a DiscourseConnect login (or `sync_sso`) to the account
        with the same e-mail: a listing with such an address must not reach the
        account until the person proves both listings are theirs (linking).
        An account counts once the bridge knows it (bound, or a login in flight
        that is creating it); while neither listing has one, the first login
        creates it and the other listing is the one held.
        """
        if self.federation is None or not self.federation.federated or not member.email:
            return []
        own = self.federation.source_of(member.external_id).code
        mine = {m.external_id for m in self.account(member).listings}
        self.store.ensure_email_index()  # members stored before a federation was configured
        return [other for other in self.store.listing(member.email)
                if other.external_id not in mine
                and self.federation.source_of(other.external_id).code != own
                and (other.linked_to or other.account in ("pending", "bound"))]

    def link(self, member: Member, anchor: Member, *, cause: str = "login") -> None:
        """The person proved `member` is theirs as well as the account `anchor` keys:
        one account from now on (`anchor` is that account's anchor, `Account.anchor`)."""
        self.store.link(member.external_id, anchor.external_id)
        self.audit.record(subject=self._subject(member), action="account.link",
                          target=anchor.external_id, cause=cause)
        member.account, member.linked_to = "linked", anchor.external_id
        member.user_id = None

    def offboard(self, member: Member, *, cause: str, account: Account | None = None) -> dict:
        """Take the grants away, log out, anonymize when asked: confirmed, or an error.

        Acts only on the account bound to this member, looked up by external id
        when the bridge does not know it yet. A member with no account ends with
        a result that says so; an account the forum no longer has is an error.
        """
        subject = self._subject(member)
        erase = bool(member.desired.get("erase")) and member.removed
        account = account or self.account(member)
        if member.account == "erased":
            return {"result": "already anonymized", "account": "erased"}
        leaver, member = member, account.anchor  # the account is acted on through its anchor
        if not member.bound and member.account != "erased":
            self.look_up(member, cause=cause, required=True)
        if not member.bound:
            self.audit.record(subject=subject, action="offboard", target="-", cause=cause,
                              result="no forum account")
            self.store.forget_personal_data(leaver)
            return {"result": "no forum account: nothing to log out or anonymize",
                    "account": member.account}
        user_id = member.user_id
        # Log out first: it proves the bound account is still there. A `sync_sso`
        # for an account the forum lost would create a new one instead.
        try:
            self.discourse.log_out(user_id)
        except NotFound:
            raise AccountGone(f"forum account {user_id} of {member.external_id} no longer "
                              "exists: nothing was logged out or anonymized") from None
        self.audit.record(subject=subject, action="logout", target=str(user_id), cause=cause)
        result: dict[str, Any] = {"user_id": user_id, "logged_out": True}
        if member.applied != applied_state(account.grants(self.roles)):
            self._sync_sso(member, cause=cause, action="member.offboard", account=account,
                           person=leaver)
        if erase:
            self.discourse.anonymize(user_id)
            self.audit.record(subject=subject, action="anonymize", target=str(user_id),
                              cause=cause)
            self.store.record_erased(member.external_id)
            # Discourse dropped the account's DiscourseConnect record with its data:
            # every listing's next login creates a new account.
            unlinked = self.store.unlink_all(member.external_id)
            if member is not leaver and member.active:
                self.store.record_no_account([member.external_id])
            if unlinked:
                self.audit.record(subject=subject, action="account.unlink",
                                  target=",".join(unlinked), cause=cause)
            member.account, member.user_id = "erased", None
            result["anonymized"] = True
        result["result"] = "anonymized" if erase else "offboarded"
        self.store.forget_personal_data(leaver)
        return result

    def look_up(self, member: Member, *, cause: str, required: bool = False) -> None:
        """Ask Discourse which account has this unbound member's external id (one read).

        A login still in flight makes "none" an unsafe answer when `required`
        (offboarding must not miss an account about to appear): then it raises
        `AccountNotYetThere` so the job tries again.
        """
        user = self.discourse.user_by_external_id(member.external_id)
        if user is not None:
            self._bind(member, user, cause=cause)
            return
        if member.login_in_flight(self.clock()):
            if required:
                raise AccountNotYetThere(
                    f"member {member.external_id} logged in moments ago and Discourse has "
                    "no account for them yet: trying again")
            return
        self.store.record_no_account([member.external_id])
        member.account = "none"

    def _sync_sso(self, member: Member, *, cause: str, action: str,
                  account: Account | None = None, person: Member | None = None) -> dict:
        """One call that sets the account's managed groups and staff flags together."""
        account = account or self.account(member)
        user = self.discourse.sync_sso(self.payload(person or member, account=account))
        grants = account.grants(self.roles)
        if isinstance(user, dict) and isinstance(user.get("id"), int):
            self._bind(member, user, cause=cause)  # the answer is keyed by external id
        self.store.record_applied(member.external_id, grants)
        member.applied = applied_state(grants)
        self.audit.record(
            subject=self._subject(member), action=action,
            target=",".join(sorted(grants.groups)) or "-", cause=cause,
            detail=f"admin={grants.admin} moderator={grants.moderator}",
        )
        return {"result": "synced", "user_id": member.user_id}

    def _bind(self, member: Member, user: Mapping[str, Any], *, cause: str) -> None:
        user_id, username = int(user["id"]), user.get("username")
        if member.bound and member.user_id == user_id and member.username == username:
            return
        if member.bound and member.user_id != user_id:
            log.warning("member %s: Discourse now keys account %s, not %s",
                        member.external_id, user_id, member.user_id)
        self.store.bind(member.external_id, user_id=user_id, username=username)
        if member.user_id != user_id:
            self.audit.record(subject=self._subject(member), action="account.bind",
                              target=str(user_id), cause=cause)
        member.account, member.user_id, member.username = "bound", user_id, username

    @staticmethod
    def _subject(member: Member) -> str:
        return f"member:{member.external_id}"

    # -- the group pass -----------------------------------------------------------------

    def group_pass(
        self, *, cause: str, dry_run: bool = False, force: bool = False,
        groups: Iterable[str] | None = None,
    ) -> dict:
        """Read every managed group, compare with the desired state, repair the drift.

        `force` lifts the safety valve on removing outsiders (accounts of no roster
        member) from exclusive groups. `groups` limits the pass to those groups
        (staff flags are then left to the full pass).
        """
        members = list(self.store.all())
        self.discover_accounts(members, dry_run=dry_run)
        current = self.read_groups(groups)
        outsiders = self._confirm_unbound(members, current, dry_run=dry_run)
        staff = None
        if groups is None:
            staff = {int(u["id"]): (bool(u.get("admin")), bool(u.get("moderator")))
                     for u in self.discourse.staff_users()}
        plan = plan_sync(members, self.roles, current, outsiders=outsiders, staff=staff)
        active = sum(1 for m in members if m.active)
        held = self._over_share(len(plan.outsider_accounts), active) and not force
        report = {"cause": cause, "dry_run": dry_run, **plan.report()}
        if held:
            report["outsiders_held"] = len(plan.outsider_accounts)
        if dry_run:
            report["write_calls"] = plan.write_calls()
            return report
        if held:
            self.audit.record(subject="groups", action="outsiders.held",
                              target=str(len(plan.outsider_accounts)), cause=cause,
                              result="refused", detail="more than the safety valve's share")
            for group_plan in plan.groups.values():
                group_plan.outsiders.clear()
        self._write_groups(plan, cause=cause)
        self._record_sizes(current, plan)
        # Only a pass over every group proves a member's whole state.
        refused = self._finish_members(members, plan, cause=cause) if groups is None else set()
        report["write_calls"] = plan.write_calls()
        if refused:
            report["refused"] = sorted(refused)
        return report

    def read_groups(self, names: Iterable[str] | None = None) -> dict[str, list[int]]:
        """The forum user ids in the managed groups (every one by default), 1000 a call.

        When many managed groups may be empty (a new forum, groups last seen
        empty), one look at the group index (36 groups a call, each with its
        `user_count`) spares reading the empty ones.
        """
        sizes = self.r.hgetall(GROUP_SIZES)
        managed = sorted(self.roles.managed if names is None else set(names))
        maybe_empty = [name for name in managed if int(sizes.get(name) or 0) == 0]
        empty: set[str] = set()
        if len(maybe_empty) > -(-len(managed) // GROUP_INDEX_PAGE):
            counts = {str(g.get("name", "")).lower(): g.get("user_count")
                      for g in self.discourse.group_index()}
            empty = {name for name in maybe_empty if counts.get(name.lower()) == 0}
        current: dict[str, list[int]] = {}
        for name in managed:
            current[name] = ([] if name in empty else
                             [int(u["id"]) for u in self.discourse.group_members(name)])
        return current

    def _record_sizes(self, current: Mapping[str, list[int]], plan: SyncPlan) -> None:
        """Each managed group's size after the pass's writes: what a quick check expects."""
        sizes = {}
        for name, ids in current.items():
            group_plan = plan.groups[name]
            sizes[name] = len(ids) + len(group_plan.add) - len(group_plan.remove) - len(
                group_plan.outsiders)
        self.r.hset(GROUP_SIZES, mapping=sizes)

    def quick_check(self, *, cause: str) -> dict:
        """The hourly repair when webhooks report drift: compare each managed group's
        member count (the group index, 36 groups a call) with the size the last pass
        left, and run a pass over the groups that differ only.

        A swap (one account removed, another added) keeps the count: the webhooks
        report each of those, and the daily full pass is the net under both.
        """
        sizes = self.r.hgetall(GROUP_SIZES)
        counts = {str(g.get("name", "")).lower(): g.get("user_count")
                  for g in self.discourse.group_index()}
        differing = sorted(name for name in self.roles.managed
                           if sizes.get(name) is None
                           or counts.get(name.lower()) != int(sizes[name]))
        report: dict[str, Any] = {"cause": cause, "mode": "quick", "checked": len(sizes),
                                  "differing": differing}
        if differing:
            report.update(self.group_pass(cause=cause, groups=differing))
        return report

    def expect_changes(self, user_ids: Iterable[int]) -> None:
        """The bridge changes these accounts' groups: their webhooks are our own echo."""
        pipe = self.r.pipeline(transaction=False)
        for user_id in user_ids:
            pipe.set(f"{EXPECTED}{user_id}", "1", ex=EXPECTED_TTL)
        pipe.execute()

    def is_expected(self, user_id: int) -> bool:
        return bool(self.r.exists(f"{EXPECTED}{user_id}"))

    def repair_account(self, user_id: int, *, cause: str) -> dict:
        """A webhook said this account's managed groups changed: read it back, repair.

        One read of the account by id (its groups, staff flags and external id),
        then at most one write: a `sync_sso` for a member's account, or removals
        from exclusive groups for an outsider's.
        """
        user = self.discourse.user(user_id)
        if user is None:
            return {"result": "no such account"}
        external_id = _external_id_of(user)
        self.r.set(f"{ACCOUNT_OWNER}{user_id}", external_id or "", ex=ACCOUNT_OWNER_TTL)
        member = self.store.bound_to(user_id)
        if member is None and external_id:
            candidate = self.store.get(external_id)
            if candidate is not None and candidate.account != "erased":
                self._bind(candidate, user, cause=cause)
                member = candidate
        have = {str(g.get("name")) for g in user.get("groups") or []} & self.roles.managed
        if member is None:
            return self._remove_outsider(user_id, have & self.roles.exclusive, cause=cause)
        account = self.account(member)
        grants = account.grants(self.roles)
        flags = (bool(user.get("admin")), bool(user.get("moderator")))
        if have == grants.groups and flags == (grants.admin, grants.moderator):
            self.store.record_applied(member.external_id, grants)
            return {"result": "unchanged", "member": member.external_id}
        self.expect_changes([user_id])
        result = self._sync_sso(member, cause=cause, action="member.repair", account=account)
        return {**result, "member": member.external_id}

    def _remove_outsider(self, user_id: int, groups: set[str], *, cause: str) -> dict:
        for name in sorted(groups):
            self.expect_changes([user_id])
            self.discourse.remove_members(self.group_id(name), user_ids=[user_id])
        if groups:
            self.audit.record_many([
                {"subject": f"account:{user_id}", "action": "group.remove_outsider",
                 "target": name, "cause": cause, "result": "ok", "detail": ""}
                for name in sorted(groups)])
        return {"result": "outsider", "removed_from": sorted(groups)}

    def _over_share(self, count: int, active: int) -> bool:
        return count > max(1, self.options.max_share * active)

    def _write_groups(self, plan: SyncPlan, *, cause: str) -> None:
        """Each write is audited as soon as it is made: a pass that stops midway (to give
        way to another source, or killed) is continued by a run that skips what is done."""
        self.expect_changes({uid for p in plan.groups.values()
                             for uid in (*p.add, *p.remove, *p.outsiders)})
        for name, group_plan in sorted(plan.groups.items()):
            if group_plan.empty:
                continue
            gid = self.group_id(name)
            if group_plan.add:
                self.discourse.add_members(gid, user_ids=group_plan.add)
                self.audit.record_many(
                    self._entries(plan, group_plan.add, "group.add", name, cause))
            removals = group_plan.remove + group_plan.outsiders
            if removals:
                self.discourse.remove_members(gid, user_ids=removals)
                self.audit.record_many(
                    self._entries(plan, group_plan.remove, "group.remove", name, cause)
                    + self._entries(plan, group_plan.outsiders, "group.remove_outsider",
                                    name, cause))

    @staticmethod
    def _entries(plan: SyncPlan, user_ids: Iterable[int], action: str, group: str,
                 cause: str) -> list[dict]:
        return [
            {
                "subject": (f"member:{plan.members_by_user[uid]}" if uid in plan.members_by_user
                            else f"account:{uid}"),
                "action": action,
                "target": group,
                "cause": cause,
                "result": "ok",
                "detail": "",
            }
            for uid in user_ids
        ]

    def _finish_members(self, members: list[Member], plan: SyncPlan, *, cause: str) -> set[str]:
        """Staff flags, offboarding of dirty leavers, and the clean marks; returns refusals."""
        refused = set()
        dirty = set(self.store.dirty_ids())
        staff_changes = set(plan.staff)
        versions = {m.external_id: m.version for m in members}
        settled: dict[str, int] = {}
        applied = {}
        for member in self.store.many(versions):  # re-read: accounts may have been learned
            try:
                if member.external_id in staff_changes:
                    self._sync_sso(member, cause=cause, action="staff.sync")
                if not member.active and member.external_id in dirty:
                    if member.linked_to or len(self.account(member).listings) > 1:
                        self.converge(member, cause=cause)  # others may keep the account
                    else:
                        # The pass took the groups away already: log out, anonymize if asked.
                        member.applied = applied_state(member.grants(self.roles))
                        self.offboard(member, cause=cause)
                # An anonymized account is no longer the member's; a member changed since
                # the pass read them has a job of their own: this pass did not apply it.
                if member.bound and member.version == versions[member.external_id]:
                    applied[member.external_id] = plan.wanted.get(member.user_id,
                                                                  member.grants(self.roles))
            except InvalidCredentials:
                raise
            except ClientError as error:  # this member's problem: the pass goes on
                self.store.record_error(member.external_id, str(error))
                refused.add(member.external_id)
                continue
            except ServerError as error:
                # Still transient after the client's patience: keep the member dirty
                # (the sweep brings it back) and go on with the others.
                self.store.record_error(member.external_id, str(error))
                continue
            settled[member.external_id] = versions[member.external_id]
        self.store.record_applied_many(applied)
        self.store.settle_many(settled)
        return refused

    # -- whose account is it ---------------------------------------------------------------

    def discover_accounts(self, members: list[Member], *, dry_run: bool = False) -> None:
        """Bind members whose account is unknown, by e-mail, the way Discourse would at login.

        One read per hundred forum accounts (the admin user list with e-mails)
        instead of one look-up per member. Discourse links a DiscourseConnect
        login to the account with the same e-mail, so that account is the
        member's. An account already bound to another member, or an e-mail two
        members share, binds nobody. Whoever is not found has no account yet.
        """
        unknown = [m for m in members if m.account == "unknown" and m.email]
        if not unknown:
            return
        taken = {m.user_id for m in members if m.bound}
        claims: dict[str, list[Member]] = {}
        for member in unknown:
            claims.setdefault(member.email.lower(), []).append(member)
        found: list[Member] = []
        for user in self.discourse.active_users_with_emails():
            email = str(user.get("email") or "").lower()
            claimants = claims.get(email)
            if not claimants or len(claimants) > 1 or int(user["id"]) in taken:
                continue  # ambiguous or someone else's: left to each one's login
            member = claims.pop(email)[0]
            member.account, member.user_id = "bound", int(user["id"])
            member.username = user.get("username")
            found.append(member)
        # Not found, or not theirs alone: no account to act on until they log in.
        missing = [m for claimants in claims.values() for m in claimants]
        for member in missing:
            member.account = "none"
        if dry_run:
            return
        self.store.bind_many({m.external_id: (m.user_id, m.username) for m in found})
        self.audit.record_many([
            {"subject": self._subject(m), "action": "account.bind", "target": str(m.user_id),
             "cause": "discovery", "result": "ok", "detail": "by e-mail"} for m in found])
        self.store.record_no_account([m.external_id for m in missing])

    def _confirm_unbound(
        self, members: list[Member], current: Mapping[str, list[int]], *, dry_run: bool
    ) -> set[int]:
        """Accounts in managed groups that no member is bound to: whose are they?

        One read of each such account by id (cached for a day) gives its external
        id. If a roster member has it, that member is bound to it now (their id
        was simply not learned yet); otherwise the account is an outsider.
        """
        bound = {m.user_id for m in members if m.bound}
        unbound = sorted({uid for ids in current.values() for uid in ids} - bound)
        if not unbound:
            return set()
        by_external = {m.external_id: m for m in members if not m.bound and not m.linked_to}
        owners = self._account_owners(unbound)
        outsiders = set()
        for user_id in unbound:
            external_id, user = owners[user_id]
            member = by_external.get(external_id) if external_id else None
            if member is None:
                outsiders.add(user_id)
            elif dry_run:
                member.account, member.user_id = "bound", user_id
            else:
                self._bind(member, user or {"id": user_id}, cause="confirm")
                by_external.pop(external_id)
        return outsiders

    def _account_owners(self, user_ids: list[int]) -> dict[int, tuple[str | None, dict | None]]:
        """user id -> (its DiscourseConnect external id or None, the account read if any)."""
        pipe = self.r.pipeline(transaction=False)
        for user_id in user_ids:
            pipe.get(f"{ACCOUNT_OWNER}{user_id}")
        cached = dict(zip(user_ids, pipe.execute(), strict=True))
        owners: dict[int, tuple[str | None, dict | None]] = {}
        for user_id in user_ids:
            if cached[user_id] is not None:
                owners[user_id] = (cached[user_id] or None, None)
                continue
            user = self.discourse.user(user_id)
            external_id = _external_id_of(user) if user else None
            self.r.set(f"{ACCOUNT_OWNER}{user_id}", external_id or "", ex=ACCOUNT_OWNER_TTL)
            owners[user_id] = (external_id, user)
        return owners

    # -- costs: which way converges a backlog for fewer calls ---------------------------------

    def group_pass_cost(self) -> int:
        """Calls a group pass needs to read the managed groups and the staff list."""
        sizes = self.r.hgetall(GROUP_SIZES)
        return 1 + sum(int(sizes.get(g, 0)) // 1000 + 1 for g in self.roles.managed)

    def per_member_cost(self, external_ids: Iterable[str]) -> int:
        """Calls to converge these members one by one: a `sync_sso` for each bound
        account, plus a look-up first where the account is not known yet."""
        cost = {"bound": 1, "unknown": 2, "pending": 2, "linked": 1}
        return sum(cost.get(m.account, 0) for m in self.store.many(external_ids))

    # -- the managed groups ------------------------------------------------------------------

    def group_id(self, name: str) -> int:
        cached = self.r.hget(GROUP_IDS, name)
        if cached:
            return int(cached)
        group = self.discourse.group(name)
        if group is None:
            raise ManagedGroupMissing(
                f"managed group {name!r} is missing on the forum: "
                "run `flask --app wsgi discourse setup`"
            )
        self.r.hset(GROUP_IDS, name, group["id"])
        return int(group["id"])

    def setup_groups(self) -> list[str]:
        """Create the managed groups the forum lacks (idempotent); returns their names.

        Creating first costs one call per group on a new forum (two on a set-up one,
        where Discourse answers 422 "name taken" and the group is read instead).
        """
        created = []
        for name, spec in sorted(self.roles.groups.items()):
            try:
                group = self.discourse.create_group(**spec.forum_fields())
            except ClientError as error:
                group = self.discourse.group(name) if error.status == 422 else None
                if group is None:
                    raise
                self._align_levels(spec, group)
            else:
                self.audit.record(subject=f"group:{name}", action="group.create",
                                  target=name, cause="admin")
                created.append(name)
            self.r.hset(GROUP_IDS, name, group["id"])
        return created

    def _align_levels(self, spec: GroupSpec, group: Mapping[str, Any]) -> None:
        """An existing group gets the mention and message levels `roles.yml` asks for."""
        wanted = {"mentionable_level": spec.mentionable_level,
                  "messageable_level": spec.messageable_level}
        if all(group.get(key) == value for key, value in wanted.items()):
            return
        self.discourse.update_group(int(group["id"]), name=spec.name, **wanted)
        self.audit.record(subject=f"group:{spec.name}", action="group.levels",
                          target=spec.name, cause="admin",
                          detail=f"mentionable={spec.mentionable} messageable={spec.messageable}")


def _external_id_of(user: Mapping[str, Any]) -> str | None:
    """The DiscourseConnect external id of an account read through the admin API."""
    record = user.get("single_sign_on_record")
    if isinstance(record, dict) and record.get("external_id"):
        return str(record["external_id"])
    ids = user.get("external_ids")
    if isinstance(ids, dict) and ids.get("discourse_connect"):
        return str(ids["discourse_connect"])
    return None


def _grants_from(state: Mapping[str, Any]) -> Grants:
    return Grants(groups=frozenset(state.get("groups", ())), admin=bool(state.get("admin")),
                  moderator=bool(state.get("moderator")))
