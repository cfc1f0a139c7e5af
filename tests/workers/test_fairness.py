"""Two sources share the Discourse budget and the worker fairly (bridge/ratelimit.py).

The ordering property, not timing: when one source has spent its share of
the window, another source's queued change goes first, on the same worker,
and the first source's group pass picks up where it stopped without reading
the forum again. The budget's minute is never waited out: the tests fill the
window by hand, and empty it as if the minute had passed.
"""

from __future__ import annotations

import secrets
import shutil

import pytest
from rq.job import Job
from rq.serializers import JSONSerializer

from bridge.ratelimit import ApiBudget, fair_reserve
from bridge.services import build_services
from config import load_config
from tests.conftest import API_TOKEN, ROOT
from web import create_app
from workers import queue as jobs
from workers import runtime
from workers.resumable import READS

LIMIT = 20  # the bridge's budget in these tests (the sandbox allows far more)
RESERVE = fair_reserve(LIMIT)
VYAZMA_TOKEN = "vyazma-token-" + secrets.token_hex(16)
GROUP_READS = "GET /groups/{name}/members.json"
USER_LIST = "GET /admin/users/list/{flag}.json"


@pytest.fixture
def federation(services, environ, tmp_path, sandbox):
    """The demo's two sources (institute: bare ids; vyazma) with their own tokens; the
    groups set up and the budget emptied. Yields (services, API client, headers).

    Built after the one-source `services` (whose Redis the `work` fixtures use), and
    put in its place for the jobs."""
    for name in ("roles.yml", "events.yml"):
        shutil.copy(ROOT / "config" / name, tmp_path / name)
    shutil.copytree(ROOT / "config" / "templates", tmp_path / "templates")
    shutil.copytree(ROOT / "config" / "demo", tmp_path / "demo")
    config = load_config({
        **environ,
        "BRIDGE_CONFIG_DIR": str(tmp_path / "demo"),
        "BRIDGE_API_TOKENS": f"institute:{API_TOKEN},vyazma:{VYAZMA_TOKEN}",
        "OIDC_INSTITUTE_CLIENT_SECRET": secrets.token_hex(8),
        "OIDC_VYAZMA_CLIENT_SECRET": secrets.token_hex(8),
        "DISCOURSE_MAX_REQS_PER_MINUTE": str(LIMIT),
    })
    services = build_services(config, budget_wait=1.0)
    services.redis.flushall()
    runtime.set_services(services)
    assert services.budget.reserve == RESERVE
    with unlimited(services):
        services.member_sync().setup_groups()
    headers = {"institute": {"Authorization": f"Bearer {API_TOKEN}"},
               "vyazma": {"Authorization": f"Bearer {VYAZMA_TOKEN}"}}
    yield services, create_app(services=services).test_client(), headers
    runtime.set_services(None)


class unlimited:  # noqa: N801 - reads as a phrase: `with unlimited(services):`
    """Setting the scene spends no budget: a budget too large to matter, then an empty window."""

    def __init__(self, services):
        self.services = services

    def __enter__(self):
        self.kept = self.services.discourse.budget
        self.services.discourse.budget = ApiBudget(self.services.redis, per_minute=100_000,
                                              key="test:setup-budget")

    def __exit__(self, *exc):
        self.services.discourse.budget = self.kept
        minute_passes(self.services)


def minute_passes(services) -> None:
    """Every slot leaves the window, as a minute later."""
    for key in services.redis.scan_iter(services.budget.key + "*"):
        services.redis.delete(key)


def spend(services, lane: str | None, slots: int) -> None:
    for _ in range(slots):
        assert services.budget.try_acquire(lane) == 0.0


def institute_row(i: int, shift: int = 0) -> dict:
    districts = ["город Смоленск", "Вяземский район", "Гагаринский район", "Рославльский район"]
    return {"external_id": f"t-{i:02d}", "email": f"t{i:02d}@school.example.org",
            "name": f"Учитель {i:02d}", "roles": ["participant"],
            "attributes": {"district": districts[(i + shift) % len(districts)]}}


def vyazma_body(role: str = "teacher") -> dict:
    return {"email": "v01@vyazma.example.org", "name": "Педагог Вязьмы", "roles": [role]}


