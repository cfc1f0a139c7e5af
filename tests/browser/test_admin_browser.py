"""The admin overview in a real (headless) Chromium: its charts of the last 24 hours.

A day of made-up but typical minutes is written to the series first: the idle
reconciliation's few calls, a roster import that fills the API budget for twenty
minutes and the queue behind it, two jobs that fail. Screenshots land in
tests/output/: the overview on a desktop and on a 360-px phone.
"""

from __future__ import annotations

import time

import pytest

from bridge import timeseries
from tests.conftest import API_TOKEN

from .chromium import DESKTOP, OUTPUT, PHONE, fits_the_screen, needs_chromium, wait_for

pytestmark = needs_chromium
IMPORT_STARTS = 9 * 60  # minutes ago


@pytest.fixture
def environ(environ):
    """Discourse's default admin API limit, so the budget chart shows its real line."""
    return {**environ, "DISCOURSE_MAX_REQS_PER_MINUTE": "60"}


def typical_minute(minutes_ago: int) -> dict[str, int]:
    importing = IMPORT_STARTS - 20 < minutes_ago <= IMPORT_STARTS
    after = minutes_ago <= IMPORT_STARTS
    backlog = max(0, 240 - 12 * (IMPORT_STARTS - minutes_ago)) if after else 0
    return {
        timeseries.CALLS: 55 if importing else (7 if minutes_ago % 5 == 0 else 0),
        timeseries.QUEUED: backlog,
        timeseries.FAILED: 2 if minutes_ago < IMPORT_STARTS - 20 else 0,
    }


@pytest.fixture
def a_day(services):
    now = time.time()
    pipe = services.redis.pipeline(transaction=False)
    for minutes_ago in range(1, 24 * 60 + 1):
        moment = now - minutes_ago * 60
        for name, value in typical_minute(minutes_ago).items():
            if name == timeseries.CALLS:
                timeseries.count(pipe, name, now=moment, amount=value)
            elif minutes_ago % 97:  # a worker was down now and then: gaps in the gauges
                timeseries.record(pipe, name, value, now=moment)
    pipe.execute()
    return services


def log_in_with_token(driver, bridge_url: str) -> None:
    driver.get(bridge_url + "/admin/login")
    wait_for(driver, "token").send_keys(API_TOKEN)
    driver.find_element("css selector", "form[action='/admin/login'] button").click()


def test_the_overview_shows_the_last_day_as_charts(driver, bridge, a_day):
    driver.set_window_size(*DESKTOP)
    log_in_with_token(driver, bridge.url)

    calls = wait_for(driver, "chart-calls")
    for key in ("calls", "queued", "failed"):
        svg = driver.find_element("css selector", f"#chart-{key} svg")
        assert svg.get_attribute("role") == "img"
        assert svg.size["width"] > 300
        assert svg.size["height"] > 80
    assert "пик 55" in calls.text
    assert "лимит 60 в минуту" in calls.text
    assert "пик 240" in wait_for(driver, "chart-queued").text
    assert "последнее значение 2" in wait_for(driver, "chart-failed").text
    driver.execute_script("document.getElementById('chart-calls').scrollIntoView()")
    driver.save_screenshot(str(OUTPUT / "admin-overview-charts.png"))
    wait_for(driver, "chart-calls").screenshot(str(OUTPUT / "admin-chart-calls.png"))

    driver.set_window_size(*PHONE)
    assert fits_the_screen(driver)
    driver.execute_script("document.getElementById('chart-calls').scrollIntoView()")
    driver.save_screenshot(str(OUTPUT / "admin-overview-charts-360.png"))
