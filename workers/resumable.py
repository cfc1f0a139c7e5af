"""A group pass that can stop for another source's work and pick up where it stopped.

A pass reads the user list (to find unknown members' accounts by e-mail) and
every managed group before it writes. When it gives way
(`bridge.ratelimit.GiveWay`), those reads must not be paid for again: each
read is kept in Redis, and each write a pass makes is applied to the kept
copy. The next pass to run (the same job again, or another source's: every
pass converges every group) plans from the forum as the last run left it and
makes only the writes still missing; the scheduled repair trusts only a copy
of its own. A pass that ends (done or failed) drops the copy, so the next one
reads the forum afresh; so does a copy older than KEEP_SECONDS. Passes never
run at once (the `groups` lock), so one copy serves.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Iterator

import redis

from bridge.discourse import USER_LIST_PAGE
from bridge.membersync import GROUP_IDS
from bridge.ratelimit import GiveWay
from workers.runtime import resumable

READS = "bridge:group-pass:reads"  # the groups as the stopped pass last knew them
KEEP_SECONDS = 900  # an older copy is not trusted: the forum is read again


class ResumablePass:
    """The pass's Discourse client: reads kept for the next run, writes applied to them.

    Reads and group writes are the pass's resumable stretches: there, a run
    may give way. Only user ids are kept of a group's members: all a pass
    looks at.
    """

    def __init__(self, client, connection: redis.Redis, job_id: str, *, fresh: bool = False):
        self._client = client
        self._r = connection
        kept = connection.hmget(READS, "created", "by")
        stale = time.time() - float(kept[0] or 0) > KEEP_SECONDS
        if stale or (fresh and kept[1] != job_id):
            connection.delete(READS)
            connection.hset(READS, mapping={"created": f"{time.time():.0f}", "by": job_id})
            connection.expire(READS, KEEP_SECONDS)

    @classmethod
    @contextlib.contextmanager
    def open(cls, client, connection: redis.Redis, job_id: str, *, fresh: bool = False
             ) -> Iterator[ResumablePass]:
        """`fresh`: read the forum anew, unless the copy is this job's own from an earlier
        run (the scheduled repair must see what changed since another pass read it).
        The copy outlives the run only when the run gives way (or is killed)."""
        reads = cls(client, connection, job_id, fresh=fresh)
        gave_way = False
        try:
            yield reads
        except GiveWay:
            gave_way = True
            raise
        finally:
            if not gave_way:
                connection.delete(READS)

    def __getattr__(self, name):
        return getattr(self._client, name)

    # -- reads --------------------------------------------------------------------------

    def group_members(self, name: str) -> list[dict]:
        raw = self._r.hget(READS, f"group:{name}")
        if raw is not None:
            return [{"id": user_id} for user_id in json.loads(raw)]
        with resumable():
            members = self._client.group_members(name)
        self._keep(name, [int(u["id"]) for u in members])
        return members

    def staff_users(self) -> list[dict]:
        raw = self._r.hget(READS, "staff")
        if raw is not None:
            return json.loads(raw)
        with resumable():
            staff = self._client.staff_users()
        self._r.hset(READS, "staff", json.dumps(staff))
        return staff

    def active_users_with_emails(self) -> list[dict]:
        """The account discovery's user list, a kept page at a time: a run that gives way
        halfway through a first roster's thousands of unknown accounts reads on from
        the page it stopped at."""
        users: list[dict] = []
        page = 1
        while True:
            raw = self._r.hget(READS, f"users:{page}")
            if raw is not None:
                batch = json.loads(raw)
            else:
                with resumable():
                    read = self._client.user_list_page("active", page, show_emails="true")
                batch = [{"id": u["id"], "email": u.get("email"), "username": u.get("username")}
                         for u in read]
                self._r.hset(READS, f"users:{page}", json.dumps(batch))
            users.extend(batch)
            if len(batch) < USER_LIST_PAGE:
                return users
            page += 1

    def group_index(self) -> list[dict]:
        # Read afresh by each run (a call or two): it shows which groups the writes filled.
        with resumable():
            return self._client.group_index()

    def user(self, user_id: int) -> dict | None:
        # The pass keeps what it learns of an account (its owner) in Redis itself.
        with resumable():
            return self._client.user(user_id)

    # -- writes -------------------------------------------------------------------------

    def add_members(self, group_id: int, *, user_ids: Iterable[int] = (), **others) -> list[str]:
        user_ids = list(user_ids)
        with resumable():
            added = self._client.add_members(group_id, user_ids=user_ids, **others)
        self._written(group_id, add=user_ids)
        return added

    def remove_members(self, group_id: int, *, user_ids: Iterable[int] = (),
                       **others) -> list[str]:
        user_ids = list(user_ids)
        with resumable():
            removed = self._client.remove_members(group_id, user_ids=user_ids, **others)
        self._written(group_id, remove=user_ids)
        return removed

    def _written(self, group_id: int, *, add: Iterable[int] = (),
                 remove: Iterable[int] = ()) -> None:
        name = next((n for n, i in self._r.hgetall(GROUP_IDS).items() if int(i) == group_id),
                    None)
        if name is None:
            return
        # A group the pass did not read was empty (the group index said so).
        raw = self._r.hget(READS, f"group:{name}")
        ids = set(json.loads(raw)) if raw is not None else set()
        self._keep(name, sorted((ids | set(add)) - set(remove)))

    def _keep(self, name: str, user_ids: list[int]) -> None:
        self._r.hset(READS, f"group:{name}", json.dumps(user_ids))
