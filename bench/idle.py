"""Benchmark: what an idle bridge spends of the site's admin API budget, and how fast
it repairs a change made by hand in a managed group.

    .venv/bin/python -m bench.idle [--members 10000] [--accounts 10000]

Two forums, each with its own Redis and sandbox Discourse: the repository's
`config/` (33 managed groups) and the roster benchmark's 40 groups, both with
--members members who all have forum accounts. After the roster has reached the
forum, nothing changes; the benchmark then runs the scheduled reconciliation as
the worker would and counts the calls Discourse receives:

- without webhooks, a full pass every 5 minutes (12 an hour);
- with webhooks, an hourly size check (the group index; a pass over the groups
  whose size differs) and a full pass once a day.

Then it adds an outsider by hand to a managed group (the admin API, as the
forum's own UI does) and times the repair: with webhooks the sandbox delivers
the signed `user_added_to_group` to the bridge served over HTTP, and the
account is read back and removed; without, the repair waits for the next
reconciliation (on average half its interval).
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import threading
import time
from pathlib import Path

import requests
from werkzeug.serving import make_server

from bench.environment import ROOT, bench_environment, free_port
from bench.roster_sync import roster, write_config
from bridge import webhooks
from config import load_mappings
from web import create_app

SECRET = secrets.token_hex(16)
WITHOUT_WEBHOOKS = 300  # seconds between full passes
FULL_EVERY = 86400  # BRIDGE_FULL_RECONCILE_INTERVAL's default


def calls(bench) -> int:
    return bench.stats()["accepted"]


def counted(bench, action) -> int:
    before = calls(bench)
    action()
    return calls(bench) - before


def settle(bench, services, client, headers, rows) -> None:
    response = client.post("/api/v1/roster", json=rows, headers=headers)
    assert response.status_code in (200, 202), response.json
    bench.run_workers()
    services.member_sync().group_pass(cause="bench")  # learns every account and group size


def scenario(label: str, config_dir: Path, rows: list[dict], accounts: int, rate: int) -> None:
    port = free_port()
    env = {"DISCOURSE_WEBHOOK_SECRET": SECRET}
    with bench_environment(rate=rate, config_dir=config_dir, bridge_port=port,
                           environ=env) as bench:
        services = bench.services
        app = create_app(services=services)
        server = make_server("127.0.0.1", port, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            services.member_sync().setup_groups()
            users = [{"username": f"u{i:05d}", "name": f"Учитель {i}", "email": row["email"],
                      "external_id": row["external_id"]}
                     for i, row in enumerate(rows[:accounts])]
            for start in range(0, len(users), 1000):
                bench.seed(users=users[start:start + 1000])
            client = app.test_client()
            token = next(iter(services.settings.api_tokens.values()))
            headers = {"Authorization": f"Bearer {token}"}
            settle(bench, services, client, headers, rows)

            sync = services.member_sync()
            full = counted(bench, lambda: sync.group_pass(cause="reconcile"))
            quick = counted(bench, lambda: sync.quick_check(cause="reconcile"))
            without = full * 3600 / WITHOUT_WEBHOOKS
            with_hooks = quick + full * 3600 / FULL_EVERY
            groups = len(services.config.roles.managed)
            print(f"\n{label}: {groups} managed groups, {len(rows)} members, "  # noqa: T201
                  f"{accounts} with forum accounts")
            print(f"  one full pass: {full} calls; one size check: {quick} calls")  # noqa: T201
            print(f"  idle, without webhooks (full pass every {WITHOUT_WEBHOOKS} s): "  # noqa: T201
                  f"{without:.0f} calls an hour ({without / 3600:.1%} of 60/min)")
            print(f"  idle, with webhooks (size check hourly, full pass daily): "  # noqa: T201
                  f"{with_hooks:.1f} calls an hour ({with_hooks / 3600:.2%} of 60/min)")

            url = webhooks.payload_url(services.settings.public_url)
            webhooks.ensure_hook(services.discourse, url=url, secret=SECRET)
            created = bench.seed(users=[{"username": "outsider", "email": "outsider@example.org"}])
            outsider = {"id": created["users"]["outsider"]}
            club = services.discourse.group("club")
            started = time.monotonic()
            requests.put(f"{bench.forum}/groups/{club['id']}/members.json",
                         json={"user_ids": str(outsider["id"])}, timeout=10,
                         headers={"Api-Key": services.settings.discourse_api_key,
                                  "Api-Username": "system"}).raise_for_status()
            deadline = started + 60
            while time.monotonic() < deadline:
                bench.run_workers()
                if outsider["id"] not in services.member_sync().read_groups(["club"])["club"]:
                    break
                time.sleep(0.2)
            repaired = time.monotonic() - started
            print(f"  a hand-made change (outsider added to club) repaired in "  # noqa: T201
                  f"{repaired:.1f} s with webhooks; without, at the next full pass "
                  f"(on average {WITHOUT_WEBHOOKS / 2:.0f} s, at most {WITHOUT_WEBHOOKS} s)")
        finally:
            server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=100_000,
                        help="the sandbox's admin API limit while the forum is filled "
                             "(calls are counted, not timed)")
    args = parser.parse_args()
    rows = roster(args.members)
    districts = sorted(load_mappings(ROOT / "config")[0].attributes["district"])
    club_rows = [dict(r, attributes={"district": districts[i % len(districts)]})
                 for i, r in enumerate(rows)]
    scenario("config/ (the club's own mapping)", ROOT / "config", club_rows,
             args.accounts, args.rate)
    with tempfile.TemporaryDirectory() as folder:
        write_config(Path(folder))
        scenario("the roster benchmark's mapping", Path(folder), rows, args.accounts, args.rate)


if __name__ == "__main__":
    main()
