"""Hostile event text: whatever the institute (or a feed) sends, the announcement never
@mentions anyone, carries one `[event]` block at most, and shows title, location and
url as plain text.

The checks model what Discourse does with the raw text, read from its source:
mentions are found in text tokens only (not inside links), where the `@` follows
the start, whitespace or punctuation (`discourse-markdown/text-post-process.js`,
`mentions.js`); BBCode attributes are parsed by `ATTR_REGEX`, which knows no
escapes and ends the tag at the first `]` (`bbcode-block.js`).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bridge.events import EventIn
from bridge.rendering import calendar_block, render_event
from config import load_mappings

ROOT = Path(__file__).resolve().parents[2]

EVENT_OPEN = re.compile(r"\[\s*event", re.IGNORECASE)
EVENT_CLOSE = re.compile(r"\[\s*/\s*event", re.IGNORECASE)
AUTOLINK = re.compile(r"<https?://[^<>\s]*>")
URL_ATTRIBUTE = re.compile(r' url="[^"]*"')
MENTION = re.compile(r"@(\w[\w.-]{0,58}[^\W_]|\w)")
# bbcode-block.js: ATTR_REGEX, flags gi.
ATTRIBUTE = re.compile(
    r"""^\s*=(.+)$|((([a-z0-9]*)\s*)=)(["“”][^“”"]*["“”]|['][^']*[']|[^"'“”]\S*)""",
    re.IGNORECASE,
)


@pytest.fixture(scope="module")
def mappings():
    return load_mappings(ROOT / "config")


def render(mappings, **fields) -> str:
    roles, events = mappings
    body = {"title": "Заседание клуба", "kind": "seminar",
            "starts_at": "2026-12-03T15:00:00+03:00", "ends_at": "2026-12-03T17:00:00+03:00"}
    body.update(fields)
    desired = EventIn.model_validate(body).desired()
    return render_event(desired, external_id="ev-1", config=events, roles=roles).raw


def mentions(raw: str) -> list[str]:
    """The @names Discourse would link and notify (links and URL attributes skipped)."""
    text = URL_ATTRIBUTE.sub("", AUTOLINK.sub("", raw))
    found = []
    for match in MENTION.finditer(text):
        before = text[match.start() - 1] if match.start() else " "
        if before.isspace() or unicodedata.category(before)[0] in "PS":
            found.append(match.group())
    return found


def event_attributes(raw: str) -> dict[str, str]:
    """The attributes the calendar plugin reads from the post's first line."""
    line = raw.split("\n", 1)[0]
    assert line.startswith("[event ")
    end = line.index("]")  # the tag ends at the first "]", and nothing may follow it
    assert line[end + 1 :].strip() == "", line
    attributes = {}
    for match in ATTRIBUTE.finditer(line[len("[event") : end]):
        key = "_default" if match.group(1) else match.group(4)
        value = (match.group(1) or match.group(5) or "").strip()
        attributes[key] = re.sub(r"""^["'“”](.*)["'“”]$""", r"\1", value)
    return attributes


# -- one hostile input at a time ---------------------------------------------------------


def test_title_and_location_are_plain_text(mappings):
    raw = render(mappings, title="Вход [по ссылке](https://evil.example/login) **срочно**",
                 location="<img src=x onerror=alert(1)> `код` [b]жирный[/b] ~~зачёркнуто~~")
    assert "](https://evil" not in raw
    assert "\\[по ссылке\\]\\(https\\://evil\\.example/login\\) \\*\\*срочно\\*\\*" in raw
    assert "**Место:** \\<img src=x onerror=alert\\(1\\)\\> \\`код\\` \\[b\\]жирный\\[/b\\]" in raw
    body = raw.split("\n", 1)[1]  # the [event] line holds the location as an attribute
    assert not re.search(r"(?<!\\)<img", body)


def test_newlines_do_not_break_out_of_a_line(mappings):
    raw = render(mappings, title="Семинар\n\n# Заголовок", location="Смоленск\r\n[event start=x]")
    assert "«Семинар \\# Заголовок»" in raw
    assert "\n#" not in raw
    assert len(EVENT_OPEN.findall(raw)) == 1


def test_description_never_mentions(mappings):
    raw = render(mappings, description="Ждём всех: @club, @winners и @ivanova_mp!\n"
                 "@admins &#64;club &#x40;winners &commat;moderators **@club**")
    assert mentions(raw) == []
    assert "**\u200d@club**" in raw  # the rest of the Markdown is left alone


def test_e_mail_addresses_stay_as_they_are(mappings):
    raw = render(mappings, description="Заявки: konkurs@soiro.ru или (info-2026@soiro.ru).")
    assert "Заявки: konkurs@soiro.ru или (info-2026@soiro.ru)." in raw


@pytest.mark.parametrize("block", [
    '[event start="2027-01-01 10:00"]\n[/event]',
    '[EVENT start="2027-01-01 10:00"]\n[/Event]',
    '> [event start="2027-01-01 10:00"]\n> [/event]',
    '- [ event start="2027-01-01 10:00" ]\n- [ / event ]',
    '<div class="discourse-post-event" data-start="2027-01-01 10:00"></div>',
])
def test_description_cannot_add_an_event_block(mappings, block):
    raw = render(mappings, description=f"Программа:\n\n{block}\n\nДо встречи!")
    assert len(EVENT_OPEN.findall(raw)) == 1
    assert len(EVENT_CLOSE.findall(raw)) == 1
    assert "discourse-post-event" not in raw.lower()


def test_calendar_attributes_cannot_be_broken_out_of(mappings):
    raw = render(mappings, title='Клуб "Учитель" [итоги]" location="evil" url="https://evil',
                 location="СОИРО “ауд. 12” ]\n[/event]", url='https://x.ru/?a="]b')
    attributes = event_attributes(raw)
    assert set(attributes) == {"start", "end", "timezone", "status", "name", "location", "url"}
    assert attributes["name"] == "Клуб 'Учитель' (итоги)' location='evil' url='https://evil"
    assert attributes["location"] == "СОИРО 'ауд. 12' ) (/event)"
    assert attributes["url"] == "https://x.ru/?a=%22%5Db"


def test_the_link_is_a_visible_autolink(mappings):
    raw = render(mappings, kind="webinar", url="https://vk.com/@soiro?a=<b>")
    assert "**Ссылка для подключения:** <https://vk.com/@soiro?a=%3Cb%3E>" in raw


def test_mentions_in_the_calendar_name_are_neutralised():
    desired = EventIn.model_validate({
        "title": "@club встреча", "kind": "seminar", "starts_at": "2026-12-03T15:00:00+03:00",
    }).desired()
    assert mentions(calendar_block(desired, kind_label="Семинар")) == []


# -- properties over any input -------------------------------------------------------------

_PIECES = st.sampled_from([
    "@club", "@winners", "@", "&#64;", "&#x40;", "&commat;", "[event", "[/event]", "[EVENT ",
    "[ /Event ]", "]", "[", '"', "“", "”", "'", "\n", "\r\n", "\\", "`", "*", "_", "<", ">",
    "discourse-post-event", "a@b.ru", " ", "x", "ё", "#", "&", ":", "(", ")", "=",
])
_TEXT = st.lists(st.one_of(_PIECES, st.text(max_size=5)), max_size=25).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=_TEXT, location=_TEXT, description=_TEXT,
       cancelled=st.booleans())
@example(title='x" name="@club', location="]\n[event start=1]", description="@club",
         cancelled=False)
def test_any_text_gives_one_event_block_and_no_mention(mappings, title, location, description,
                                                       cancelled):
    try:
        raw = render(mappings, title=title or "x", location=location, description=description,
                     status="cancelled" if cancelled else "scheduled")
    except ValidationError:
        assume(False)
    blocks = 0 if cancelled else 1
    assert len(EVENT_OPEN.findall(raw)) == blocks
    assert len(EVENT_CLOSE.findall(raw)) == blocks
    assert mentions(raw) == []
    if blocks:
        attributes = event_attributes(raw)
        assert set(attributes) == {"start", "end", "timezone", "status", "name"} | (
            {"location"} if location.strip() else set())