def settled_federation(federation, sandbox, work_until_idle, institute_members: int):
    """Both sources' members with forum accounts, bound and in their groups."""
    services, client, headers = federation
    sandbox.seed(users=[{"username": f"t{i:02d}", "email": f"t{i:02d}@school.example.org",
                         "external_id": f"t-{i:02d}"} for i in range(institute_members)]
                 + [{"username": "v01", "email": "v01@vyazma.example.org",
                     "external_id": "vyazma:v-01"}])
    with unlimited(services):
        response = client.post("/api/v1/roster", headers=headers["institute"],
                               json=[institute_row(i) for i in range(institute_members)])
        assert response.status_code == 202, response.json
        response = client.put("/api/v1/members/v-01", json=vyazma_body(),
                              headers=headers["vyazma"])
        assert response.status_code == 202, response.json
        work_until_idle()
    assert "club" in sandbox.user("v01")["groups"]
    return services, client, headers


def test_the_last_slots_of_the_window_go_to_a_source_that_holds_few(federation):
    services, _, _ = federation
    spend(services, "institute", LIMIT - RESERVE)

    assert services.budget.try_acquire("institute") > 0  # its share of the window is spent
    assert services.budget.could_take("vyazma")
    spend(services, "vyazma", RESERVE)  # the reserve is the other source's
    assert services.budget.try_acquire("vyazma") > 0  # and the window is full
    assert services.budget.used() == LIMIT


def test_one_source_keeps_the_whole_window(services):
    assert services.budget.reserve == 0  # no sources.yml: nothing is held back
    budget = ApiBudget(services.redis, per_minute=5, key="test:one-source")
    assert [budget.try_acquire("default") for _ in range(5)] == [0.0] * 5


def test_another_sources_change_goes_first_while_a_member_job_waits_for_its_slot(
    federation, sandbox, work, work_until_idle,
):
    services, client, headers = settled_federation(federation, sandbox, work_until_idle, 2)
    spend(services, "institute", LIMIT - RESERVE)  # the institute has spent its share
    body = {k: v for k, v in institute_row(0).items() if k != "external_id"}
    first = client.put("/api/v1/members/t-00", headers=headers["institute"],
                       json=dict(body, roles=["jury"])).json["job_id"]
    second = client.put("/api/v1/members/v-01", headers=headers["vyazma"],
                        json=vyazma_body("mentor")).json["job_id"]

    work(max_jobs=2)  # ONE worker: the institute's job, then Vyazma's

    assert "vyazma-mo" in sandbox.user("v01")["groups"]  # Vyazma's change is on the forum
    assert jobs.job_state(services.redis_raw, second) == {
        "id": second, "status": "finished", "error": None, "source": "vyazma"}
    state = jobs.job_state(services.redis_raw, first)
    assert (state["status"], state["source"]) == ("queued", "institute")  # behind, not lost
    assert "jury" not in sandbox.user("t00")["groups"]

    minute_passes(services)
    work_until_idle()
    assert "jury" in sandbox.user("t00")["groups"]


def test_a_group_pass_gives_way_and_resumes_from_what_it_read(
    federation, sandbox, work, work_until_idle,
):
    members = 40  # more changes than a pass costs: the roster is one group pass
    services, client, headers = settled_federation(federation, sandbox, work_until_idle, members)
    # The pass gets five calls (its first reads), then only the reserve is left.
    spend(services, None, LIMIT - RESERVE - 5)
    before = sandbox.stats()["by_endpoint"].get(GROUP_READS, 0)
    response = client.post("/api/v1/roster", headers=headers["institute"],
                           json=[institute_row(i, shift=1) for i in range(members)],
                           query_string={"force": "true"})
    the_pass = response.json["job_id"]
    assert the_pass.startswith("groups-institute")
    vyazma = client.put("/api/v1/members/v-01", headers=headers["vyazma"],
                        json=vyazma_body("mentor")).json["job_id"]

    work(max_jobs=2)  # the pass reads a little and gives way; Vyazma's change goes

    assert jobs.job_state(services.redis_raw, vyazma)["status"] == "finished"
    assert "vyazma-mo" in sandbox.user("v01")["groups"]
    assert jobs.job_state(services.redis_raw, the_pass)["status"] == "queued"
    assert Job.fetch(the_pass, connection=services.redis_raw,
                     serializer=JSONSerializer).number_of_retries == 1
    assert any(field.startswith("group:") for field in services.redis.hkeys(READS))

    minute_passes(services)
    work_until_idle()

    assert jobs.job_state(services.redis_raw, the_pass)["status"] == "finished"
    assert not services.redis.exists(READS)  # a finished pass leaves no copy behind
    assert "r-gagarin" in sandbox.user("t01")["groups"]  # moved on one district
    reads = sandbox.stats()["by_endpoint"].get(GROUP_READS, 0) - before
    with unlimited(services):
        services.member_sync().read_groups()  # a pass's reads of the same groups, once each
    once = sandbox.stats()["by_endpoint"].get(GROUP_READS, 0) - before - reads
    assert reads == once  # the second run read nothing the first had read
    assert services.audit.newest()  # the writes before and after giving way are audited


