"""Bad admin tokens slow down the address that sends them, and only that address.

Behind a reverse proxy every request comes from the proxy: the bridge takes
the client's address from `X-Forwarded-For`, but only for as many hops as
`BRIDGE_TRUSTED_PROXIES` says (else anyone could name any address).
"""

from __future__ import annotations

import pytest

from tests.conftest import API_TOKEN
from tests.support.admin import csrf_of, text
from web.admin import login as admin

ATTACKER = "203.0.113.5"
COLLEAGUE = "198.51.100.7"


def login_from(client, token: str, *, forwarded_for: str | None = None,
               remote_addr: str = "127.0.0.1"):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    environ = {"REMOTE_ADDR": remote_addr}
    page = client.get("/admin/login", headers=headers, environ_base=environ)
    return client.post("/admin/login", data={"token": token, "csrf_token": csrf_of(text(page))},
                       headers=headers, environ_base=environ)


def lockout_seconds(services, address: str) -> int:
    return services.redis.ttl(admin.LOGIN_LOCK_PREFIX + address)


class TestBehindAProxy:
    @pytest.fixture
    def environ(self, environ):
        return {**environ, "BRIDGE_TRUSTED_PROXIES": "1"}

    def test_one_client_guessing_does_not_lock_out_another(self, app):
        attacker, colleague = app.test_client(), app.test_client()
        for _ in range(10):
            response = login_from(attacker, "wrong-token", forwarded_for=ATTACKER)
            assert response.status_code in (403, 429)

        assert login_from(attacker, API_TOKEN, forwarded_for=ATTACKER).status_code == 429
        assert login_from(colleague, API_TOKEN, forwarded_for=COLLEAGUE).status_code == 303

    def test_only_the_proxy_own_hop_is_trusted(self, app, services):
        """A client cannot pick its address by sending its own X-Forwarded-For first."""
        client = app.test_client()
        for forged in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"):
            login_from(client, "wrong-token", forwarded_for=f"{forged}, {ATTACKER}")

        assert lockout_seconds(services, ATTACKER) > 0
        assert login_from(client, API_TOKEN, forwarded_for=f"10.9.9.9, {ATTACKER}").status_code \
            == 429


def test_without_a_trusted_proxy_forwarded_for_is_ignored(app, services):
    client = app.test_client()
    for number in range(admin.FREE_LOGIN_FAILURES):
        assert login_from(client, "wrong-token", forwarded_for=f"10.0.0.{number}",
                          remote_addr=ATTACKER).status_code == 403

    response = login_from(client, API_TOKEN, forwarded_for="10.0.0.99", remote_addr=ATTACKER)
    assert response.status_code == 429
    assert "Слишком много неудачных попыток" in text(response)
    assert int(response.headers["Retry-After"]) > 0


def test_the_lockout_doubles_with_each_further_failure(app, services):
    client = app.test_client()
    for _ in range(admin.FREE_LOGIN_FAILURES):
        login_from(client, "wrong-token", remote_addr=ATTACKER)
    first = lockout_seconds(services, ATTACKER)
    assert 0 < first <= admin.FIRST_LOCKOUT

    seen = [admin.FIRST_LOCKOUT]
    for _ in range(3):
        services.redis.delete(admin.LOGIN_LOCK_PREFIX + ATTACKER)  # as if the lockout ran out
        assert login_from(client, "wrong-token", remote_addr=ATTACKER).status_code == 403
        seen.append(lockout_seconds(services, ATTACKER))
    for shorter, longer in zip(seen, seen[1:], strict=False):
        assert longer > shorter * 1.5  # doubled, give or take a second of TTL rounding
    assert seen[-1] <= admin.MAX_LOCKOUT


def test_a_good_login_forgets_the_address_failures(app, services):
    client = app.test_client()
    for _ in range(admin.FREE_LOGIN_FAILURES - 1):
        login_from(client, "wrong-token", remote_addr=ATTACKER)
    assert login_from(client, API_TOKEN, remote_addr=ATTACKER).status_code == 303

    client.post("/admin/logout", data={"csrf_token": csrf_of(text(client.get("/admin/")))})
    for _ in range(admin.FREE_LOGIN_FAILURES - 1):
        assert login_from(client, "wrong-token", remote_addr=ATTACKER).status_code == 403
    assert login_from(client, API_TOKEN, remote_addr=ATTACKER).status_code == 303


def test_ipv6_clients_are_throttled_by_their_network(app, services):
    """One IPv6 client holds a whole /64: counting single addresses would not slow it."""
    client = app.test_client()
    for host in range(1, admin.FREE_LOGIN_FAILURES + 1):
        login_from(client, "wrong-token", remote_addr=f"2001:db8:1:2::{host}")

    assert login_from(client, API_TOKEN, remote_addr="2001:db8:1:2::ff").status_code == 429
    assert login_from(client, API_TOKEN, remote_addr="2001:db8:1:3::1").status_code == 303
