"""`python -m sandbox.discourse --host 127.0.0.1 --port 4200`."""

from __future__ import annotations

import argparse
import atexit
import os
import signal
import sys
import threading
import time
from pathlib import Path

from werkzeug.serving import WSGIRequestHandler, run_simple

from config.settings import is_production


class QuietHandler(WSGIRequestHandler):
    """The app logs one line per request itself, without query strings (secrets)."""

    def log_request(self, *args, **kwargs) -> None:  # noqa: ARG002
        return None


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        sys.exit(f"sandbox-discourse: {name} must be an integer")


def _persist(store, path: Path, every: float = 3.0) -> None:
    """Load the forum's content from `path`, then write it back every few seconds and at exit."""
    if path.exists():
        store.restore(path.read_bytes())
        print(f"sandbox-discourse: content loaded from {path}", file=sys.stderr)

    def save() -> None:
        data = store.snapshot()
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(data)
        temporary.replace(path)

    def loop() -> None:
        while True:
            time.sleep(every)
            save()

    path.parent.mkdir(parents=True, exist_ok=True)
    threading.Thread(target=loop, daemon=True).start()
    atexit.register(save)

    def stop(*_args) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second TERM must not cut the save
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)


def main(argv: list[str] | None = None) -> int:
    if is_production():  # the environment, then `.env`: as the bridge reads it
        print(
            "sandbox-discourse: refusing to start with BRIDGE_ENV=production "
            "(the sandbox is for development and tests only)",
            file=sys.stderr,
        )
        return 2
    parser = argparse.ArgumentParser(prog="python -m sandbox.discourse")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4200)
    parser.add_argument("--api-key", default=os.environ.get("SANDBOX_API_KEY"))
    parser.add_argument("--api-username", default=os.environ.get("SANDBOX_API_USERNAME", "system"))
    parser.add_argument("--connect-secret", default=os.environ.get("SANDBOX_CONNECT_SECRET"))
    parser.add_argument("--connect-url", default=os.environ.get("SANDBOX_CONNECT_URL"))
    parser.add_argument("--logout-redirect", default=os.environ.get("SANDBOX_LOGOUT_REDIRECT"))
    parser.add_argument(
        "--max-admin-api-reqs-per-minute",
        type=int,
        default=_env_int("SANDBOX_MAX_ADMIN_API_REQS_PER_MINUTE", 60),
    )
    parser.add_argument("--no-validate-spec", action="store_true")
    parser.add_argument(
        "--state-file", default=os.environ.get("SANDBOX_STATE_FILE"),
        help="keep the forum's content in this file across restarts",
    )
    args = parser.parse_args(argv)
    problems = []
    if not args.api_key:
        problems.append("SANDBOX_API_KEY (or --api-key) is required")
    if not args.connect_secret:
        problems.append("SANDBOX_CONNECT_SECRET (or --connect-secret) is required")
    if args.connect_url and args.connect_url.endswith("/"):
        problems.append("SANDBOX_CONNECT_URL must not end with a slash")
    if args.max_admin_api_reqs_per_minute < 1:
        problems.append("SANDBOX_MAX_ADMIN_API_REQS_PER_MINUTE must be >= 1")
    if problems:
        for problem in problems:
            print(f"sandbox-discourse: {problem}", file=sys.stderr)
        return 2
    from . import create_app

    app = create_app(
        api_key=args.api_key,
        api_username=args.api_username,
        connect_secret=args.connect_secret,
        connect_url=args.connect_url,
        logout_redirect=args.logout_redirect,
        max_admin_api_reqs_per_minute=args.max_admin_api_reqs_per_minute,
        validate_spec=not args.no_validate_spec,
    )
    if args.state_file:
        _persist(app.extensions["sandbox_discourse"].store, Path(args.state_file))
    print(f"sandbox-discourse: listening on http://{args.host}:{args.port}/", file=sys.stderr)
    run_simple(
        args.host, args.port, app, threaded=True, use_reloader=False, request_handler=QuietHandler
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
