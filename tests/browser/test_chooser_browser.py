"""The federation's chooser page in a real (headless) Chromium, on a phone and on a desktop.

forum login link -> bridge /sso: the chooser -> the chosen source's identity provider;
the next login offers the remembered choice first. The bridge is the two-source
federation of tests/federation (the institute and the Vyazma centre, each with its
own demo identity provider). Screenshots land in tests/output/: chooser-360.png and
chooser-desktop.png (the second visit, the first choice focused).
"""

from __future__ import annotations

import pytest

from tests.support.federation import app_config, environ, idp_servers, issuers  # noqa: F401

from .chromium import DESKTOP, OUTPUT, PHONE, fits_the_screen, needs_chromium, wait_for

pytestmark = [needs_chromium, pytest.mark.usefixtures("bridge")]


def open_chooser(driver, forum_url: str, bridge_url: str) -> list[str]:
    """From the forum's login link to the chooser; the choices, top to bottom."""
    driver.get(forum_url + "/")
    wait_for(driver, "login-link").click()
    wait_for(driver, "chooser-title")
    assert driver.current_url.startswith(bridge_url + "/sso?")
    return driver.execute_script(
        "return [...document.querySelectorAll('[data-testid^=source-]')]"
        ".map(a => a.dataset.testid)"
    )


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
                    outline: style.outlineStyle, width: parseFloat(style.outlineWidth),
                    left: box.left, right: box.right, height: box.height};
        """))
    return stops


def assert_keyboard_friendly(driver, order: list[str]) -> None:
    """Tab reaches every choice in `order`, then the forum link; the focus is visible."""
    stops = focus_stops(driver, len(order) + 1)
    assert [stop["testid"] for stop in stops] == [*order, "forum-link"]
    width = driver.execute_script("return window.innerWidth")
    for stop in stops[:-1]:
        assert stop["focused"], stop
        assert stop["outline"] != "none", stop  # the focus is visible
        assert stop["width"] >= 2, stop
        assert stop["height"] >= 48, stop  # a finger-sized target
        assert 0 <= stop["left"] < stop["right"] <= width, stop


@pytest.mark.parametrize(("size", "shot"), [(PHONE, "chooser-360.png"),
                                             (DESKTOP, "chooser-desktop.png")])
def test_the_chooser_leads_to_the_chosen_provider_and_remembers_it(
    driver, forum, bridge, issuers, size, shot  # noqa: F811 - the imported fixture
):
    driver.set_window_size(*size)
    first = open_chooser(driver, forum.url, bridge.url)
    assert first == ["source-institute", "source-vyazma"]  # as sources.yml lists them
    assert driver.find_elements("css selector", "[data-testid=last-choice]") == []
    assert fits_the_screen(driver)
    assert_keyboard_friendly(driver, first)

    wait_for(driver, "source-vyazma").click()
    wait_for(driver, "login-v-2002")  # the district centre's teachers, not the institute's
    assert driver.current_url.startswith(issuers["vyazma"] + "/authorize")

    again = open_chooser(driver, forum.url, bridge.url)  # the choice is offered, not taken
    assert again == ["source-vyazma", "source-institute"]
    marked = wait_for(driver, "source-vyazma").text
    assert "Вы входили через эту организацию в прошлый раз" in marked
    assert fits_the_screen(driver)
    assert_keyboard_friendly(driver, again)

    driver.refresh()  # the screenshot shows the first choice focused, as a keyboard leaves it
    wait_for(driver, "chooser-title")
    driver.execute_script("window.scrollTo(0, 0)")
    assert focus_stops(driver, 1)[0]["testid"] == "source-vyazma"
    driver.save_screenshot(str(OUTPUT / shot))

    wait_for(driver, "source-institute").click()
    wait_for(driver, "login-t-1001")
    assert driver.current_url.startswith(issuers["institute"] + "/authorize")
