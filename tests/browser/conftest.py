"""The browser tests use the login flow's fixtures: the bridge on `bridge_port`, the forum
with its managed groups, the demo teachers in the roster; and a headless Chromium."""

import pytest

from tests.support.live_bridge import (  # noqa: F401 - fixtures
    bridge,
    bridge_server,
    environ,
    forum,
    idp_issuer,
)
from tests.support.members import members  # noqa: F401 - fixture

from .chromium import CHROMEDRIVER, CHROMIUM, OUTPUT, WAIT


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
