"""Benchmark: a roster of 10,000 members in 40 groups reaching Discourse.

    .venv/bin/python -m bench.roster_sync [--members 10000] [--accounts 3000] [--rate 600]

Starts its own Redis and sandbox Discourse (enforcing the admin API rate limit,
scaled to --rate a minute; the bridge's DISCOURSE_MAX_REQS_PER_MINUTE matches),
seeds forum accounts for the first --accounts members, then sends the roster
through the real API and runs real RQ workers. Three passes: the first roster,
the same roster again, and a roster in which 50 members changed roles. For each
it prints the calls Discourse received, the lower bound of calls its API allows
for that change, 429 responses and wall time.

The lower bound, per pass:
- reads: each managed group must be read to know its members (one call per
  1000 members, at least one per group), unless the group index (36 groups a
  call, with each group's member count) shows it empty; which roster members have forum
  accounts must be learnt in bulk: the admin user list gives 100 accounts a
  call (the alternative, blind adds by e-mail, costs more writes: the script
  computes both and takes the cheaper); the staff list (one call) tells whose
  admin/moderator flags differ.
- writes: for every group, ceil(members to add / 1000) + ceil(members to
  remove / 1000) (Discourse's bulk endpoints take 1000 users a call), plus one
  `sync_sso` per account whose staff flags change (the only way to grant admin).
- a pass that changes only a few members may instead use one `sync_sso` per
  changed member with an account and no reads at all: the bound is the cheaper.
The rate-limit bound is the time those calls take at the sustained rate
(calls / rate a minute); the first minute's burst allowance is ignored.
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from bench.environment import ROOT, bench_environment
from web import create_app

ROLE_GROUPS = {
    "winner": ["club", "winners"], "laureate": ["club", "laureates"],
    "participant": ["club", "participants"], "jury": ["club", "jury"],
    "board": ["club", "club-board"], "moderator": ["club", "club-mods"],
    "administrator": ["club", "club-admins"],
}
DISTRICTS = 32  # 8 club groups + 32 district groups = 40 managed groups


def write_config(folder: Path) -> None:
    groups = {name: {"full_name": name} for names in ROLE_GROUPS.values() for name in names}
    groups.update({f"r-d{d:02d}": {"full_name": f"Район {d:02d}"} for d in range(DISTRICTS)})
    roles = {code: {"groups": names} for code, names in ROLE_GROUPS.items()}
    roles["moderator"]["staff"] = "moderator"
    roles["administrator"]["staff"] = "admin"
    attributes = {"district": {f"Район {d:02d}": [f"r-d{d:02d}"] for d in range(DISTRICTS)}}
    (folder / "roles.yml").write_text(yaml.safe_dump(
        {"groups": groups, "roles": roles, "attributes": attributes}, allow_unicode=True))
    shutil.copy(ROOT / "config" / "events.yml", folder / "events.yml")
    shutil.copytree(ROOT / "config" / "templates", folder / "templates")


def role_of(i: int, changed: frozenset[int] = frozenset()) -> str:
    if i in changed:
        return "laureate" if role_of(i) != "laureate" else "jury"
    for every, role in ((2000, "administrator"), (500, "moderator"), (100, "board"),
                        (33, "jury"), (20, "winner"), (10, "laureate")):
        if i % every == 7:
            return role
    return "participant"


def roster(members: int, changed: frozenset[int] = frozenset()) -> list[dict]:
    return [{
        "external_id": f"t-{i:05d}",
        "email": f"teacher{i:05d}@schools.example.org",
        "name": f"Учитель{i:05d} Мария Петровна",
        "roles": [role_of(i, changed)],
        "attributes": {"district": f"Район {i % DISTRICTS:02d}"},
    } for i in range(members)]


def desired_groups(row: dict) -> set[str]:
    return set(ROLE_GROUPS[row["roles"][0]]) | {f"r-d{int(row['attributes']['district'][-2:]):02d}"}


def lower_bound(rows: list[dict], accounts: set[int], current: dict[str, set[int]],
                staff_now: dict[int, tuple[bool, bool]], forum_accounts: int,
                changed: set[int] | None) -> dict:
    adds: dict[str, int] = {}
    removes: dict[str, int] = {}
    desired_all: dict[str, int] = {}
    staff_changes = 0
    for i, row in enumerate(rows):
        groups = desired_groups(row)
        for g in groups:
            desired_all[g] = desired_all.get(g, 0) + 1
        if i not in accounts:
            continue
        for g in groups:
            if i not in current.get(g, set()):
                adds[g] = adds.get(g, 0) + 1
        for g, members in current.items():
            if i in members and g not in groups:
                removes[g] = removes.get(g, 0) + 1
        role = row["roles"][0]
        if staff_now.get(i, (False, False)) != (role == "administrator", role == "moderator"):
            staff_changes += 1
    all_groups = {f"r-d{d:02d}" for d in range(DISTRICTS)} | {
        g for names in ROLE_GROUPS.values() for g in names}
    # Each managed group read (1000 members a call), or the group index (36 groups a
    # call, with member counts) and then only the groups that are not empty.
    group_reads = min(
        sum(max(1, math.ceil(len(current.get(g, ())) / 1000)) for g in all_groups),
        math.ceil(len(all_groups) / 36)
        + sum(math.ceil(len(current.get(g, ())) / 1000) for g in all_groups),
    )
    writes = sum(math.ceil(n / 1000) for n in adds.values())
    writes += sum(math.ceil(n / 1000) for n in removes.values()) + staff_changes
    discovery = math.ceil(forum_accounts / 100)
    blind_extra = sum(math.ceil(n / 1000) for n in desired_all.values()) - sum(
        math.ceil(n / 1000) for n in adds.values())
    bulk = group_reads + 1 + min(discovery, blind_extra) + writes
    result = {"reads": group_reads + 1 + min(discovery, blind_extra), "writes": writes,
              "total": bulk}
    if changed is not None:
        per_member = len(changed & accounts)
        if per_member < bulk:
            result = {"reads": 0, "writes": per_member, "total": per_member}
    return result


def run_pass(bench, client, headers, label, rows, rate, bound, expect=(202, 200)) -> dict:
    before = bench.stats()
    started = time.monotonic()
    response = client.post("/api/v1/roster", json=rows, headers=headers)
    assert response.status_code in expect, response.json
    bench.run_workers()
    wall = time.monotonic() - started
    after = bench.stats()
    calls = after["accepted"] - before["accepted"]
    writes = after["writes"] - before["writes"]
    figures = {
        "calls": calls, "reads": after["reads"] - before["reads"], "writes": writes,
        "429s": after["rate_limited"] - before["rate_limited"], "wall": wall,
        "bound": bound,
    }
    sustained = bound["total"] * 60 / rate
    print(f"\n{label}")  # noqa: T201
    print(f"  calls {calls} (reads {figures['reads']}, writes {writes}); "  # noqa: T201
          f"lower bound {bound['total']} (reads {bound['reads']}, writes {bound['writes']})")
    if bound["writes"]:
        print(f"  writes over the bound: {writes / bound['writes']:.2f}")  # noqa: T201
    print(f"  429 responses: {figures['429s']}")  # noqa: T201
    print(f"  wall time {wall:.1f} s; rate-limit bound {sustained:.1f} s "  # noqa: T201
          f"({bound['total']} calls at {rate}/min)"
          + (f"; wall / bound {wall / sustained:.2f}" if sustained else ""))
    return figures


def forum_view(bench, index: dict[str, int]) -> tuple[dict[str, set[int]], dict]:
    state = bench.state()
    current = {g["name"]: {index[u] for u in g["members"] if u in index}
               for g in state["groups"] if not g["automatic"]}
    staff = {index[u["username"]]: (u["admin"], u["moderator"])
             for u in state["users"] if u["username"] in index}
    return current, staff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--accounts", type=int, default=3_000)
    parser.add_argument("--rate", type=int, default=600,
                        help="admin API requests a minute (Discourse's default is 60)")
    parser.add_argument("--changes", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        write_config(Path(folder))
        with bench_environment(rate=args.rate, config_dir=Path(folder)) as bench:
            services = bench.services
            services.member_sync().setup_groups()
            accounts = set(range(args.accounts))
            users = [{"username": f"teacher{i:05d}", "name": f"Учитель {i}",
                      "email": f"teacher{i:05d}@schools.example.org",
                      "external_id": f"t-{i:05d}"} for i in sorted(accounts)]
            for start in range(0, len(users), 1000):
                bench.seed(users=users[start:start + 1000])
            index = {f"teacher{i:05d}": i for i in accounts}
            app = create_app(services=services)
            client = app.test_client()
            token = next(iter(services.settings.api_tokens.values()))
            headers = {"Authorization": f"Bearer {token}"}
            print(f"roster: {args.members} members, {len(services.config.roles.managed)} groups, "  # noqa: T201
                  f"{args.accounts} with forum accounts; rate limit {args.rate}/min")

            # The setup's calls (one per group) must leave the budget's window first,
            # else they eat the first minute's allowance the roster would use.
            while services.budget.used():
                time.sleep(0.5)

            rows = roster(args.members)
            current, staff = forum_view(bench, index)
            first = run_pass(bench, client, headers, "1. first roster", rows, args.rate,
                             lower_bound(rows, accounts, current, staff, len(users), None))
            current, staff = forum_view(bench, index)
            run_pass(bench, client, headers, "2. the same roster again", rows, args.rate,
                     {"reads": 0, "writes": 0, "total": 0})
            step = max(1, args.members // args.changes)
            changed = frozenset(range(3, args.members, step)[: args.changes])
            rows = roster(args.members, changed)
            run_pass(bench, client, headers, f"3. {len(changed)} members change roles", rows,
                     args.rate,
                     lower_bound(rows, accounts, current, staff, len(users), set(changed)))

            # Latency: one member change with an idle queue, until it is on the forum.
            member = rows[7]
            body = {k: member[k] for k in ("email", "name", "attributes")}
            body["roles"] = ["jury"]
            started = time.monotonic()
            client.put(f"/api/v1/members/{member['external_id']}", json=body, headers=headers)
            bench.run_workers()
            latency = time.monotonic() - started
            print(f"\nlatency: one member change reached the forum in {latency * 1000:.0f} ms")  # noqa: T201
            assert first["429s"] == 0


if __name__ == "__main__":
    main()
