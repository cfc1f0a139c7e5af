"""The overview's last 24 hours: the minute series in Redis, the sampler, the SVG charts."""

from __future__ import annotations

import re
import threading
import time

import pytest

from bridge import timeseries
from tests.support.admin import text
from web import charts
from workers import queue as jobs
from workers import samples
from workers.__main__ import run_periodic

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC, 03:00 in Moscow; a whole hour


def series_keys(services, name: str) -> list[str]:
    return list(services.redis.scan_iter(f"{timeseries.PREFIX}{name}:*"))


# -- the series in Redis -------------------------------------------------------------------


def test_a_day_is_1440_minutes_counters_zero_and_gauges_unknown_where_unrecorded(services):
    timeseries.count(services.redis, timeseries.CALLS, now=T0 + 30, amount=3)
    timeseries.count(services.redis, timeseries.CALLS, now=T0 + 50)
    timeseries.record(services.redis, timeseries.QUEUED, 7, now=T0 + 120)

    calls = timeseries.last_day(services.redis, timeseries.CALLS, now=T0 + 3 * 60)
    queued = timeseries.last_day(services.redis, timeseries.QUEUED, now=T0 + 3 * 60)

    assert len(calls.values) == len(queued.values) == 24 * 60
    assert calls.values[-3:] == [4, 0, 0]  # T0's minute, then two without calls
    assert queued.values[-3:] == [None, None, 7]
    assert calls.start_minute == timeseries.minute_of(T0) + 3 - 24 * 60


def test_the_current_minute_is_left_out_until_it_is_complete(services):
    timeseries.count(services.redis, timeseries.CALLS, now=T0 + 5)
    assert timeseries.last_day(services.redis, timeseries.CALLS, now=T0 + 10).values[-1] == 0
    assert timeseries.last_day(services.redis, timeseries.CALLS, now=T0 + 60).values[-1] == 1


def test_memory_is_bounded_one_small_hash_per_hour_expiring_after_25_hours(services):
    for minute in range(0, 3 * 24 * 60, 7):  # three days of writes
        timeseries.record(services.redis, timeseries.FAILED, minute, now=T0 + minute * 60)
    keys = series_keys(services, timeseries.FAILED)
    assert len(keys) == 3 * 24  # one per hour written; each expires on its own
    for key in keys:
        assert 0 < services.redis.ttl(key) <= 25 * 3600
        assert services.redis.hlen(key) <= 60
    day = timeseries.last_day(services.redis, timeseries.FAILED, now=T0 + 3 * 86400)
    assert day.values[-7 * 10 - 1] is not None  # a minute written 71 minutes ago


def test_every_discourse_call_counts_in_its_minute(services, forum):
    before = timeseries.last_day(services.redis, timeseries.CALLS, now=time.time() + 60)
    for _ in range(3):
        services.discourse.group("club")
    after = timeseries.last_day(services.redis, timeseries.CALLS, now=time.time() + 60)
    assert sum(after.values[-2:]) - sum(before.values[-2:]) == 3


# -- the sampler ---------------------------------------------------------------------------


@pytest.fixture
def backlog(services, work):
    """Two jobs waiting, one failed."""
    jobs.enqueue(services.redis_raw, "workers.no_such_module.job", job_id="doomed")
    work()
    for n in range(2):
        jobs.enqueue(services.redis_raw, "workers.periodic.trim_audit", job_id=f"waiting-{n}")
    return services


def test_a_sample_records_queue_depth_and_failed_jobs(backlog):
    taken = samples.take(backlog.redis_raw, now=T0)
    assert taken == {timeseries.QUEUED: 2, timeseries.FAILED: 1}
    later = T0 + 60
    assert timeseries.last_day(backlog.redis, timeseries.QUEUED, now=later).values[-1] == 2
    assert timeseries.last_day(backlog.redis, timeseries.FAILED, now=later).values[-1] == 1


def test_one_sample_a_minute_whichever_worker_comes_first(services):
    assert samples.take_once_a_minute(services.redis_raw, now=T0 + 1)
    assert not samples.take_once_a_minute(services.redis_raw, now=T0 + 59)  # another worker
    assert samples.take_once_a_minute(services.redis_raw, now=T0 + 61)


def test_the_workers_periodic_thread_takes_the_samples(backlog):
    stop = threading.Event()
    thread = threading.Thread(target=run_periodic,
                              args=(backlog.redis_raw, backlog.settings, stop), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not series_keys(backlog, timeseries.QUEUED) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=10)
    day = timeseries.last_day(backlog.redis, timeseries.QUEUED, now=time.time() + 60)
    assert day.values[-1] == 2


