"""Reliability: Discourse failing, a worker killed mid-job, Redis restarted.

In every case the forum ends in exactly the desired state and nothing is lost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.conftest import ROOT
from tests.support.forum import seed_accounts
from tests.support.members import roster
from workers.queue import job_state

N = 30
ACCOUNTS = range(0, N, 2)


def expected_groups(services, i: int) -> list[str]:
    member = services.members.get(f"t-{i}")
    return sorted(member.grants(services.config.roles).groups)


def assert_converged(forum, services) -> None:
    users = {u["username"]: u for u in forum.state()["users"]}
    for i in ACCOUNTS:
        assert sorted(users[f"acc{i}"]["groups"]) == expected_groups(services, i), f"acc{i}"


def prepare(forum, client, auth, role_of=None):
    seed_accounts(forum, *[(f"t-{i}", f"acc{i}", f"teacher{i}@example.org") for i in ACCOUNTS])
    response = client.post("/api/v1/roster", json=roster(N, role_of=role_of), headers=auth)
    assert response.status_code == 202
    return response.json["job_id"]


def test_discourse_errors_timeouts_and_429_bursts(client, auth, forum, services,
                                                  work_until_idle):
    forum.faults(error_rate=0.25, rate_limit_burst=4, timeout_rate=0.05, timeout_sleep_s=4,
                 seed=7)
    prepare(forum, client, auth)
    for i in (0, 2, 4):  # single changes on top, while the forum misbehaves
        body = {"email": f"teacher{i}@example.org", "name": "Учитель", "roles": ["jury"],
                "attributes": {"district": "город Смоленск"}}
        assert client.put(f"/api/v1/members/t-{i}", json=body, headers=auth).status_code == 202
    work_until_idle(timeout=120)
    stats = forum.stats()
    assert stats["faulted"] > 0
    forum.clear_faults()
    assert_converged(forum, services)
    assert sorted(forum.user("acc0")["groups"]) == ["club", "jury", "r-smolensk"]


def test_redis_restart_loses_nothing(client, auth, forum, services, redis_server, work):
    job_id = prepare(forum, client, auth)
    time.sleep(1.2)  # AOF is fsynced every second
    redis_server.process.send_signal(signal.SIGKILL)  # a crash, not a clean shutdown
    redis_server.process.wait()
    redis_server.start()
    # The web process reconnects by itself.
    assert client.get("/api/v1/members/t-0", headers=auth).status_code == 200
    assert job_state(services.redis_raw, job_id)["status"] == "queued"
    work()
    assert_converged(forum, services)


@pytest.fixture
def worker_process(environ, tmp_path):
    started = []

    def start():
        log = open(tmp_path / f"worker{len(started)}.log", "w")  # noqa: SIM115
        env = {**os.environ, **environ, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            process.kill()
            process.wait()


def test_worker_killed_mid_job_resumes(client, auth, forum, services, worker_process):
    forum.faults(latency_ms=1000)  # every call takes a second: the pass takes ~20 s
    job_id = prepare(forum, client, auth)
    first = worker_process()
    deadline = time.monotonic() + 30
    while job_state(services.redis_raw, job_id)["status"] != "started":
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.1)
    time.sleep(4)  # well inside the pass: some calls made, most not
    # SIGKILL the worker and the work horse it forked for the job (RQ puts the horse
    # in a session of its own), as a crash of the machine would.
    for process in [*psutil.Process(first.pid).children(recursive=True),
                    psutil.Process(first.pid)]:
        process.kill()
    first.wait()
    forum.clear_faults()
    assert services.members.dirty_ids(), "the pass should not have finished"
    worker_process()
    deadline = time.monotonic() + 60
    while services.members.dirty_ids():
        assert time.monotonic() < deadline, "work did not resume within 60 s"
        time.sleep(0.5)
    assert_converged(forum, services)


def test_redis_down_answers_503_and_stores_nothing(client, auth, services, redis_server):
    redis_server.stop()
    try:
        body = {"email": "teacher0@example.org", "roles": ["winner"], "version": 1}
        response = client.put("/api/v1/members/t-0", json=body, headers=auth)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert response.json["error"] == "unavailable"
    finally:
        redis_server.start()
    assert services.members.get("t-0") is None
    assert client.put("/api/v1/members/t-0", json=body, headers=auth).status_code == 202
