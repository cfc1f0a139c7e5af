"""Browser-like helpers for driving the demo identity provider over real HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry
from werkzeug.serving import make_server

CLIENT_ID = "bridge-test"
CLIENT_SECRET = "bridge-test-secret"
REDIRECT_URI = "http://127.0.0.1:9/oidc/callback"
POST_LOGOUT_URI = "http://127.0.0.1:9/logged-out"
TIMEOUT = 5

CLIENTS = [
    {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [REDIRECT_URI],
        "post_logout_redirect_uris": [POST_LOGOUT_URI],
    }
]


@contextmanager
def serve(build_app) -> Iterator[str]:
    """Serve `build_app(base_url)` on a free loopback port, threaded; yield the base URL."""
    holder = {}

    def late_app(environ, start_response):
        return holder["app"](environ, start_response)

    server = make_server("127.0.0.1", 0, late_app, threaded=True)
    base_url = f"http://127.0.0.1:{server.server_port}"
    holder["app"] = build_app(base_url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base_url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def pkce_pair() -> tuple[str, str]:
    verifier = generate_token(64)
    return verifier, create_s256_code_challenge(verifier)


def authorize_params(challenge: str, **overrides: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile email",
        "state": generate_token(16),
        "nonce": generate_token(16),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def query_of(response: requests.Response) -> dict[str, str]:
    """The query parameters of a redirect's Location."""
    assert response.status_code == 302, response.text
    return dict(parse_qsl(urlsplit(response.headers["Location"]).query))


def redirect_base(response: requests.Response) -> str:
    parts = urlsplit(response.headers["Location"])
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self._current: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._current = {"action": attrs.get("action", ""), "fields": {}, "buttons": {}}
            self.forms.append(self._current)
        elif self._current is not None and tag == "input" and attrs.get("name"):
            self._current["fields"][attrs["name"]] = attrs.get("value", "")
        elif self._current is not None and tag == "button" and attrs.get("id"):
            self._current["buttons"][attrs["id"]] = attrs

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def buttons(page: requests.Response) -> dict[str, dict]:
    """Every button on the page by id, with its attributes."""
    parser = _Forms()
    parser.feed(page.text)
    return {bid: attrs for form in parser.forms for bid, attrs in form["buttons"].items()}


def click(
    browser: requests.Session, page: requests.Response, button_id: str, **fields: str
) -> requests.Response:
    """Submit the form holding `button_id`, as a browser would (redirects not followed)."""
    parser = _Forms()
    parser.feed(page.text)
    for form in parser.forms:
        if button_id in form["buttons"]:
            data = {**form["fields"], **fields}
            url = urljoin(page.url, form["action"])
            return browser.post(url, data=data, allow_redirects=False, timeout=TIMEOUT)
    raise AssertionError(f"no button #{button_id} on the page")


def exchange(
    idp_url: str,
    code: str,
    verifier: str | None,
    *,
    auth: tuple[str, str] | None = (CLIENT_ID, CLIENT_SECRET),
    **extra: str,
) -> requests.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    if verifier is not None:
        data["code_verifier"] = verifier
    data.update(extra)
    return requests.post(f"{idp_url}/token", data=data, auth=auth, timeout=TIMEOUT)


def verify_id_token(
    idp_url: str, id_token: str, *, nonce: str, access_token: str | None = None
) -> tuple[dict, dict]:
    """Verify signature and claims the way authlib's OIDC client does; return (header, claims)."""
    metadata = requests.get(f"{idp_url}/.well-known/openid-configuration", timeout=TIMEOUT).json()
    key_set = KeySet.import_key_set(requests.get(metadata["jwks_uri"], timeout=TIMEOUT).json())
    registry = JWSRegistry(algorithms=metadata["id_token_signing_alg_values_supported"])
    token = jwt.decode(id_token, key=key_set, registry=registry)
    params = {"nonce": nonce, "client_id": CLIENT_ID}
    if access_token:
        params["access_token"] = access_token
    claims = CodeIDToken(
        token.claims, token.header, {"iss": {"values": [metadata["issuer"]]}}, params
    )
    claims.validate(leeway=5)
    return dict(token.header), dict(claims)


def log_in(
    browser: requests.Session, idp_url: str, sub: str = "t-1001", **overrides: str
) -> tuple[dict[str, str], str, dict[str, str]]:
    """Run authorize + pick a teacher; return (authorize params, verifier, callback query)."""
    verifier, challenge = pkce_pair()
    params = authorize_params(challenge, **overrides)
    page = browser.get(f"{idp_url}/authorize", params=params, timeout=TIMEOUT)
    assert page.status_code == 200, page.text
    callback = query_of(click(browser, page, f"login-{sub}"))
    return params, verifier, callback
