"""iCalendar import: pure parsing, then `flask events import-ics` end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.events import topic_external_id
from bridge.ics import external_id_for_uid, parse_calendar
from config import load_mappings
from tests.events.conftest import live_topics

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[2]
SEMINAR = external_id_for_uid("seminar-2026-12@soiro.example")


@pytest.fixture(scope="module")
def kinds():
    return load_mappings(ROOT / "config")[1].kinds


def parsed(name: str, kinds, **options):
    return {e.external_id: e for e in parse_calendar((FIXTURES / name).read_bytes(),
                                                      kinds=kinds, **options)}


def test_parse_maps_the_fields(kinds):
    events = parsed("club-v1.ics", kinds)
    assert set(events) == {SEMINAR, "webinar-42", "contest-2027", "round-table-floating"}
    seminar = events[SEMINAR]
    assert seminar.version == 0
    assert seminar.payload == {
        "title": "Семинар «Функциональная грамотность»",
        "kind": "seminar",  # from CATEGORIES, matched by the label of events.yml
        "starts_at": "2026-12-03T15:00:00+03:00",
        "ends_at": "2026-12-03T17:00:00+03:00",
        "location": "Смоленск, ГАУ ДПО СОИРО, ауд. 12",
        "description": "Разбираем задания PISA.\nВозьмите с собой **ноутбук**.",
        "status": "scheduled",
    }
    webinar = events["webinar-42"].payload
    assert webinar["url"] == "https://vk.com/video-42"
    assert webinar["starts_at"] == "2026-12-10T07:00:00+00:00"
    # All-day: from the first day's midnight to the last day's last minute, in Moscow.
    contest = events["contest-2027"].payload
    assert (contest["starts_at"], contest["ends_at"]) == (
        "2027-01-15T00:00:00+03:00", "2027-02-28T23:59:00+03:00")
    # Floating time is Moscow time; no SEQUENCE: LAST-MODIFIED as epoch seconds.
    floating = events["round-table-floating"]
    assert floating.payload["starts_at"] == "2026-12-17T16:00:00+03:00"
    assert floating.version == 1793872800


def test_parse_second_file(kinds):
    events = parsed("club-v2.ics", kinds)
    assert events[SEMINAR].version == 1
    assert events[SEMINAR].payload["starts_at"] == "2026-12-05T11:00:00+03:00"
    assert events["webinar-42"].payload["status"] == "cancelled"


def test_kind_option_wins(kinds):
    events = parsed("club-v1.ics", kinds, default_kind="forum")
    assert {e.payload["kind"] for e in events.values()} == {"forum"}


def test_uids_become_valid_distinct_ids():
    assert external_id_for_uid("abc-1") == "abc-1"
    odd = ["a@b", "a#b", "a b", "x" * 200, "событие-1"]
    ids = [external_id_for_uid(u) for u in odd]
    assert len(set(ids)) == len(odd)
    for value in ids:
        assert 1 <= len(value) <= 64
        assert all(c.isascii() and (c.isalnum() or c in "._:-") for c in value)
    assert external_id_for_uid("a@b") == external_id_for_uid("a@b")


def test_broken_entries_are_reported_not_fatal(kinds):
    data = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:no-start\r\n"
        b"SUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    (event,) = parse_calendar(data, kinds=kinds)
    assert event.problem == "no DTSTART"
    with pytest.raises(ValueError, match="iCalendar"):
        parse_calendar(b"this is not a calendar", kinds=kinds)


def run_import(app, *args):
    result = app.test_cli_runner().invoke(args=["events", "import-ics", *args])
    assert result.exit_code == 0, result.output
    return dict(
        line.split(" / ")[1].split(": ")
        for line in result.output.splitlines()
        if " / " in line
    )


def test_import_moves_cancels_and_keeps_missing(app, forum, work, services, tmp_path):
    feed = tmp_path / "club.ics"  # one feed, as it changes over time
    v1 = v2 = str(feed)
    feed.write_bytes((FIXTURES / "club-v1.ics").read_bytes())
    counts = run_import(app, v1)
    assert counts == {"created": "4", "updated": "0", "unchanged": "0", "cancelled": "0",
                      "deleted": "0", "errors": "0"}
    work()
    assert len(live_topics(forum)) == 4

    assert run_import(app, v1)["unchanged"] == "4"
    feed.write_bytes((FIXTURES / "club-v2.ics").read_bytes())
    counts = run_import(app, v2)
    assert (counts["updated"], counts["cancelled"], counts["unchanged"]) == ("1", "1", "1")
    work()
    topics = {t["external_id"]: t for t in live_topics(forum)}
    assert len(topics) == 4  # the round table left the feed, but is not withdrawn

    seminar = topics[topic_external_id(SEMINAR)]
    assert seminar["title"] == "Семинар «Функциональная грамотность» — 5 декабря 2026"
    assert "5 декабря 2026, 11:00–13:00 (МСК)" in seminar["raw"]
    webinar = topics[topic_external_id("webinar-42")]
    assert webinar["title"].startswith("ОТМЕНЕНО: ")
    assert webinar["closed"] is True
    contest = topics[topic_external_id("contest-2027")]
    assert "15 января 2027 — 28 февраля 2027" in contest["raw"]
    assert all(t["visible"] for t in topics.values())

    counts = run_import(app, v2, "--delete-missing")
    assert counts["deleted"] == "1"
    work()
    hidden = [t for t in live_topics(forum) if not t["visible"]]
    assert [t["external_id"] for t in hidden] == [topic_external_id("round-table-floating")]
    entries = services.audit.newest(subject="event:round-table-floating")
    assert entries[0].action == "topic.unlist"
    assert entries[0].cause == "ics"


def test_import_refuses_unknown_kind_and_missing_file(app, services):
    result = app.test_cli_runner().invoke(
        args=["events", "import-ics", str(FIXTURES / "club-v1.ics"), "--kind", "concert"])
    assert result.exit_code != 0
    assert "concert" in result.output
    result = app.test_cli_runner().invoke(args=["events", "import-ics", "/nonexistent.ics"])
    assert result.exit_code != 0
    assert "cannot read" in result.output


def test_poll_feeds_imports_each_configured_feed(forum, work, services, tmp_path):
    import dataclasses

    from workers.events import poll_feeds

    feed = tmp_path / "feed.ics"
    feed.write_bytes((FIXTURES / "club-v1.ics").read_bytes())
    settings = dataclasses.replace(services.settings, event_feeds=(str(feed),))
    services.config = dataclasses.replace(services.config, settings=settings)
    results = poll_feeds()
    assert results[str(feed)]["created"] == 4
    work()
    assert len(live_topics(forum)) == 4
    assert poll_feeds()[str(feed)]["unchanged"] == 4
