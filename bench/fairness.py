"""Benchmark: two sources share the Discourse admin budget fairly.

    .venv/bin/python -m bench.fairness [--members 3000] [--delay 3] [--latency 0]
                                       [--no-baseline]

A two-source federation (the `make run` demo's sources.yml: the institute,
with bare ids, and the Vyazma methodological centre), its own Redis and
sandbox Discourse, ONE worker, and the site's limit at 60 admin calls a
minute (Discourse's default; the bridge's budget matches). The institute
has --members members with forum accounts, Vyazma a few; both rosters are
applied first (at a high limit, not measured).

Then the institute posts a roster with real drift: every member moves to
another district, a third change roles; every district group and most role
groups get additions and removals (about a hundred calls, more than a
minute's budget). --delay seconds later, Vyazma changes one member's role
through the API. The benchmark prints how long that change took to reach
the forum (until its job finished: Discourse accepted the write; the
sandbox's state confirms it afterwards, as reading the whole state is too
slow to poll), how long the institute's roster took, the calls Discourse
received and its 429 responses.

--latency adds that many milliseconds to each answer of the sandbox (a real
forum takes a few hundred): the institute's pass then still makes its calls
when Vyazma's change comes, and gives way at the end of its turn rather than
while it waits for a slot.

The same scenario runs again without fairness (the budget without its
reserve: one source may take the whole window), the roster drifting back,
unless --no-baseline.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path

import requests
from rq.job import Job
from rq.serializers import JSONSerializer

from bench.environment import ROOT, bench_environment
from bench.roster_sync import role_of
from bridge.ratelimit import ApiBudget, fair_reserve
from config import load_mappings
from web import create_app
from workers import queue as jobs

RATE = 60
SETUP_RATE = 100_000
STAFF = ("moderator", "administrator")
B_MEMBERS = 20
B_CHANGED = "v-000"


def write_config(folder: Path) -> Path:
    """The demo federation's files, as `make run` reads them: sources.yml in demo/."""
    for name in ("roles.yml", "events.yml"):
        shutil.copy(ROOT / "config" / name, folder / name)
    shutil.copytree(ROOT / "config" / "templates", folder / "templates")
    shutil.copytree(ROOT / "config" / "demo", folder / "demo")
    return folder / "demo"


def a_roster(members: int, districts: list[str], shift: int) -> list[dict]:
    """The institute's roster; `shift` 1 moves everybody one district on and changes
    every third non-staff member's role."""
    changed = frozenset(i for i in range(members) if shift and i % 3 == 0
                        and role_of(i) not in STAFF)
    return [{
        "external_id": f"t-{i:05d}",
        "email": f"teacher{i:05d}@schools.example.org",
        "name": f"Учитель{i:05d} Мария Петровна",
        "roles": [role_of(i, changed)],
        "attributes": {"district": districts[(i + shift) % len(districts)]},
    } for i in range(members)]


def b_member(i: int, role: str = "teacher") -> dict:
    return {"email": f"v{i:03d}@vyazma.example.org", "name": f"Педагог{i:03d} Вязьма",
            "roles": [role]}


def set_rate(bench, per_minute: int, *, fair: bool) -> None:
    """The sandbox's limit, and the bridge's budget to match (with or without its reserve)."""
    bench.control.post(bench.forum + "/_sandbox/settings",
                       json={"max_admin_api_reqs_per_minute": per_minute},
                       timeout=10).raise_for_status()
    services = bench.services
    services.budget = services.discourse.budget = ApiBudget(
        services.redis, per_minute=per_minute, reserve=fair_reserve(per_minute) if fair else 0)


def quiet_window(bench) -> None:
    """Wait until the setup's calls have left both windows (Discourse's and the budget's)."""
    print("  (waiting for the last minute's calls to leave the window)")  # noqa: T201
    time.sleep(bench.services.budget.window)


def in_group(bench, username: str, group: str) -> bool:
    state = requests.get(bench.forum + "/_sandbox/state", timeout=60).json()
    user = next(u for u in state["users"] if u["username"] == username)
    return group in user["groups"]


