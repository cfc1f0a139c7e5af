"""A teacher's login in a real (headless) Chromium: forum -> bridge -> identity provider -> forum.

Screenshots land in tests/output/ (gitignored): the identity provider's and the bridge's
pages as a 360-px-wide phone shows them, and the forum after login.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
OUTPUT = Path(__file__).resolve().parent.parent / "output"
PHONE = (360, 740)
WAIT = 15

pytestmark = [
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="headless Chromium and chromedriver are not installed "
        "(`make test` installs them when run as root: apt-get install chromium chromium-driver)",
    ),
    pytest.mark.usefixtures("bridge"),
]


@pytest.fixture
def driver(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--lang=ru",
    ):
        options.add_argument(argument)
    browser = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    browser.set_page_load_timeout(WAIT)
    OUTPUT.mkdir(exist_ok=True)
    yield browser
    browser.quit()


def wait_for(driver, element_id: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT).until(
        expected_conditions.visibility_of_element_located((By.ID, element_id))
    )


def fits_the_screen(driver) -> bool:
    """No sideways scrolling: the page is no wider than the window."""
    return driver.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth"
    )


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
    driver.set_window_size(1280, 800)
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