def test_a_change_stored_while_a_pass_runs_is_left_to_its_own_job(
    services, sandbox, client, auth, work,
):
    """The pass plans from the members as it read them: a newer version is not its to
    record as applied (else that member's own job would find nothing to do)."""
    services.member_sync().setup_groups()
    sandbox.seed(users=[{"username": "t1", "email": "t1@example.org", "external_id": "t-1"}])
    body = {"email": "t1@example.org", "name": "Учитель", "roles": ["winner"]}
    client.put("/api/v1/members/t-1", json=body, headers=auth)
    work()
    assert "winners" in sandbox.user("t1")["groups"]

    class ChangeMidway:
        """The forum as it is, but the member changes while the pass reads it."""

        def __getattr__(self, name):
            return getattr(services.discourse, name)

        def staff_users(self):
            client.put("/api/v1/members/t-1", json=dict(body, roles=["jury"]), headers=auth)
            return services.discourse.staff_users()

    services.member_sync(discourse=ChangeMidway()).group_pass(cause="test")
    work()
    assert "jury" in sandbox.user("t1")["groups"]


def test_a_first_rosters_account_discovery_gives_way_and_reads_on(
    federation, sandbox, work, work_until_idle,
):
    """Thousands of unknown accounts take a page of the user list per hundred: the
    pass may give way between pages, and the next run reads on from the kept ones."""
    services, client, headers = settled_federation(federation, sandbox, work_until_idle, 1)
    newcomers = 150  # two pages of the user list
    sandbox.seed(users=[{"username": f"n{i:03d}", "email": f"n{i:03d}@school.example.org"}
                        for i in range(newcomers)])
    before = sandbox.stats()["by_endpoint"].get(USER_LIST, 0)
    # The institute holds its share already; one slot outside the reserve is left: the
    # pass gets one call (the first page), the reserve is the other source's.
    spend(services, "institute", RESERVE)
    spend(services, None, LIMIT - 2 * RESERVE - 1)
    roster = [institute_row(0)] + [
        {"external_id": f"n-{i:03d}", "email": f"n{i:03d}@school.example.org",
         "roles": ["participant"]} for i in range(newcomers)]
    the_pass = client.post("/api/v1/roster", headers=headers["institute"], json=roster,
                           query_string={"force": "true"}).json["job_id"]
    assert the_pass.startswith("groups-institute")
    vyazma = client.put("/api/v1/members/v-01", headers=headers["vyazma"],
                        json=vyazma_body("mentor")).json["job_id"]

    work(max_jobs=2)  # the pass reads one page and gives way; Vyazma's change goes

    assert jobs.job_state(services.redis_raw, vyazma)["status"] == "finished"
    assert jobs.job_state(services.redis_raw, the_pass)["status"] == "queued"
    assert services.redis.hexists(READS, "users:1")
    assert sandbox.stats()["by_endpoint"].get(USER_LIST, 0) - before == 1

    minute_passes(services)
    work_until_idle()

    assert jobs.job_state(services.redis_raw, the_pass)["status"] == "finished"
    # Two pages of active accounts, page 1 read once, and the staff list (same endpoint).
    assert sandbox.stats()["by_endpoint"].get(USER_LIST, 0) - before == 3
    assert "club" in sandbox.user("n149")["groups"]  # found by e-mail, then added
