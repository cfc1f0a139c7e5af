"""The browser tests: headless Chromium driven by selenium, screenshots in tests/output/.

The login tests use the login flow's fixtures: the bridge on `bridge_port`, the forum
with its managed groups, the demo teachers in the roster.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.sso.conftest import (  # noqa: F401 - fixtures
    bridge,
    bridge_server,
    environ,
    forum,
    idp_issuer,
    members,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
OUTPUT = Path(__file__).resolve().parent.parent / "output"
PHONE = (360, 740)
WAIT = 15

#: Every browser test skips cleanly on a machine without Chromium.
needs_chromium = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="headless Chromium and chromedriver are not installed "
    "(`make test` installs them when run as root: apt-get install chromium chromium-driver)",
)


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
