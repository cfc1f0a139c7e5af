"""What an event looks like on the forum: its topic title, its first post and the
reason each edit of it gives (all the Russian the bridge writes into announcements).

Pure functions, no I/O beyond reading the Jinja templates: the same desired
state always renders to the same text, so a content hash of the result tells
whether the forum needs a write at all.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2

from config.mapping import EventsConfig, RolesConfig

MOSCOW = ZoneInfo("Europe/Moscow")
ZONE_LABEL = "МСК"
MAX_TITLE = 255  # Discourse's max_topic_title_length
MIN_FIRST_POST = 20  # Discourse's min_first_post_length
MAX_POST = 32000  # Discourse's max_post_length
CANCELLED_PREFIX = "ОТМЕНЕНО: "
CANCELLED_LINE = "**Мероприятие отменено.**"
CALENDAR_LINK = "[Добавить в календарь]({url})"
CALENDAR_NAME = "Мероприятия Интернет-клуба «Учитель года»"

MONTHS_GENITIVE = (
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
)

#: How hard the title works to be unique among the forum's topics (Discourse
#: refuses duplicate titles): 0 = the date, 1 = date and time, 2 = plus a short
#: code derived from the event's id. Raised only after a "title already used".
TITLE_LEVELS = 3


def moscow(moment: datetime) -> datetime:
    return moment.astimezone(MOSCOW)


def russian_date(moment: datetime) -> str:
    """«3 декабря 2026» in Moscow time."""
    local = moscow(moment)
    return f"{local.day} {MONTHS_GENITIVE[local.month - 1]} {local.year}"


def _is_all_day(start: datetime, end: datetime) -> bool:
    """00:00 to 23:59 (or to the next midnight): an all-day event, as feeds send them."""
    start, end = moscow(start), moscow(end)
    if (start.hour, start.minute) != (0, 0) or end <= start:
        return False
    return (end.hour, end.minute) == (23, 59) or (
        (end.hour, end.minute) == (0, 0) and end.date() > start.date()
    )


def russian_when(start: datetime, end: datetime) -> str:
    """The Russian way to write a span of time, in Moscow time.

    «3 декабря 2026, 15:00–17:00 (МСК)»; across days
    «3 декабря 2026, 15:00 — 4 декабря 2026, 12:00 (МСК)»; whole days
    «3 декабря 2026 (весь день)», «3 декабря 2026 — 5 декабря 2026».
    """
    local_start, local_end = moscow(start), moscow(end)
    if _is_all_day(start, end):
        last = local_end if (local_end.hour, local_end.minute) == (23, 59) else (
            local_end - timedelta(days=1)
        )
        if last.date() == local_start.date():
            return f"{russian_date(local_start)} (весь день)"
        return f"{russian_date(local_start)} — {russian_date(last)}"
    start_text = f"{russian_date(local_start)}, {local_start:%H:%M}"
    if local_end == local_start:
        return f"{start_text} ({ZONE_LABEL})"
    if local_end.date() == local_start.date():
        return f"{start_text}–{local_end:%H:%M} ({ZONE_LABEL})"
    return f"{start_text} — {russian_date(local_end)}, {local_end:%H:%M} ({ZONE_LABEL})"


def one_line(value: str) -> str:
    """Every run of whitespace, line breaks included, as one space."""
    return " ".join(value.split())


def short_code(external_id: str) -> str:
    return hashlib.sha256(external_id.encode()).hexdigest()[:6]


def render_title(
    desired: Mapping[str, Any], *, external_id: str, level: int = 0
) -> str:
    """The topic title: the event's title with its date, «ОТМЕНЕНО: » when cancelled.

    The date keeps titles of repeated events («Заседание клуба») apart; a higher
    `level` adds the time and then a short code when even that collides.
    """
    start = _parse(desired["starts_at"])
    suffix = f" — {russian_date(start)}"
    if level >= 1:
        suffix += f", {moscow(start):%H:%M}"
    if level >= 2:
        suffix += f" (№ {short_code(external_id)})"
    prefix = CANCELLED_PREFIX if desired.get("status") == "cancelled" else ""
    title = one_line(str(desired["title"]))
    room = MAX_TITLE - len(prefix) - len(suffix)
    if len(title) > room:
        title = title[: room - 1].rstrip() + "…"
    return f"{prefix}{title}{suffix}"


# -- text from outside, made safe for Discourse -----------------------------------------

#: U+200D ZERO WIDTH JOINER: invisible, and neither a space nor punctuation, so an `@`
#: or a `[` right after it starts no mention and no BBCode tag.
ZWJ = "\u200d"

#: The entities markdown-it decodes to an `@` after mentions could be spotted in the raw.
_AT_ENTITY = re.compile(r"&(?:#0*64|#x0*40|commat);", re.IGNORECASE)
#: An `[event]` or `[/event]` tag in any case or spacing, and the plugin's HTML class.
_EVENT_TAG = re.compile(r"\[(?=\s*/?\s*event)", re.IGNORECASE)
_EVENT_CLASS = re.compile(r"(discourse-post)(-event)", re.IGNORECASE)
#: An e-mail address whose local part is one dot-free word after a space or an opening
#: bracket or quote: no link or hashtag can end inside it, so the letter before its `@`
#: keeps Discourse from reading a mention there (see `_neutralise_mentions`).
_E_MAIL = re.compile(
    r"(?:^|(?<=[\s(<«\"':;,]))[A-Za-z0-9_+-]*[A-Za-z0-9]@(?=[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"
)
#: What CommonMark and Discourse read as markup inside a line (`@` is handled apart):
#: emphasis, code, links and images, HTML, entities, tables, strike-through,
#: hashtags, emoji shortcuts, and the `:` and `.` linkify needs to see a link.
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]()<>!#|~&:.$])")
#: Characters that end a double-quoted BBCode attribute or its tag (Discourse's
#: ATTR_REGEX knows no escapes): replaced by harmless look-alikes.
_ATTRIBUTE_LOOKALIKES = str.maketrans({'"': "'", "“": "'", "”": "'", "[": "(", "]": ")"})
#: What may not stand in a URL written inside `<…>` or inside a quoted attribute.
_URL_UNSAFE = re.compile(r'[\x00-\x20\x7f<>"“”\[\]]')


def _neutralise_mentions(text: str) -> str:
    """A ZWJ before every `@` Discourse could read as a mention.

    Discourse links and notifies `@name` only where the `@` starts a text token or
    follows whitespace or punctuation (text-post-process.js). A backslash does not
    help: markdown-it joins escaped characters back into the text before that rule
    runs. A ZWJ glued before the `@` is neither whitespace nor punctuation, and no
    token boundary falls between the two. Plain e-mail addresses keep their `@` (the
    letter before it already rules a mention out), so teachers can still copy them.
    """
    kept = {match.end() - 1 for match in _E_MAIL.finditer(text)}
    return "".join(
        f"{ZWJ}@" if char == "@" and index not in kept else char
        for index, char in enumerate(text)
    )


def defused(text: str) -> str:
    """Outside text that can mention nobody and open no `[event]` block of its own.

    The calendar plugin refuses a post with a second event (and then the
    announcement never appears), whether it comes as BBCode or as the HTML the
    BBCode cooks to.
    """
    text = _AT_ENTITY.sub("@", text)
    text = _EVENT_TAG.sub("[" + ZWJ, text)
    text = _EVENT_CLASS.sub(lambda match: match.group(1) + ZWJ + match.group(2), text)
    return _neutralise_mentions(text)


def plain_text(value: str) -> str:
    """Text shown as it was typed: one line, no Markdown, no BBCode, no mention, no link."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", defused(one_line(value)))


