"""create_app's contract: validation, custom users with passwords, production refusal."""

from __future__ import annotations

import pytest

from sandbox.idp import DEMO_USERS, SandboxRefusedError, create_app
from sandbox.idp.demo_users import DEMO_SUBS, demo_user

from .helpers import REDIRECT_URI, authorize_params, pkce_pair

CLIENT = {"client_id": "c1", "client_secret": "c1-secret", "redirect_uris": [REDIRECT_URI]}


def test_demo_roster_of_teachers():
    assert DEMO_SUBS == ("t-1001", "t-1002", "t-1003", "t-1004", "t-1005")
    for user in DEMO_USERS:
        assert user["email_verified"] is True
        assert user["name"].startswith(user["family_name"])
    assert demo_user("t-1005")["name"] == "Ёлкина Юлия Сергеевна"
    assert demo_user("nobody") is None


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"issuer": "http://idp", "clients": []}, ValueError),
        ({"issuer": "idp.local", "clients": [CLIENT]}, ValueError),
        ({"issuer": "http://idp", "clients": [{"client_id": "x"}]}, ValueError),
        (
            {"issuer": "http://idp", "clients": [{**CLIENT, "redirect_uris": REDIRECT_URI}]},
            TypeError,
        ),
        ({"issuer": "http://idp", "clients": [CLIENT, CLIENT]}, ValueError),
        ({"issuer": "http://idp", "clients": [CLIENT], "users": [{"sub": "x"}]}, ValueError),
    ],
)
def test_bad_configuration_is_refused(kwargs, error):
    with pytest.raises(error):
        create_app(**kwargs)


def test_refuses_to_build_in_production(monkeypatch):
    monkeypatch.setenv("BRIDGE_ENV", "production")
    with pytest.raises(SandboxRefusedError, match="BRIDGE_ENV=production"):
        create_app(issuer="http://idp", clients=[CLIENT])


def test_users_with_password_must_type_it():
    users = [
        {
            "sub": "u-1",
            "name": "Петрова Анна Ивановна",
            "email": "petrova@example.org",
            "email_verified": True,
            "password": "верный-пароль",
        }
    ]
    app = create_app(issuer="http://idp", clients=[CLIENT], users=users)
    client = app.test_client()
    _, challenge = pkce_pair()
    params = authorize_params(challenge, client_id="c1")
    page = client.get("/authorize", query_string=params)
    assert 'id="password-u-1"' in page.text
    assert "Пароль не нужен" not in page.text
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"csrf_token": csrf, "decision": "login", "login_sub": "u-1"}

    wrong = client.post("/authorize", query_string=params, data={**form, "password": "нет"})
    assert wrong.status_code == 401
    assert "Неверный пароль" in wrong.text

    right = client.post(
        "/authorize", query_string=params, data={**form, "password": "верный-пароль"}
    )
    assert right.status_code == 302
    assert right.headers["Location"].startswith(REDIRECT_URI + "?code=")


def test_index_and_health_pages():
    client = create_app(issuer="http://idp:4300/", clients=[CLIENT]).test_client()
    assert client.get("/_idp/health").json == {"status": "ok", "issuer": "http://idp:4300"}
    index = client.get("/")
    assert index.status_code == 200
    assert "Демо-сервер входа" in index.text
