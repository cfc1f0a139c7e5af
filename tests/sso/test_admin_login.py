"""Administrators reach /admin with their institute account; other members do not."""

from __future__ import annotations

from tests.support.flow import click, get


def test_an_administrator_signs_in_to_the_admin_pages(bridge, idp_issuer, members, browser,
                                                      services):
    members("t-1003", 2, roles=["administrator"])
    start = get(browser, bridge.url + "/admin/login")
    assert 'id="institute-login"' in start.last.text
    page = get(browser, bridge.url + "/auth/admin").last
    assert "/authorize" in page.url
    done = click(browser, page, "login-t-1003")
    assert done.last.url == bridge.url + "/admin"
    assert done.last.status_code == 200
    assert "<h1>Обзор</h1>" in done.last.text


def test_a_member_without_the_role_is_not_let_in(bridge, idp_issuer, members, browser):
    page = get(browser, bridge.url + "/auth/admin").last
    done = click(browser, page, "login-t-1001")
    assert done.last.url.startswith(bridge.url + "/admin/login")
    assert "нет роли администратора" in done.last.text


def test_the_admin_login_never_replies_to_the_forum(bridge, idp_issuer, members, browser):
    page = get(browser, bridge.url + "/auth/admin").last
    done = click(browser, page, "login-t-1003")
    assert not any("/session/sso_login" in url for url in done.urls)