def markdown_text(value: str) -> str:
    """A description keeps its Markdown, without mentions and `[event]` blocks."""
    return defused(value.strip())


def _safe_url(url: str) -> str:
    return _URL_UNSAFE.sub(lambda match: quote(match.group(), safe=""), url)


def autolink(url: str) -> str:
    """`<url>`: the link shows its own address (no masked text), whatever it contains."""
    return f"<{_safe_url(url)}>" if url else ""


def _attribute(value: str) -> str:
    """A safe value for a double-quoted BBCode attribute: one line, nothing that ends it."""
    return defused(one_line(value).translate(_ATTRIBUTE_LOOKALIKES))


def calendar_block(desired: Mapping[str, Any], *, kind_label: str) -> str:
    """The discourse-calendar `[event]` markup (REFERENCE §11), Moscow time."""
    start, end = moscow(_parse(desired["starts_at"])), moscow(_parse(desired["ends_at"]))
    name = _attribute(str(desired["title"]))
    if len(name) < 5:  # the plugin wants 5-255 characters
        name = f"{kind_label}: {name}"
    attributes = [
        ("start", f"{start:%Y-%m-%d %H:%M}"),
        ("end", f"{end:%Y-%m-%d %H:%M}"),
        ("timezone", "Europe/Moscow"),
        ("status", "public"),
        ("name", name[:255]),
    ]
    if desired.get("location"):
        attributes.append(("location", _attribute(str(desired["location"]))))
    if desired.get("url"):
        attributes.append(("url", _safe_url(str(desired["url"]))))
    inner = " ".join(f'{key}="{value}"' for key, value in attributes)
    return f"[event {inner}]\n[/event]"


