"""Headless Chromium for the browser tests: where it is, how to wait, what fits a phone.

Screenshots land in tests/output/ (gitignored).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
OUTPUT = Path(__file__).resolve().parent.parent / "output"
PHONE = (360, 740)
DESKTOP = (1280, 800)
WAIT = 15

needs_chromium = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="headless Chromium and chromedriver are not installed "
    "(`make test` installs them when run as root: apt-get install chromium chromium-driver)",
)


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
