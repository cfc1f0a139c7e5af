"""The sandbox Discourse on a real port (werkzeug make_server in a thread), with its clock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import requests
from werkzeug.serving import make_server

from sandbox.discourse import create_app
from sandbox.discourse.context import EXTENSION_KEY

API_KEY = "test-api-key-0123456789"
SECRET = "connect-secret-0123456789"
CONNECT_URL = "http://bridge.test/sso"


class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Forum:
    base: str
    app: object
    clock: FakeClock
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def ctx(self):
        return self.app.extensions[EXTENSION_KEY]

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Api-Key": API_KEY, "Api-Username": "system", **kwargs.pop("headers", {})}
        kwargs.setdefault("allow_redirects", False)
        return self.session.request(method, self.base + path, headers=headers, **kwargs)

    def control(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, self.base + "/_sandbox" + path, **kwargs)

    def seed(self, **data) -> dict:
        response = self.control("POST", "/seed", json=data)
        assert response.status_code == 200, response.text
        return response.json()

    def stats(self) -> dict:
        return self.control("GET", "/stats").json()

    def state(self) -> dict:
        return self.control("GET", "/state").json()


def serve(limit: int = 60) -> Iterator[Forum]:
    clock = FakeClock()
    app = create_app(
        api_key=API_KEY,
        connect_secret=SECRET,
        connect_url=CONNECT_URL,
        logout_redirect=None,
        max_admin_api_reqs_per_minute=limit,
        clock=clock,
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Forum(f"http://127.0.0.1:{server.server_port}", app, clock)
    finally:
        server.shutdown()
        thread.join(5)
