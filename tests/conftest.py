"""Shared fixtures: a real Redis server, the sandbox Discourse and the demo
identity provider over real HTTP, the app, and real RQ workers."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import requests
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from bridge.redis_server import EmbeddedRedis
from bridge.services import build_services
from config import AppConfig, load_mappings
from config.settings import load_settings
from tests.support.servers import ThreadedServer, free_port
from workers import runtime
from workers.queue import queue

ROOT = Path(__file__).resolve().parent.parent
API_KEY = secrets.token_hex(32)
CONNECT_SECRET = secrets.token_hex(24)
API_TOKEN = "institute-token-" + secrets.token_hex(16)
OIDC_CLIENT_ID = "bridge"
OIDC_CLIENT_SECRET = secrets.token_hex(16)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = EmbeddedRedis(port=free_port(), data_dir=tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def bridge_port():
    return free_port()


@pytest.fixture(scope="session")
def sandbox_server(bridge_port):
    from sandbox.discourse import create_app

    app = create_app(
        api_key=API_KEY,
        connect_secret=CONNECT_SECRET,
        connect_url=f"http://127.0.0.1:{bridge_port}/sso",
        logout_redirect=f"http://127.0.0.1:{bridge_port}/logout",
        max_admin_api_reqs_per_minute=100_000,
    )
    server = ThreadedServer(app).start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server, request):
    """The sandbox Discourse, emptied before each test; `sandbox.url`, `sandbox.control`.

    After the test, every request the bridge sent must have passed the official
    Discourse OpenAPI spec (the sandbox validates each one): a violation fails
    the test loudly. Tests that send invalid requests on purpose are marked
    `spec_violations_expected`.
    """
    control = requests.Session()
    control.post(sandbox_server.url + "/_sandbox/reset", timeout=5).raise_for_status()
    handle = SandboxHandle(sandbox_server.url, control)
    yield handle
    if request.node.get_closest_marker("spec_violations_expected") is None:
        violations = handle.stats().get("spec_violations") or []
        assert violations == [], f"requests the Discourse spec refuses: {violations[:3]}"


class SandboxHandle:
    def __init__(self, url: str, control: requests.Session):
        self.url = url
        self.control = control

    def state(self) -> dict:
        return self.control.get(self.url + "/_sandbox/state", timeout=10).json()

    def stats(self) -> dict:
        return self.control.get(self.url + "/_sandbox/stats", timeout=10).json()

    def seed(self, **data) -> dict:
        response = self.control.post(self.url + "/_sandbox/seed", json=data, timeout=30)
        response.raise_for_status()
        return response.json()

    def faults(self, **faults) -> None:
        self.control.post(self.url + "/_sandbox/faults", json=faults, timeout=5).raise_for_status()

    def clear_faults(self) -> None:
        self.control.delete(self.url + "/_sandbox/faults", timeout=5).raise_for_status()

    def settings(self, **values) -> None:
        self.control.post(self.url + "/_sandbox/settings", json=values, timeout=5)

    def user(self, username: str) -> dict | None:
        return next((u for u in self.state()["users"] if u["username"] == username), None)

    def group_members(self, name: str) -> set[str]:
        group = next(g for g in self.state()["groups"] if g["name"] == name)
        return set(group["members"])


@pytest.fixture(scope="session")
def idp_server(bridge_port):
    from sandbox.idp import create_app

    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    app = create_app(
        issuer=issuer,
        clients=[
            {
                "client_id": OIDC_CLIENT_ID,
                "client_secret": OIDC_CLIENT_SECRET,
                "redirect_uris": [f"http://127.0.0.1:{bridge_port}/auth/callback"],
                "post_logout_redirect_uris": [f"http://127.0.0.1:{bridge_port}/logout/done"],
            }
        ],
    )
    server = ThreadedServer(app, port=port).start()
    yield server
    server.stop()


def make_environ(*, redis_url: str, discourse_url: str, bridge_port: int, issuer: str, **extra):
    environ = {
        "BRIDGE_ENV": "development",
        "DISCOURSE_URL": discourse_url,
        "DISCOURSE_API_KEY": API_KEY,
        "DISCOURSE_CONNECT_SECRET": CONNECT_SECRET,
        "DISCOURSE_MAX_REQS_PER_MINUTE": "100000",
        "DISCOURSE_TIMEOUT": "3",
        "REDIS_URL": redis_url,
        "BRIDGE_SECRET_KEY": secrets.token_hex(16),
        "BRIDGE_PUBLIC_URL": f"http://127.0.0.1:{bridge_port}",
        "BRIDGE_API_TOKENS": f"institute:{API_TOKEN}",
        "OIDC_ISSUER": issuer,
        "OIDC_CLIENT_ID": OIDC_CLIENT_ID,
        "OIDC_CLIENT_SECRET": OIDC_CLIENT_SECRET,
        "BRIDGE_CONFIG_DIR": str(ROOT / "config"),
    }
    environ.update({k: str(v) for k, v in extra.items()})
    return environ


@pytest.fixture
def environ(redis_server, sandbox, bridge_port):
    issuer = "http://127.0.0.1:9"  # replaced by the login tests, which start the IdP
    return make_environ(
        redis_url=redis_server.url,
        discourse_url=sandbox.url,
        bridge_port=bridge_port,
        issuer=issuer,
    )


@pytest.fixture
def app_config(environ) -> AppConfig:
    settings = load_settings(environ)
    roles, events = load_mappings(settings.config_dir)
    return AppConfig(settings=settings, roles=roles, events=events)


@pytest.fixture
def services(app_config, redis_server):
    built = build_services(app_config, budget_wait=5.0)
    built.redis.flushall()
    runtime.set_services(built)
    yield built
    runtime.set_services(None)


@pytest.fixture
def app(services):
    from web import create_app

    flask_app = create_app(services=services)
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    """The app's command line (`flask --app wsgi …`): `runner.invoke(args=["doctor"])`."""
    return app.test_cli_runner()


@pytest.fixture
def auth():
    return {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
def work(services):
    """Run the queued jobs to completion with a real RQ worker (burst mode)."""

    def run(*, max_jobs: int | None = None) -> None:
        worker = SimpleWorker(
            [queue(services.redis_raw)],
            connection=services.redis_raw,
            serializer=JSONSerializer,
        )
        worker.work(burst=True, with_scheduler=False, max_jobs=max_jobs)

    return run


@pytest.fixture
def work_until_idle(services):
    """Run workers (with the scheduler, for delayed retries) until nothing is left to do."""
    import time

    def run(*, timeout: float = 60.0) -> None:
        q = queue(services.redis_raw)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            SimpleWorker([q], connection=services.redis_raw, serializer=JSONSerializer).work(
                burst=True, with_scheduler=True
            )
            pending = len(q) + q.scheduled_job_registry.count
            if pending == 0 and not services.members.dirty_ids():
                return
            time.sleep(0.3)
        raise AssertionError(f"work left after {timeout} s: {len(q)} queued, "
                             f"{q.scheduled_job_registry.count} scheduled")

    return run
