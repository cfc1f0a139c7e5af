"""The federation's chooser page in a real (headless) Chromium, on a phone and on a desktop.

Screenshots land in tests/output/: chooser-360.png and chooser-desktop.png.
"""

from __future__ import annotations

import pytest
from flask import request

from sso import pages

from .chromium import DESKTOP, OUTPUT, PHONE, fits_the_screen, needs_chromium, wait_for
from .federation import app_config, environ, source_idps, source_issuers, sources_dir  # noqa: F401

pytestmark = [needs_chromium]


@pytest.fixture
def chooser_route(app, bridge):
    """Interim: the chooser page at /_chooser until /sso answers it."""

    def show():
        sources = app.config["SERVICES"].config.sources
        choices = [
            {"code": s.code, "name": s.name, "url": f"{bridge.url}/_chooser?source={s.code}"}
            for s in sources.sources.values()
        ]
        return pages.chooser(choices, request.args.get("last"))

    app.add_url_rule("/_chooser", "chooser", show)
    return bridge.url + "/_chooser"


def focus_stops(driver, count: int) -> list[dict]:
    """Press Tab `count` times on a freshly loaded page; what has the focus after each."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    stops = []
    for _ in range(count):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        stops.append(driver.execute_script("""
            const el = document.activeElement, style = getComputedStyle(el);
            const box = el.getBoundingClientRect();
            return {testid: el.dataset.testid || el.id, focused: el.matches(":focus"),
                    outline: style.outlineStyle,
                    width: parseFloat(style.outlineWidth), left: box.left, right: box.right,
                    height: box.height};
        """))
    return stops


def choices(driver) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll('[data-testid^=source-]')]"
        ".map(a => a.dataset.testid)"
    )


@pytest.mark.parametrize(("size", "shot"), [(PHONE, "chooser-360.png"),
                                             (DESKTOP, "chooser-desktop.png")])
def test_every_choice_is_a_big_link_reachable_by_tab(driver, forum, chooser_route, size, shot):
    driver.set_window_size(*size)
    driver.get(chooser_route + "?last=vyazma")

    wait_for(driver, "chooser-title")
    assert choices(driver) == ["source-vyazma", "source-institute"]
    assert "в прошлый раз" in wait_for(driver, "source-vyazma").text
    assert fits_the_screen(driver)

    stops = focus_stops(driver, 3)
    assert [stop["testid"] for stop in stops] == ["source-vyazma", "source-institute", "forum-link"]
    width = driver.execute_script("return window.innerWidth")
    for stop in stops[:2]:
        assert stop["focused"], stop
        assert stop["outline"] != "none", stop  # the focus is visible
        assert stop["width"] >= 2, stop
        assert stop["height"] >= 48, stop  # a finger-sized target
        assert 0 <= stop["left"] < stop["right"] <= width, stop
    driver.refresh()  # the screenshot shows the first choice focused, as a keyboard leaves it
    wait_for(driver, "chooser-title")
    driver.execute_script("window.scrollTo(0, 0)")
    assert focus_stops(driver, 1)[0]["testid"] == "source-vyazma"
    driver.save_screenshot(str(OUTPUT / shot))
