"""The sandbox cooks posts as Discourse does, and draws the calendar's `[event]` as a card."""

from __future__ import annotations

from sandbox.discourse.cooking import cook, parse_attributes
from tests.support.events import announce


def test_markdown_is_cooked_like_discourse_with_its_default_settings():
    assert cook("1\n2") == "<p>1<br>\n2</p>\n"  # a newline is a line break
    assert cook('Тема "Учитель года" (c)') == "<p>Тема «Учитель года» ©</p>\n"  # typographer
    assert cook("См. https://example.org") == (
        '<p>См. <a href="https://example.org">https://example.org</a></p>\n')  # linkify
    assert cook("# Итоги\n\n- раз\n- два") == (
        "<h1>Итоги</h1>\n<ul>\n<li>раз</li>\n<li>два</li>\n</ul>\n")
    assert cook("<script>alert(1)</script> <b>x</b>") == (
        "<p>&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;x&lt;/b&gt;</p>\n")  # raw HTML escaped


def test_the_event_block_becomes_a_card_in_moscow_time():
    cooked = cook('[event start="2026-12-10 10:00" end="2026-12-10 12:00" timezone="Europe/Paris"'
                  ' status="public" name="Круглый стол \\"<b>\\"" location="Онлайн"'
                  ' url="https://vk.com/video-1"]\n[/event]\n\nТекст')
    assert cooked.startswith("<div class='discourse-post-event' data-start=\"2026-12-10 10:00\" "
                             'data-end="2026-12-10 12:00" data-timezone="Europe/Paris"')
    assert "10 декабря 2026, 12:00–14:00 (МСК)" in cooked  # Paris is two hours behind Moscow
    assert "Круглый стол &#34;&lt;b&gt;&#34;" in cooked
    assert "<span class='event-label'>Где:</span> Онлайн" in cooked
    assert "<a href='https://vk.com/video-1' rel='noopener nofollow ugc'>" in cooked
    assert "[event" not in cooked
    assert cooked.endswith("<p>Текст</p>\n")


def test_bbcode_attributes_unquote_like_the_plugin():
    assert parse_attributes(' start="2026-12-10 10:00" name="say \\"hi\\" \\\\ bye"') == {
        "start": "2026-12-10 10:00", "name": 'say "hi" \\ bye'}


def test_the_post_json_carries_the_cooked_card(sandbox, services, work):
    topic_id = announce(services, work)
    topic = sandbox.control.get(f"{sandbox.url}/t/{topic_id}.json", timeout=10)
    [first] = topic.json()["post_stream"]["posts"]
    assert "<div class='discourse-post-event'" in first["cooked"]
    assert "10 декабря 2026, 15:00–17:00 (МСК)" in first["cooked"]
    assert "<strong>Повестка:</strong> итоги года.<br>\nВторая строка." in first["cooked"]
