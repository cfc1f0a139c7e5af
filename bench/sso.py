"""Benchmark: how long a teacher's login takes, over real HTTP.

    .venv/bin/python -m bench.sso [--n 200] [--warmup 30] [--profile]

Starts its own Redis, the sandbox Discourse and the demo identity provider
(each a process of its own, as `make run` starts them) and the bridge under
gunicorn (`--workers 2 --threads 4`, as `make run` and the README's
deployment), puts one demo teacher in the roster through the API, then
measures, n times each after a warm-up:

- entry step: `GET /sso` with a validly signed DiscourseConnect request from a
  browser without a bridge session, answered by the redirect to the identity
  provider. Sent with http.client on one kept-alive connection: a scripted
  browser built on requests spends 0.5-2 ms of its own per redirect (cookie
  jar, eager redirect resolution), more than the step itself.
- round trip: forum `/session/sso` -> bridge `/sso` -> IdP `/authorize` (its
  login page) -> the teacher's button -> bridge `/auth/callback` (code, token,
  ID token) -> forum `/session/sso_login` -> the forum's front page, logged in;
  walked by the scripted browser of the tests (`tests/support/flow.py`), whose
  cookies are cleared before each login, as a new browser's would be.

Prints the median, p95 and maximum of each, in milliseconds.

`--profile` serves the bridge in this process instead (werkzeug's threaded
server behind its ProfilerMiddleware: cProfile around each request), walks n
logins and prints where `/sso` and `/auth/callback` spend their time.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import os
import pstats
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO
from urllib.parse import urlencode, urlsplit

import requests
from werkzeug.middleware.profiler import ProfilerMiddleware
from werkzeug.serving import make_server

from bench.environment import ROOT, free_port
from bridge import discourse_connect
from bridge.redis_server import EmbeddedRedis
from config import load_config
from config.logging import configure_logging
from sandbox.run import wait_for
from tests.support import flow
from web import create_app

TEACHER = {
    "external_id": "t-1001",  # a demo teacher of sandbox/idp/demo_users.py
    "email": "ivanova.mp@teachers.example.org",
    "name": "Иванова Мария Петровна",
    "roles": ["winner"],
    "version": 1,
}
GUNICORN = [str(Path(sys.executable).parent / "gunicorn"), "--workers", "2", "--threads", "4"]
PROFILED_PATHS = ("/sso", "/auth/callback")


@dataclass
class LoginStand:
    forum: str
    bridge: str
    issuer: str
    connect_secret: str
    api_token: str
    bridge_env: dict[str, str] = field(default_factory=dict)  # the web process's environment


@contextlib.contextmanager
def login_stand(log: TextIO, *, profile_dir: Path | None = None) -> Iterator[LoginStand]:
    """Redis, the sandbox forum, the demo IdP and the bridge, each in its own process.

    With `profile_dir`, the bridge runs in this process instead, profiled.
    """
    forum, issuer, bridge = (f"http://127.0.0.1:{free_port()}" for _ in range(3))
    connect_secret, api_key, client_secret = (secrets.token_hex(24) for _ in range(3))
    stand = LoginStand(forum=forum, bridge=bridge, issuer=issuer, connect_secret=connect_secret,
                       api_token=secrets.token_hex(16))
    children: list[subprocess.Popen] = []

    def start(command: list[str], env: dict[str, str]) -> None:
        children.append(subprocess.Popen(  # noqa: S603 - our own interpreter and gunicorn
            command, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=log))

    with tempfile.TemporaryDirectory() as data_dir:
        redis_server = EmbeddedRedis(port=free_port(), data_dir=Path(data_dir)).start()
        try:
            start([sys.executable, "-m", "sandbox.discourse", "--port", _port(forum)], {
                "SANDBOX_API_KEY": api_key, "SANDBOX_CONNECT_SECRET": connect_secret,
                "SANDBOX_CONNECT_URL": bridge + "/sso",
                "SANDBOX_MAX_ADMIN_API_REQS_PER_MINUTE": "100000",
            })
            start([sys.executable, "-m", "sandbox.idp", "--port", _port(issuer)], {
                "SANDBOX_IDP_ISSUER": issuer, "SANDBOX_IDP_CLIENT_ID": "bench",
                "SANDBOX_IDP_CLIENT_SECRET": client_secret,
                "SANDBOX_IDP_REDIRECT_URIS": bridge + "/auth/callback",
            })
            wait_for(forum + "/srv/status", name="sandbox Discourse")
            wait_for(issuer + "/.well-known/openid-configuration", name="identity provider")
            stand.bridge_env.update({
                "BRIDGE_ENV": "development",
                "DISCOURSE_URL": forum, "DISCOURSE_API_KEY": api_key,
                "DISCOURSE_CONNECT_SECRET": connect_secret,
                "DISCOURSE_MAX_REQS_PER_MINUTE": "100000",
                "REDIS_URL": redis_server.url,
                "BRIDGE_SECRET_KEY": secrets.token_hex(16), "BRIDGE_PUBLIC_URL": bridge,
                "BRIDGE_API_TOKENS": f"bench:{stand.api_token}",
                "OIDC_ISSUER": issuer, "OIDC_CLIENT_ID": "bench",
                "OIDC_CLIENT_SECRET": client_secret,
                "BRIDGE_CONFIG_DIR": str(ROOT / "config"),
            })
            if profile_dir is None:
                start([*GUNICORN, "-b", bridge.removeprefix("http://"), "wsgi:app"],
                      stand.bridge_env)
            else:
                _serve_profiled(stand, profile_dir, log)
            wait_for(bridge + "/healthz", name="bridge")
            yield stand
        finally:
            for child in reversed(children):
                child.terminate()
                child.wait(timeout=15)
            redis_server.stop()


def _port(url: str) -> str:
    return url.rsplit(":", 1)[1]


def _serve_profiled(stand: LoginStand, profile_dir: Path, log: TextIO) -> None:
    """The bridge in a daemon thread of this process, one cProfile dump per request."""
    with contextlib.redirect_stderr(log):
        configure_logging("INFO", process="web")  # the web process's logging, into the log
    app = create_app(load_config(stand.bridge_env))
    app.wsgi_app = ProfilerMiddleware(
        app.wsgi_app, stream=None, profile_dir=str(profile_dir),
        filename_format=lambda environ: f"{environ['PATH_INFO'].strip('/').replace('/', '.')}"
                                        f".{uuid.uuid4().hex}.prof",
    )
    server = make_server("127.0.0.1", int(_port(stand.bridge)), app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def add_teacher(stand: LoginStand) -> None:
    """The teacher joins the roster the way the institute's system sends it."""
    body = {key: value for key, value in TEACHER.items() if key != "external_id"}
    response = requests.put(f"{stand.bridge}/api/v1/members/{TEACHER['external_id']}",
                            json=body, headers={"Authorization": f"Bearer {stand.api_token}"},
                            timeout=10)
    response.raise_for_status()


