"""An announcement as teachers will see it: the sandbox forum's topic page in headless Chromium.

Screenshots land in tests/output/: the topic with its event card on a 360-px phone and
on a desktop screen.
"""

from __future__ import annotations

from tests.browser.chromium import OUTPUT, PHONE, fits_the_screen, needs_chromium, wait_for
from tests.support.events import announce

pytestmark = needs_chromium


def test_an_announcement_shows_its_event_card(driver, sandbox, services, work):
    topic_id = announce(services, work)

    driver.set_window_size(*PHONE)
    driver.get(f"{sandbox.url}/t/{topic_id}")
    post = wait_for(driver, "first-post")
    card = post.find_element("css selector", ".discourse-post-event .event-card")
    assert "Семинар «Цифровая школа: первые шаги»" in card.text
    assert "10 декабря 2026, 15:00–17:00 (МСК)" in card.text
    assert "Смоленск, ул. Октябрьской революции, 20а" in card.text
    assert "[event" not in post.text
    assert "Повестка:" in [b.text for b in post.find_elements("css selector", "strong")]
    assert fits_the_screen(driver)
    driver.save_screenshot(str(OUTPUT / "forum-event-card-360.png"))
    driver.set_window_size(1280, 800)
    driver.save_screenshot(str(OUTPUT / "forum-event-card.png"))
