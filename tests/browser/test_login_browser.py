"""A teacher's login in a real (headless) Chromium: forum -> bridge -> identity provider -> forum.

Screenshots land in tests/output/ (gitignored): the identity provider's and the bridge's
pages as a 360-px-wide phone shows them, and the forum after login.
"""

from __future__ import annotations

import pytest

from .chromium import DESKTOP, OUTPUT, PHONE, fits_the_screen, needs_chromium, wait_for

pytestmark = [needs_chromium, pytest.mark.usefixtures("bridge")]


def test_teacher_logs_in_from_the_forum(driver, forum, members, idp_issuer):
    driver.set_window_size(*PHONE)
    driver.get(forum.url + "/")
    wait_for(driver, "login-link").click()

    teacher = wait_for(driver, "login-t-1001")  # the identity provider's page, no page between
    assert driver.current_url.startswith(idp_issuer + "/authorize")
    assert fits_the_screen(driver)
    driver.save_screenshot(str(OUTPUT / "login-idp-360.png"))
    teacher.click()

    current = wait_for(driver, "current-user")
    assert "Иванова Мария Петровна" in current.text
    assert driver.current_url == forum.url + "/"
    driver.save_screenshot(str(OUTPUT / "login-forum-360.png"))
    driver.set_window_size(*DESKTOP)
    driver.save_screenshot(str(OUTPUT / "login-result.png"))

    user = next(u for u in forum.state()["users"] if u["external_id"] == "t-1001")
    assert set(user["groups"]) == {"club", "participants", "r-vyazma"}


def test_non_member_sees_how_to_join_on_a_phone(driver, forum, members, bridge):
    driver.set_window_size(*PHONE)
    driver.get(forum.url + "/")
    wait_for(driver, "login-link").click()
    wait_for(driver, "login-t-1004").click()

    join = wait_for(driver, "join-info")
    assert driver.current_url.startswith(bridge.url + "/auth/callback")
    assert "Смоленский областной институт развития образования" in join.text
    assert wait_for(driver, "error-title").text
    assert fits_the_screen(driver)
    driver.save_screenshot(str(OUTPUT / "bridge-not-member-360.png"))
    assert forum.state()["users"] == []


def test_refused_consent_offers_a_retry_on_a_phone(driver, forum, members, bridge):
    driver.set_window_size(*PHONE)
    driver.get(forum.url + "/")
    wait_for(driver, "login-link").click()
    wait_for(driver, "deny").click()

    retry = wait_for(driver, "retry-link")
    assert driver.current_url.startswith(bridge.url + "/auth/callback")
    assert fits_the_screen(driver)
    driver.save_screenshot(str(OUTPUT / "bridge-error-360.png"))

    retry.click()  # back through the forum, with a fresh nonce
    wait_for(driver, "login-t-1001").click()
    assert "Иванова Мария Петровна" in wait_for(driver, "current-user").text
