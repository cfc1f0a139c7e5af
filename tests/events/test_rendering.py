"""What reaches the forum, as text: fixed expected Russian for each kind of events.yml."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest

from bridge.events import EventIn, topic_external_id
from bridge.rendering import (
    calendar_block,
    edit_reason,
    render_event,
    render_title,
    russian_when,
)
from config import load_mappings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mappings():
    return load_mappings(ROOT / "config")


def desired(**overrides) -> dict:
    body = {
        "title": "Педагогический марафон",
        "kind": "seminar",
        "starts_at": "2026-12-03T12:00:00Z",  # 15:00 in Moscow
        "ends_at": "2026-12-03T17:00:00+03:00",
        "location": "Смоленск, ул. Октябрьской революции, 20а",
        "description": "Ведущая — **Иванова М. П.**\n\n- функциональная грамотность\n- PISA",
        "audience": ["winner", "laureate"],
    }
    body.update(overrides)
    return EventIn.model_validate(body).desired()


def render(mappings, **overrides):
    roles, events = mappings
    return render_event(desired(**overrides), external_id="ev-1", config=events, roles=roles)


CALENDAR = (
    '[event start="2026-12-03 15:00" end="2026-12-03 17:00" timezone="Europe/Moscow" '
    'status="public" name="Педагогический марафон" '
    'location="Смоленск, ул. Октябрьской революции, 20а"]\n[/event]'
)
FACTS = (
    "**Когда:** 3 декабря 2026, 15:00–17:00 (МСК)\n"
    "**Место:** Смоленск, ул\\. Октябрьской революции, 20а\n"
    "**Для кого:** Победитель, Лауреат"
)
DESCRIPTION = "Ведущая — **Иванова М. П.**\n\n- функциональная грамотность\n- PISA"

EXPECTED = {
    "forum": f"{CALENDAR}\n\n**Форум** «Педагогический марафон»\n\n{FACTS}\n\n{DESCRIPTION}\n\n"
    "Вопросы и обсуждение — в ответах к этой теме.",
    "seminar": f"{CALENDAR}\n\n**Семинар** «Педагогический марафон»\n\n{FACTS}\n\n"
    f"{DESCRIPTION}\n\nВопросы и обсуждение — в ответах к этой теме.",
    "round_table": f"{CALENDAR}\n\n**Круглый стол** «Педагогический марафон»\n\n{FACTS}\n\n"
    f"{DESCRIPTION}\n\nВопросы и обсуждение — в ответах к этой теме.",
    "master_class": f"{CALENDAR}\n\nПриглашаем на мастер-класс «Педагогический марафон».\n\n"
    f"{FACTS}\n\n{DESCRIPTION}\n\n"
    "Вопросы ведущему можно задать заранее в ответах к этой теме.",
    "contest": f"{CALENDAR}\n\n**Конкурс** «Педагогический марафон»\n\n"
    + FACTS.replace("**Когда:**", "**Сроки проведения:**")
    + f"\n\n{DESCRIPTION}\n\nВопросы об условиях конкурса — в ответах к этой теме.",
    "webinar": f"{CALENDAR}\n\n**Вебинар** «Педагогический марафон»\n\n{FACTS}\n\n"
    f"{DESCRIPTION}\n\n"
    "Подключайтесь за несколько минут до начала. Вопросы — в ответах к этой теме.",
}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_each_kind_renders_its_template(mappings, kind):
    rendered = render(mappings, kind=kind)
    assert rendered.raw == EXPECTED[kind]
    assert rendered.title == "Педагогический марафон — 3 декабря 2026"
    assert rendered.closed is False


def test_every_kind_of_events_yml_has_an_expected_text(mappings):
    assert set(mappings[1].kinds) == set(EXPECTED)


def test_webinar_link_and_cancellation(mappings):
    rendered = render(mappings, kind="webinar", location=None, url="https://vk.com/video-1",
                      status="cancelled", audience=[], description="")
    assert rendered.raw == (
        "**Мероприятие отменено.**\n\n"
        "**Вебинар** «Педагогический марафон»\n\n"
        "**Когда:** 3 декабря 2026, 15:00–17:00 (МСК)\n"
        "**Ссылка для подключения:** <https://vk.com/video-1>"
    )
    assert rendered.title == "ОТМЕНЕНО: Педагогический марафон — 3 декабря 2026"
    assert rendered.closed is True


def test_calendar_can_be_switched_off(mappings):
    roles, events = mappings
    off = type(events)(calendar=False, categories=events.categories, kinds=events.kinds,
                       templates_dir=events.templates_dir)
    raw = render_event(desired(), external_id="ev-1", config=off, roles=roles).raw
    assert "[event" not in raw
    assert raw.startswith("**Семинар**")


def test_calendar_attributes_are_escaped():
    block = calendar_block(
        desired(title='Клуб "Учитель" [итоги]', url="https://x.ru/?a=1&b=\"2\""),
        kind_label="Семинар",
    )
    # Discourse's BBCode parser knows no escapes: what would end the value is replaced.
    assert "name=\"Клуб 'Учитель' (итоги)\"" in block
    assert 'url="https://x.ru/?a=1&b=%222%22"' in block
    assert block.count("]") == 2  # the opening tag's end and [/event]


@pytest.mark.parametrize(
    ("start", "end", "text"),
    [
        ("2026-12-03T15:00:00+03:00", "2026-12-03T17:00:00+03:00",
         "3 декабря 2026, 15:00–17:00 (МСК)"),
        ("2026-12-03T15:00:00+03:00", "2026-12-04T12:00:00+03:00",
         "3 декабря 2026, 15:00 — 4 декабря 2026, 12:00 (МСК)"),
        ("2026-01-01T09:30:00+03:00", "2026-01-01T09:30:00+03:00", "1 января 2026, 09:30 (МСК)"),
        ("2026-05-09T22:00:00Z", "2026-05-09T23:30:00Z",
         "10 мая 2026, 01:00–02:30 (МСК)"),
        ("2026-03-01T00:00:00+03:00", "2026-03-01T23:59:00+03:00", "1 марта 2026 (весь день)"),
        ("2026-03-01T00:00:00+03:00", "2026-03-05T23:59:00+03:00",
         "1 марта 2026 — 5 марта 2026"),
    ],
)
def test_russian_when(start, end, text):
    assert russian_when(datetime.fromisoformat(start), datetime.fromisoformat(end)) == text


def test_titles_stay_within_discourse_limits():
    long = desired(title="Очень " * 42, status="cancelled")  # 252 characters
    for level in range(3):
        title = render_title(long, external_id="ev-1", level=level)
        assert len(title) <= 255
        assert title.startswith("ОТМЕНЕНО: Очень")
    assert render_title(desired(), external_id="ev-1", level=1) == (
        "Педагогический марафон — 3 декабря 2026, 15:00"
    )
    assert re.fullmatch(r"Педагогический марафон — 3 декабря 2026, 15:00 \(№ [0-9a-f]{6}\)",
                        render_title(desired(), external_id="ev-1", level=2))


def test_content_hash_follows_what_the_forum_shows(mappings):
    base = render(mappings)
    assert base.content_hash == render(mappings).content_hash
    # Same instant written in another offset: same text, same hash, no write.
    assert render(mappings, starts_at="2026-12-03T15:00:00+03:00").content_hash == (
        base.content_hash
    )
    assert render(mappings, description="другое").content_hash != base.content_hash
    assert render(mappings, kind="contest").content_hash != base.content_hash


def test_topic_external_ids_are_valid_distinct_and_stable():
    ids = ["a", "A", "ev.2026:forum-1", "ev-2026-forum-1", "ev_2026_forum_1", "x" * 64,
           "Z.:-_" * 12]
    derived = [topic_external_id(i) for i in ids]
    assert len({d.lower() for d in derived}) == len(ids)  # Discourse ignores case
    for value in derived + [topic_external_id("x" * 64, 999)]:
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,50}", value)
    assert topic_external_id("ev.2026:forum-1") == topic_external_id("ev.2026:forum-1")
    assert topic_external_id("ev-1", 2) == topic_external_id("ev-1") + "-g2"
    assert topic_external_id("ev.2026:forum-1").startswith("ev-ev-2026-forum-1-")


def test_edit_reasons_name_the_change():
    before = desired()
    assert edit_reason(before, desired(location="Онлайн")) == (
        "Обновлено из системы института: изменилось место проведения"
    )
    assert edit_reason(before, desired(title="Другое", location="Онлайн")) == (
        "Обновлено из системы института: изменились название, место проведения"
    )
    assert edit_reason(before, desired(status="cancelled")) == (
        "Обновлено из системы института: мероприятие отменено"
    )
    assert edit_reason(None, before) == "Обновлено из системы института"
