"""Small charts of the last 24 hours for the admin overview: inline SVG, no scripts.

The geometry and the words are made here, the markup in
`templates/admin/_chart.html`. A day of minutes is drawn as 288 columns of five
minutes, each as high as the highest minute in it: a burst that filled the API
budget for one minute must not be averaged away. Every chart says its figures
in words too (`<desc>`, the line under it, and an hour-by-hour table), for
screen readers and for whoever would rather read than look.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from bridge import timeseries
from bridge.rendering import MOSCOW
from bridge.timeseries import Day

BUCKET_MINUTES = 5
WIDTH, HEIGHT = 480, 150  # viewBox units; the SVG takes the page's width, up to 720 px
LEFT, RIGHT, TOP, BOTTOM = 50, 6, 10, 128  # the plot area inside the viewBox
TICK_HOURS = 6
LIMIT_HEADROOM = 1.2


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class HourRow:
    label: str  # "13:00–14:00"
    peak: int | None  # the hour's highest minute; None: no sample in the hour
    total: int | None  # counters only: the hour's sum

    @property
    def peak_text(self) -> str:
        return number(self.peak) if self.peak is not None else "—"

    @property
    def total_text(self) -> str:
        return number(self.total) if self.total is not None else "—"


@dataclass(frozen=True)
class Chart:
    key: str  # unique on the page: element ids derive from it
    title: str
    summary: str  # the figures in one sentence: `<desc>` and the caption
    area: str  # SVG path data of the filled columns ("" when there is no data)
    top_label: str
    limit_y: float | None  # where the limit line is drawn, if the series has one
    limit_label: str | None
    ticks: list[Tick]
    hours: list[HourRow]
    counter: bool

    width, height = WIDTH, HEIGHT
    left, right, top, bottom = LEFT, WIDTH - RIGHT, TOP, BOTTOM


def number(value: float) -> str:
    """Russian style: a no-break space between thousands, a decimal comma."""
    if float(value).is_integer():
        return f"{int(value):,}".replace(",", "\u00a0")
    return f"{value:,.1f}".replace(",", "\u00a0").replace(".", ",")


def moscow_time(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).astimezone(MOSCOW).strftime("%H:%M")


def nice_ceiling(value: float) -> int:
    """The smallest of 1, 2, 3, 4, 5, 6, 8, 10, 15, 20 … not below `value`: the axis's top."""
    step = 1
    while True:
        for factor in (1, 1.5, 2, 3, 4, 5, 6, 8):
            if step * factor >= value and float(step * factor).is_integer():
                return int(step * factor)
        step *= 10


def buckets(values: Sequence[int | None], size: int = BUCKET_MINUTES) -> list[int | None]:
    """Columns of `size` minutes, each the highest minute in it (None: not one sampled)."""
    columns = []
    for start in range(0, len(values), size):
        known = [v for v in values[start : start + size] if v is not None]
        columns.append(max(known) if known else None)
    return columns


def area_path(columns: Sequence[int | None], top: int) -> str:
    """Filled columns as one path; a run of unknown columns leaves a gap."""
    width = (WIDTH - RIGHT - LEFT) / len(columns)
    height = BOTTOM - TOP
    parts: list[str] = []
    in_run = False
    for i, value in enumerate(columns):
        x = LEFT + i * width
        if value is None:
            if in_run:
                parts.append(f"V{BOTTOM}Z")
                in_run = False
            continue
        y = BOTTOM - height * min(value, top) / top
        parts.append(f"V{y:.1f}H{x + width:.1f}" if in_run else
                     f"M{x:.1f} {BOTTOM}V{y:.1f}H{x + width:.1f}")
        in_run = True
    if in_run:
        parts.append(f"V{BOTTOM}Z")
    return "".join(parts)


def hour_ticks(day: Day) -> list[Tick]:
    """A label every six hours of Moscow time (its offset is whole hours, so UTC's)."""
    span = len(day.values)
    ticks = []
    for minute in range(day.start_minute, day.end_minute):
        if minute % (TICK_HOURS * 60) == 0:
            x = LEFT + (WIDTH - RIGHT - LEFT) * (minute - day.start_minute) / span
            ticks.append(Tick(round(x, 1), moscow_time(minute)))
    return ticks


def hour_rows(day: Day, *, counter: bool) -> list[HourRow]:
    """The day hour by hour, newest first, for the table under the chart."""
    rows = []
    for offset in range(0, len(day.values), 60):
        known = [v for v in day.values[offset : offset + 60] if v is not None]
        start = day.start_minute + offset
        rows.append(HourRow(
            label=f"{moscow_time(start)}–{moscow_time(start + 60)}",
            peak=max(known) if known else None,
            total=sum(known) if counter and known else (0 if counter else None),
        ))
    return rows[::-1]


def _peak(day: Day) -> tuple[int, int] | None:
    """(value, minute) of the day's highest minute, the latest of equals."""
    known = [(v, day.start_minute + i) for i, v in enumerate(day.values) if v is not None]
    return max(known) if known else None


def _summary(day: Day, title: str, *, counter: bool, limit: int | None) -> str:
    peak = _peak(day)
    if peak is None or (counter and peak[0] == 0):
        quiet = "ни одного" if counter else "нет данных: значения никто не записывал"
        return f"{title} за последние 24 часа: {quiet}."
    known = [v for v in day.values if v is not None]
    words = [f"{title} за последние 24 часа: пик {number(peak[0])} "
             f"в {moscow_time(peak[1])} МСК"]
    if counter:
        words.append(f"всего {number(sum(known))}, "
                     f"в среднем {number(round(sum(known) / len(known), 1))} в минуту")
    else:
        latest = next((v for v in reversed(day.values) if v is not None), None)
        words.append(f"последнее значение {number(latest)}")
        missing = len(day.values) - len(known)
        if missing:
            words.append(f"нет данных за {number(missing)} мин")
    if limit:
        words.append(f"лимит {number(limit)} в минуту")
    return "; ".join(words) + "."


def day_chart(day: Day, *, key: str, title: str, counter: bool,
              limit: int | None = None) -> Chart:
    """One series' last 24 hours as a chart; `limit` draws the line it must stay under."""
    peak = _peak(day)
    headroom = LIMIT_HEADROOM * limit if limit else 0  # the limit line below the top edge
    top = nice_ceiling(max(peak[0] if peak else 0, headroom, 1))
    limit_y = BOTTOM - (BOTTOM - TOP) * limit / top if limit else None
    return Chart(
        key=key,
        title=title,
        summary=_summary(day, title, counter=counter, limit=limit),
        area=area_path(buckets(day.values), top) if peak else "",
        top_label=number(top),
        limit_y=round(limit_y, 1) if limit_y is not None else None,
        limit_label=f"лимит {number(limit)}" if limit else None,
        ticks=hour_ticks(day),
        hours=hour_rows(day, counter=counter),
        counter=counter,
    )


def overview_charts(connection: redis.Redis, *, limit: int, now: float) -> list[Chart]:
    """The admin overview's three charts: API budget use, queue depth, failed jobs."""

    def day(name: str) -> Day:
        return timeseries.last_day(connection, name, now=now)

    return [
        day_chart(day(timeseries.CALLS), key="calls", title="Запросы к API форума в минуту",
                  counter=True, limit=limit),
        day_chart(day(timeseries.QUEUED), key="queued", title="Заданий в очереди",
                  counter=False),
        day_chart(day(timeseries.FAILED), key="failed", title="Упавших заданий",
                  counter=False),
    ]