# -- the charts ----------------------------------------------------------------------------


def test_columns_keep_the_busiest_minute_of_five():
    assert charts.buckets([1, 9, 2, None, 0, None, None, None, None, None, 3]) == [9, None, 3]


def test_unknown_columns_leave_a_gap_in_the_area():
    path = charts.area_path([4, 4, None, 2], top=4)
    assert path.count("M") == 2  # two runs
    assert path.count("Z") == 2
    assert path.startswith(f"M{charts.LEFT:.1f} {charts.BOTTOM}V{charts.TOP:.1f}")


@pytest.mark.parametrize(("value", "top"), [(0, 1), (1, 1), (3, 3), (7, 8), (9, 10), (11, 15),
                                            (72, 80), (240, 300), (100_000, 100_000)])
def test_the_axis_top_is_a_round_number(value, top):
    assert charts.nice_ceiling(value) == top


def test_a_budget_chart_says_its_figures_in_words():
    end = timeseries.minute_of(T0) + 24 * 60
    values = [0] * (24 * 60)
    values[-1], values[-61] = 12, 48  # 02:59 and 01:59 Moscow time on 2 January
    day = timeseries.Day(timeseries.CALLS, end, values)
    chart = charts.day_chart(day, key="calls", title="Запросы к API форума в минуту",
                             counter=True, limit=60)
    assert chart.summary == ("Запросы к API форума в минуту за последние 24 часа: пик 48 "
                             "в 01:59 МСК; всего 60, в среднем 0 в минуту; лимит 60 в минуту.")
    assert chart.top_label == "80"  # the limit with some room above it
    assert chart.limit_y == pytest.approx(charts.BOTTOM - (charts.BOTTOM - charts.TOP) * 0.75,
                                          abs=0.1)
    assert [tick.label for tick in chart.ticks] == ["03:00", "09:00", "15:00", "21:00"]
    assert chart.hours[0].label == "02:00–03:00"  # newest first
    assert (chart.hours[0].peak, chart.hours[0].total) == (12, 12)
    assert (chart.hours[1].peak, chart.hours[1].total_text) == (48, "48")


def test_a_gauge_without_samples_says_there_is_no_data():
    day = timeseries.Day(timeseries.QUEUED, 10_000_000, [None] * (24 * 60))
    chart = charts.day_chart(day, key="queued", title="Заданий в очереди", counter=False)
    assert chart.area == ""
    assert "нет данных" in chart.summary
    assert chart.hours[0].peak_text == "—"


def test_a_gauge_counts_its_missing_minutes():
    values = [None] * 30 + [5] * (24 * 60 - 31) + [3]
    chart = charts.day_chart(timeseries.Day(timeseries.QUEUED, 10_000_000, values),
                             key="queued", title="Заданий в очереди", counter=False)
    assert "пик 5" in chart.summary
    assert "последнее значение 3" in chart.summary
    assert "нет данных за 30 мин" in chart.summary


def test_numbers_read_the_russian_way():
    assert charts.number(1234567) == "1\u00a0234\u00a0567"
    assert charts.number(0.8) == "0,8"


# -- the overview --------------------------------------------------------------------------


def test_the_overview_draws_three_accessible_charts(admin_client, services):
    now = time.time()
    for minutes_ago, calls in ((5, 7), (90, 30)):
        timeseries.count(services.redis, timeseries.CALLS, now=now - minutes_ago * 60,
                         amount=calls)
    timeseries.record(services.redis, timeseries.QUEUED, 12, now=now - 120)
    html = text(admin_client.get("/admin/"))

    svgs = re.findall(r"<svg .*?</svg>", html, re.S)
    assert len(svgs) == 3
    for svg in svgs:
        assert 'role="img"' in svg
        assert re.search(r'aria-labelledby="chart-\w+-title chart-\w+-desc"', svg)
        assert re.search(r"<title id=\"chart-\w+-title\">[^<]+</title>", svg)
        assert "<script" not in svg
    assert "пик 30" in html  # the figures as text too
    assert "всего 37" in html
    assert "Заданий в очереди за последние 24 часа: пик 12" in html
    assert "Упавших заданий за последние 24 часа: нет данных" in html
    assert html.count("<summary>По часам</summary>") == 3
