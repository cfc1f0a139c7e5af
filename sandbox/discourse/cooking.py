"""Posts cooked the way Discourse cooks them, so the sandbox shows what teachers will see.

Discourse renders Markdown with markdown-it (CommonMark) and, by default, its
site settings: `traditional_markdown_linebreaks` off (a newline is a line
break), `enable_markdown_linkify` and `enable_markdown_typographer` on (the
Russian locale's quotation marks «» „“). Its sanitizer lets through an
allowlist of HTML tags and escapes the rest; the sandbox allows none, so every
raw HTML tag is shown as text. The discourse-calendar plugin (REFERENCE §11)
turns the first post's `[event]` block into a `div.discourse-post-event` with
the attributes as `data-*`, which its JavaScript draws as a card; the sandbox
draws the card on the server instead (name, date and time in Moscow time,
place, link).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from markdown_it import MarkdownIt
from markupsafe import escape

MOSCOW = ZoneInfo("Europe/Moscow")
RUSSIAN_QUOTES = "«»„“"
MONTHS = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
          "сентября", "октября", "ноября", "декабря")
SHORT_MONTHS = ("янв", "фев", "мар", "апр", "мая", "июн", "июл", "авг", "сен", "окт", "ноя",
                "дек")

_EVENT_BLOCK = re.compile(r"^\[event(?P<attributes>[^\]\n]*)\][ \t]*\n?(?P<body>.*?)\[/event\]",
                          re.DOTALL | re.MULTILINE)
_ATTRIBUTE = re.compile(r'(?P<key>[A-Za-z]+)="(?P<value>(?:[^"\\]|\\.)*)"')


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    options = {"html": False, "xhtmlOut": False, "breaks": True, "linkify": True,
               "typographer": True, "quotes": RUSSIAN_QUOTES}
    return MarkdownIt("commonmark", options).enable(
        ["linkify", "replacements", "smartquotes", "strikethrough", "table"])


def cook(raw: str | None) -> str:
    """The `cooked` HTML of a post, with its first `[event]` block as an event card."""
    if not raw:
        return ""
    match = _EVENT_BLOCK.search(raw)
    if match is None:
        return _markdown().render(raw)
    marker = f"EVENTCARD{secrets.token_hex(8)}"
    html = _markdown().render(f"{raw[:match.start()]}\n\n{marker}\n\n{raw[match.end():]}")
    card = event_card(parse_attributes(match.group("attributes")), match.group("body"))
    return html.replace(f"<p>{marker}</p>", card)


def parse_attributes(text: str) -> dict[str, str]:
    """`start="…" name="say \\"hi\\""` → {"start": "…", "name": 'say "hi"'} (BBCode quoting)."""
    return {m.group("key"): re.sub(r"\\(.)", r"\1", m.group("value"))
            for m in _ATTRIBUTE.finditer(text)}


@dataclass(frozen=True)
class EventTimes:
    start: datetime
    end: datetime | None

    @classmethod
    def parse(cls, attributes: dict[str, str]) -> EventTimes | None:
        """Times as the plugin reads them: in `timezone` (UTC if none), shown in Moscow time."""
        try:
            zone = ZoneInfo(attributes.get("timezone") or "UTC")
            start = _local(attributes["start"], zone)
            end = _local(attributes["end"], zone) if attributes.get("end") else None
        except (KeyError, ValueError, ZoneInfoNotFoundError):
            return None
        return cls(start, end)

    def text(self) -> str:
        start = self.start
        when = f"{start.day} {MONTHS[start.month - 1]} {start.year}, {start:%H:%M}"
        if self.end is not None and self.end.date() == start.date():
            when += f"–{self.end:%H:%M}"
        elif self.end is not None:
            end = self.end
            when += f" — {end.day} {MONTHS[end.month - 1]} {end.year}, {end:%H:%M}"
        return f"{when} (МСК)"


def _local(text: str, zone: ZoneInfo) -> datetime:
    return datetime.fromisoformat(text.strip()).replace(tzinfo=zone).astimezone(MOSCOW)


def event_card(attributes: dict[str, str], body: str = "") -> str:
    """The plugin's `div.discourse-post-event` with the card its widget would draw."""
    data = "".join(f' data-{_dasherized(key)}="{escape(value)}"'
                   for key, value in attributes.items())
    times = EventTimes.parse(attributes)
    lines = [f"<b class='event-name'>{escape(attributes.get('name') or 'Мероприятие')}</b>"]
    when = escape(times.text()) if times else "дата не указана"
    lines.append(f"<div class='event-when'>{_label('Когда')}{when}</div>")
    if attributes.get("location"):
        lines.append(f"<div class='event-where'>{_label('Где')}"
                     f"{escape(attributes['location'])}</div>")
    url = attributes.get("url") or ""
    if re.match(r"^https?://", url, re.IGNORECASE):
        lines.append(f"<div class='event-url'>{_label('Ссылка')}<a href='{escape(url)}' "
                     f"rel='noopener nofollow ugc'>{escape(url)}</a></div>")
    if body.strip():
        lines.append(f"<div class='event-description'>{_markdown().render(body)}</div>")
    badge = ""
    if times is not None:
        badge = (f"<div class='event-date' aria-hidden='true'><span>"
                 f"{SHORT_MONTHS[times.start.month - 1]}</span><b>{times.start.day}</b></div>")
    return (f"<div class='discourse-post-event'{data}><div class='event-card'>{badge}"
            f"<div class='event-info'>{''.join(lines)}</div></div></div>")


def _label(text: str) -> str:
    return f"<span class='event-label'>{text}:</span> "


def _dasherized(key: str) -> str:
    """`allowedGroups` → `allowed-groups`, as the plugin names its data attributes."""
    return re.sub(r"([A-Z])", r"-\1", key).lower()
