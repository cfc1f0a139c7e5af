"""Who may open the admin pages: token holders and club administrators; CSRF on every POST."""

from __future__ import annotations

import pytest

from tests.conftest import API_TOKEN
from tests.support.admin import csrf_of, login, page_csrf, text
from tests.support.members import member_body
from web.admin.login import FREE_LOGIN_FAILURES
from web.admin.roster import ROSTER_PREFIX

PAGES = ["/admin/", "/admin/jobs/failed", "/admin/audit", "/admin/roster", "/admin/events",
         "/admin/members/t-1"]


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_visitor_is_sent_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/admin/login?next=")


def test_anonymous_post_changes_nothing(client, services):
    response = client.post("/admin/roster",
                           data={"roster_text": "external_id,email\na,a@example.org"})
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/admin/login")
    assert services.members.all_ids() == []
    assert not services.redis.keys(ROSTER_PREFIX + "*")


def test_login_with_a_good_token(client):
    response = login(client)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/"
    page = client.get("/admin/")
    assert page.status_code == 200
    assert "владелец токена «institute»" in text(page)


def test_login_returns_to_the_page_asked_for(client):
    first = client.get("/admin/audit?subject=member:t-1")
    login_page = client.get(first.headers["Location"])
    response = client.post("/admin/login", data={
        "token": "institute-token-bad", "csrf_token": csrf_of(text(login_page)),
        "next": "/admin/audit?subject=member:t-1"})
    assert response.status_code == 403
    response = client.post("/admin/login", data={
        "token": API_TOKEN, "csrf_token": csrf_of(text(login_page)),
        "next": "/admin/audit?subject=member:t-1"})
    assert response.headers["Location"] == "/admin/audit?subject=member:t-1"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/admin",
                                    "/sso?x=1", "/admin\\..\\x"])
def test_login_never_redirects_outside_admin(client, target):
    token_field = csrf_of(text(client.get("/admin/login")))
    response = client.post("/admin/login", data={"token": API_TOKEN, "csrf_token": token_field,
                                                  "next": target})
    assert response.headers["Location"] == "/admin/"


@pytest.mark.parametrize("token", ["", "wrong", "institute", " "])
def test_login_with_a_bad_token_is_refused(client, token):
    response = login(client, token)
    assert response.status_code == 403
    assert "Токен не подошёл" in text(response)
    assert client.get("/admin/").status_code == 303


def test_repeated_bad_logins_are_slowed_down(client):
    for _ in range(FREE_LOGIN_FAILURES):
        assert login(client, "wrong").status_code == 403
    response = login(client)  # even the right token waits now
    assert response.status_code == 429
    assert client.get("/admin/").status_code == 303


def test_login_without_csrf_token_is_refused(client):
    client.get("/admin/login")
    response = client.post("/admin/login", data={"token": API_TOKEN})
    assert response.status_code == 400
    assert "Форма устарела" in text(response)
    assert client.get("/admin/").status_code == 303


def test_actions_without_a_valid_csrf_token_are_refused(admin_client, services):
    for data in ({}, {"csrf_token": "forged"}, {"csrf_token": ""}):
        response = admin_client.post("/admin/jobs/failed/retry-all", data=data)
        assert response.status_code == 400
        response = admin_client.post("/admin/roster", data={
            **data, "roster_text": "external_id,email\na,a@example.org"})
        assert response.status_code == 400
    assert not services.redis.keys(ROSTER_PREFIX + "*")
    # The session is intact: the real token still works.
    token = page_csrf(admin_client)
    response = admin_client.post("/admin/jobs/failed/retry-all", data={"csrf_token": token})
    assert response.status_code == 303


def test_csrf_token_of_another_session_is_refused(admin_client, app):
    other = app.test_client()
    login(other)
    foreign = page_csrf(other)
    response = admin_client.post("/admin/jobs/failed/retry-all", data={"csrf_token": foreign})
    assert response.status_code == 400


def test_logout_ends_the_session(admin_client):
    response = admin_client.post("/admin/logout", data={"csrf_token": page_csrf(admin_client)})
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/login"
    assert admin_client.get("/admin/").status_code == 303


def test_a_rotated_token_ends_its_sessions(admin_client, services):
    services.settings.api_tokens["institute"] = "institute-token-rotated-0123456789"
    assert admin_client.get("/admin/").status_code == 303


def _sso_session(client, external_id):
    with client.session_transaction() as session:
        session["external_id"] = external_id


def test_club_administrator_from_the_oidc_login_is_let_in(client, auth, services):
    body = member_body(roles=["administrator"], email="admin@example.org")
    assert client.put("/api/v1/members/boss-1", json=body, headers=auth).status_code == 202
    _sso_session(client, "boss-1")
    page = client.get("/admin/")
    assert page.status_code == 200
    assert "администратор boss-1" in text(page)


@pytest.mark.parametrize("roles", [["winner"], ["moderator"]])
def test_other_members_are_not_let_in(client, auth, roles):
    body = member_body(roles=roles)
    assert client.put("/api/v1/members/t-9", json=body, headers=auth).status_code == 202
    _sso_session(client, "t-9")
    assert client.get("/admin/").status_code == 303
    page = client.get("/admin/login")
    assert "нет роли администратора" in text(page)


def test_an_offboarded_administrator_loses_access(client, auth):
    body = member_body(roles=["administrator"])
    client.put("/api/v1/members/boss-2", json=body, headers=auth)
    _sso_session(client, "boss-2")
    assert client.get("/admin/").status_code == 200
    assert client.delete("/api/v1/members/boss-2", headers=auth).status_code == 202
    assert client.get("/admin/").status_code == 303


def test_pages_are_phone_ready_and_locked_down(admin_client):
    for path in PAGES[:-1]:
        response = admin_client.get(path)
        assert response.status_code == 200
        body = text(response)
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in body
        assert '<html lang="ru">' in body
        assert "<script" not in body
        assert "<link" not in body
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Cache-Control"] == "no-store"