def signed_request(stand: LoginStand) -> str:
    """The query string Discourse puts on its redirect to `/sso`, with a fresh nonce."""
    sso, sig = discourse_connect.sign(
        {"nonce": secrets.token_hex(16), "return_sso_url": stand.forum + "/session/sso_login"},
        stand.connect_secret,
    )
    return urlencode({"sso": sso, "sig": sig})


def entry_step(stand: LoginStand, connection: http.client.HTTPConnection) -> None:
    """`GET /sso` from a browser without a bridge session: straight on to the IdP."""
    connection.request("GET", "/sso?" + signed_request(stand))
    response = connection.getresponse()
    response.read()
    location = response.getheader("Location") or ""
    if response.status != 302 or not location.startswith(stand.issuer + "/authorize?"):
        raise SystemExit(f"/sso answered {response.status}, not the redirect to the IdP")


def round_trip(stand: LoginStand, browser: requests.Session) -> None:
    """The whole login, from the forum's link back to the forum, as a new browser."""
    browser.cookies.clear()
    trace = flow.log_in(browser, stand.forum, TEACHER["external_id"])
    if trace.last.url != stand.forum + "/" or "current-user" not in trace.last.text:
        raise SystemExit(f"the login did not end on the forum: {' -> '.join(trace.urls)}")


def timed(step: Callable[[], None], *, n: int, warmup: int) -> list[float]:
    """Milliseconds of each of `n` runs, after `warmup` untimed ones."""
    for _ in range(warmup):
        step()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        step()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summary(label: str, samples: list[float]) -> str:
    p95 = statistics.quantiles(samples, n=20, method="inclusive")[18]
    median = statistics.median(samples)
    return (f"{label:>11}: n={len(samples)}  median {median:6.2f} ms  p95 {p95:6.2f} ms "
            f"(median + {100 * (p95 / median - 1):3.0f} %)  max {max(samples):6.2f} ms")


def measure(args: argparse.Namespace, log: TextIO) -> None:
    with login_stand(log) as stand, requests.Session() as browser:
        add_teacher(stand)
        print("bridge: gunicorn --workers 2 --threads 4; sandbox Discourse and demo IdP: "  # noqa: T201
              "werkzeug threaded servers, each a process of its own")
        bridge = urlsplit(stand.bridge)
        connection = http.client.HTTPConnection(bridge.hostname, bridge.port, timeout=10)
        entry = timed(lambda: entry_step(stand, connection), n=args.n, warmup=args.warmup)
        connection.close()
        print(summary("entry step", entry))  # noqa: T201
        trips = timed(lambda: round_trip(stand, browser), n=args.n, warmup=args.warmup)
        print(summary("round trip", trips))  # noqa: T201


def profile(args: argparse.Namespace, log: TextIO) -> None:
    with tempfile.TemporaryDirectory() as folder, login_stand(
            log, profile_dir=Path(folder)) as stand, requests.Session() as browser:
        add_teacher(stand)
        for _ in range(args.warmup):  # the first login reads the discovery document and keys
            round_trip(stand, browser)
        for dump in Path(folder).iterdir():
            dump.unlink()
        for _ in range(args.n):
            round_trip(stand, browser)
        for path in PROFILED_PATHS:
            prefix = path.strip("/").replace("/", ".") + "."
            dumps = [str(p) for p in Path(folder).iterdir() if p.name.startswith(prefix)]
            report = io.StringIO()
            stats = pstats.Stats(*dumps, stream=report)
            stats.files = []  # not a hundred lines of dump file names
            stats.sort_stats("cumulative").print_stats(args.top)
            print(f"== {path}: {len(dumps)} requests, cumulative time\n{report.getvalue()}")  # noqa: T201


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="timed runs of each measurement")
    parser.add_argument("--warmup", type=int, default=30, help="untimed runs before them")
    parser.add_argument("--profile", action="store_true",
                        help="profile /sso and /auth/callback in this process instead")
    parser.add_argument("--top", type=int, default=25, help="functions shown per profile")
    parser.add_argument("--log", type=Path, default=Path(tempfile.gettempdir()) / "bench-sso.log",
                        help="where the processes' own output goes")
    args = parser.parse_args()
    with args.log.open("a") as log:
        (profile if args.profile else measure)(args, log)


if __name__ == "__main__":
    main()
