"""``python -m sandbox.idp --host 127.0.0.1 --port 4300``: run the demo identity provider.

``--organisation vyazma`` runs the Vyazma centre's provider (its own teachers,
its own name on the pages) instead of the institute's; `make run` starts one
process per demo organisation, each with its own signing key.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys

from werkzeug.serving import make_server

from .app import SandboxRefusedError, create_organisation_app, refuse_in_production
from .demo_users import DEMO_ORGANISATIONS

DEFAULT_CLIENT_ID = "teacher-club-bridge"
DEFAULT_REDIRECT_URIS = "http://127.0.0.1:5000/oidc/callback"
DEFAULT_POST_LOGOUT_REDIRECT_URIS = "http://127.0.0.1:5000/"


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def main(argv: list[str] | None = None) -> int:
    try:
        refuse_in_production()
    except SandboxRefusedError as error:
        print(f"sandbox.idp: {error}", file=sys.stderr)
        return 2

    parser = argparse.ArgumentParser(
        prog="python -m sandbox.idp", description="Demo OpenID Connect identity provider."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4300)
    parser.add_argument("--organisation", choices=sorted(DEMO_ORGANISATIONS), default="institute",
                        help="whose teachers and name the provider shows (default: institute)")
    args = parser.parse_args(argv)
    organisation = DEMO_ORGANISATIONS[args.organisation]

    public_host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host  # noqa: S104
    issuer = os.environ.get("SANDBOX_IDP_ISSUER") or f"http://{public_host}:{args.port}"
    client_secret = os.environ.get("SANDBOX_IDP_CLIENT_SECRET")
    generated_secret = not client_secret
    if generated_secret:
        client_secret = secrets.token_urlsafe(24)
    client = {
        "client_id": os.environ.get("SANDBOX_IDP_CLIENT_ID") or DEFAULT_CLIENT_ID,
        "client_secret": client_secret,
        "redirect_uris": _split(
            os.environ.get("SANDBOX_IDP_REDIRECT_URIS") or DEFAULT_REDIRECT_URIS
        ),
        "post_logout_redirect_uris": _split(
            os.environ.get("SANDBOX_IDP_POST_LOGOUT_REDIRECT_URIS")
            or DEFAULT_POST_LOGOUT_REDIRECT_URIS
        ),
    }

    logging.basicConfig(level=logging.INFO, format="%(asctime)s sandbox.idp %(message)s")
    try:
        app = create_organisation_app(organisation.code, issuer=issuer, clients=[client])
        server = make_server(args.host, args.port, app, threaded=True)
    except (ValueError, OSError) as error:
        print(f"sandbox.idp: cannot start: {error}", file=sys.stderr)
        return 1

    print(f"Demo identity provider of {organisation.code}: {issuer}", flush=True)
    print(f"  discovery:     {issuer}/.well-known/openid-configuration", flush=True)
    print(f"  client_id:     {client['client_id']}", flush=True)
    if generated_secret:
        print(
            f"  client_secret: {client_secret} (generated; set SANDBOX_IDP_CLIENT_SECRET)",
            flush=True,
        )
    print(f"  redirect_uris: {', '.join(client['redirect_uris'])}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