@lru_cache(maxsize=8)
def _environment(templates_dir: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        autoescape=False,  # noqa: S701 - the output is Markdown for Discourse, not HTML
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def calendar_description(topic_url: str) -> str:
    """The text of an event in the club calendar: where to read about it."""
    return f"Анонс и обсуждение на форуме: {topic_url}"


def render_body(
    desired: Mapping[str, Any], *, config: EventsConfig, roles: RolesConfig,
    calendar_url: str | None = None,
) -> str:
    """The first post, from the kind's template.

    Every value from outside reaches the template already safe (`plain_text`,
    `markdown_text`, `autolink`), so an administrator's own template cannot forget it.
    """
    kind = config.kinds[desired["kind"]]
    start, end = _parse(desired["starts_at"]), _parse(desired["ends_at"])
    cancelled = desired.get("status") == "cancelled"
    audience = [
        (roles.roles[code].label or code) if code in roles.roles else code
        for code in desired.get("audience") or []
    ]
    context = {
        "title": plain_text(str(desired["title"])),
        "kind": kind.kind,
        "kind_label": kind.label,
        "when": russian_when(start, end),
        "date": russian_date(start),
        "location": plain_text(desired.get("location") or ""),
        "url": autolink(desired.get("url") or ""),
        "description": markdown_text(desired.get("description") or ""),
        "audience": [plain_text(label) for label in audience],
        "cancelled": cancelled,
        "cancelled_line": CANCELLED_LINE,
        # A cancelled event leaves the forum calendar; its post still says what it was.
        "calendar": calendar_block(desired, kind_label=kind.label)
        if config.calendar and not cancelled
        else "",
        # The club calendar (GET /calendar.ics), for a teacher's phone.
        "calendar_link": CALENDAR_LINK.format(url=calendar_url)
        if calendar_url and not cancelled
        else "",
    }
    text = _environment(config.templates_dir).get_template(kind.template).render(context)
    return _tidy(text)


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    if len(text) > MAX_POST:
        text = text[: MAX_POST - 1].rstrip() + "…"
    return text


@dataclass(frozen=True)
class Rendered:
    """Everything the forum shows of one event; equal renderings need no write."""

    title: str
    raw: str
    category: str  # the category's key in events.yml
    tags: tuple[str, ...]
    closed: bool

    def fingerprint(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "raw_sha": hashlib.sha256(self.raw.encode()).hexdigest(),
            "category": self.category,
            "tags": sorted(self.tags),
            "closed": self.closed,
        }

    @property
    def content_hash(self) -> str:
        return content_hash(self.fingerprint())


def content_hash(fingerprint: Mapping[str, Any]) -> str:
    encoded = json.dumps(fingerprint, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(encoded).hexdigest()


def render_event(
    desired: Mapping[str, Any],
    *,
    external_id: str,
    config: EventsConfig,
    roles: RolesConfig,
    title_level: int = 0,
    calendar_url: str | None = None,
) -> Rendered:
    kind = config.kinds[desired["kind"]]
    raw = render_body(desired, config=config, roles=roles, calendar_url=calendar_url)
    if len(raw) < MIN_FIRST_POST:  # only a broken template gets here; keep Discourse happy
        raw = f"{raw}\n\n{russian_when(_parse(desired['starts_at']), _parse(desired['ends_at']))}"
    return Rendered(
        title=render_title(desired, external_id=external_id, level=title_level),
        raw=raw,
        category=kind.category,
        tags=tuple(kind.tags),
        closed=desired.get("status") == "cancelled",
    )


# -- edit reasons --------------------------------------------------------------------

#: Which change of the desired state the forum's edit history names, and how.
_CHANGES = (
    # (fields, the noun in a list, the whole phrase when it is the only change)
    (("starts_at", "ends_at"), "дата и время", "изменились дата и время"),
    (("title",), "название", "изменилось название"),
    (("location",), "место проведения", "изменилось место проведения"),
    (("url",), "ссылка", "изменилась ссылка"),
    (("description",), "описание", "изменилось описание"),
    (("audience",), "круг участников", "изменился круг участников"),
    (("kind",), "вид мероприятия", "изменился вид мероприятия"),
)
SNAPSHOT_FIELDS = (
    "title", "kind", "starts_at", "ends_at", "location", "url", "description", "audience",
    "status",
)


def snapshot(desired: Mapping[str, Any]) -> dict[str, Any]:
    """What the next edit reason compares: kept with the topic, as the forum showed it."""
    return {name: desired.get(name) for name in SNAPSHOT_FIELDS}


def _unchanged(name: str, old: Any, new: Any) -> bool:
    if name in ("starts_at", "ends_at") and old and new:
        try:
            return datetime.fromisoformat(old) == datetime.fromisoformat(new)
        except ValueError:
            return old == new
    return (old or None) == (new or None)


def edit_reason(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> str:
    """«Обновлено из системы института: изменились дата и время» and the like."""
    lead = "Обновлено из системы института"
    if not before:
        return lead
    if before.get("status") != "cancelled" and after.get("status") == "cancelled":
        return f"{lead}: мероприятие отменено"
    if before.get("status") == "cancelled" and after.get("status") != "cancelled":
        return f"{lead}: мероприятие снова в расписании"
    changed = [
        (noun, phrase)
        for names, noun, phrase in _CHANGES
        if any(not _unchanged(n, before.get(n), after.get(n)) for n in names)
    ]
    if len(changed) == 1:
        return f"{lead}: {changed[0][1]}"
    if changed:
        return f"{lead}: изменились {', '.join(noun for noun, _ in changed)}"
    return lead


def _parse(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))