def scenario(bench, client, tokens, label: str, rows: list[dict], b_role: str,
             *, fair: bool, delay: float) -> dict:
    set_rate(bench, RATE, fair=fair)
    quiet_window(bench)
    before = bench.stats()
    wanted = b_role == "mentor"  # mentors are in vyazma-mo, teachers are not
    seen: dict[str, float] = {}

    def change_b() -> None:
        time.sleep(delay)
        sent = time.monotonic()
        response = client.put(f"/api/v1/sources/vyazma/members/{B_CHANGED}",
                              json=b_member(0, b_role), headers=tokens["vyazma"])
        assert response.status_code == 202, response.json
        seen["sent"] = sent
        job_id = response.json["job_id"]
        while jobs.job_state(bench.services.redis_raw, job_id)["status"] != "finished":
            time.sleep(0.05)
        seen["on_forum"] = time.monotonic()
        result = Job.fetch(job_id, connection=bench.services.redis_raw,
                           serializer=JSONSerializer).return_value()
        assert result.get("result") == "synced", result  # done by this job, not handed over
        assert in_group(bench, "v000", "vyazma-mo") == wanted

    started = time.monotonic()
    response = client.post("/api/v1/sources/institute/roster", json=rows,
                           headers=tokens["institute"], query_string={"force": "true"})
    assert response.status_code == 202, response.json
    a_job = response.json["job_id"]
    b_thread = threading.Thread(target=change_b)
    b_thread.start()
    bench.run_workers()  # ONE worker, until nothing is queued or scheduled
    a_done = time.monotonic() - started
    b_thread.join(timeout=300)
    after = bench.stats()
    job = Job.fetch(a_job, connection=bench.services.redis_raw, serializer=JSONSerializer)
    figures = {
        "b": seen["on_forum"] - seen["sent"],
        "a": a_done,
        "calls": after["accepted"] - before["accepted"],
        "writes": after["writes"] - before["writes"],
        "429s": after["rate_limited"] - before["rate_limited"],
        "gave_way": job.number_of_retries or 0,
    }
    print(f"\n{label}")  # noqa: T201
    print(f"  Vyazma's one change (sent {delay:.0f} s into the institute's roster) reached "  # noqa: T201
          f"the forum in {figures['b']:.1f} s")
    print(f"  the institute's roster: {figures['a']:.1f} s; {figures['calls']} calls "  # noqa: T201
          f"({figures['writes']} writes), {figures['429s']} responses 429; "
          f"its pass gave way {figures['gave_way']} time(s)")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=3000)
    parser.add_argument("--delay", type=float, default=3.0,
                        help="seconds between the institute's roster and Vyazma's change")
    parser.add_argument("--latency", type=int, default=0,
                        help="milliseconds added to each of the sandbox's API answers")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the run without fairness")
    args = parser.parse_args()
    tokens = {name: secrets.token_hex(16) for name in ("institute", "vyazma")}
    environ = {
        "BRIDGE_API_TOKENS": ",".join(f"{name}:{token}" for name, token in tokens.items()),
        "OIDC_INSTITUTE_CLIENT_SECRET": secrets.token_hex(16),
        "OIDC_VYAZMA_CLIENT_SECRET": secrets.token_hex(16),
    }
    headers = {name: {"Authorization": f"Bearer {token}"} for name, token in tokens.items()}
    with tempfile.TemporaryDirectory() as folder:
        config_dir = write_config(Path(folder))
        districts = sorted(load_mappings(ROOT / "config")[0].attributes["district"])
        with bench_environment(rate=SETUP_RATE, config_dir=config_dir,
                               environ=environ) as bench:
            services = bench.services
            assert services.config.federated, "sources.yml was not read"
            services.member_sync().setup_groups()
            users = [{"username": f"teacher{i:05d}", "name": f"Учитель {i}",
                      "email": f"teacher{i:05d}@schools.example.org",
                      "external_id": f"t-{i:05d}"} for i in range(args.members)]
            users += [{"username": f"v{i:03d}", "name": f"Педагог {i}",
                       "email": f"v{i:03d}@vyazma.example.org",
                       "external_id": f"vyazma:v-{i:03d}"} for i in range(B_MEMBERS)]
            for start in range(0, len(users), 1000):
                bench.seed(users=users[start:start + 1000])
            client = create_app(services=services).test_client()
            # Both rosters reach the forum and every account is bound: not measured.
            response = client.post("/api/v1/sources/institute/roster",
                                   json=a_roster(args.members, districts, 0),
                                   headers=headers["institute"])
            assert response.status_code == 202, response.json
            response = client.post("/api/v1/sources/vyazma/roster", headers=headers["vyazma"],
                                   json=[{"external_id": f"v-{i:03d}", **b_member(i)}
                                         for i in range(B_MEMBERS)])
            assert response.status_code == 202, response.json
            bench.run_workers()
            if args.latency:
                bench.control.post(bench.forum + "/_sandbox/faults",
                                   json={"latency_ms": args.latency},
                                   timeout=10).raise_for_status()
            print(f"federation: institute {args.members} members, Vyazma {B_MEMBERS}, "  # noqa: T201
                  f"all with forum accounts; {len(services.config.roles.managed)} managed groups; "
                  f"limit {RATE} calls/min, reserve {fair_reserve(RATE)}, one worker; "
                  f"{args.latency} ms added to each answer")

            fair = scenario(bench, client, headers, "with fairness",
                            a_roster(args.members, districts, 1), "mentor",
                            fair=True, delay=args.delay)
            if not args.no_baseline:
                scenario(bench, client, headers, "without fairness (no reserve, no giving way)",
                         a_roster(args.members, districts, 0), "teacher",
                         fair=False, delay=args.delay)
            assert fair["429s"] == 0


if __name__ == "__main__":
    main()
