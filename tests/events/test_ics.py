"""iCalendar import: pure parsing, then `flask events import-ics` end to end."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bridge.events import topic_external_id
from bridge.ics import feed_external_id, feed_key, parse_calendar
from bridge.members import EXTERNAL_ID
from config import load_mappings
from tests.support.events import event_body, live_topics, put

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[2]
FEED = feed_key("https://soiro.example/club.ics")
SEMINAR_UID = "seminar-2026-12@soiro.example"
SEMINAR = feed_external_id(FEED, SEMINAR_UID)
WEBINAR = feed_external_id(FEED, "webinar-42")
CONTEST = feed_external_id(FEED, "contest-2027")
ROUND_TABLE = feed_external_id(FEED, "round-table-floating")


@pytest.fixture(scope="module")
def kinds():
    return load_mappings(ROOT / "config")[1].kinds


def parsed(name: str, kinds, **options):
    return {e.external_id: e for e in parse_calendar((FIXTURES / name).read_bytes(),
                                                      feed=FEED, kinds=kinds, **options)}


def test_parse_maps_the_fields(kinds):
    events = parsed("club-v1.ics", kinds)
    assert set(events) == {SEMINAR, WEBINAR, CONTEST, ROUND_TABLE}
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
    webinar = events[WEBINAR].payload
    assert webinar["url"] == "https://vk.com/video-42"
    assert webinar["starts_at"] == "2026-12-10T07:00:00+00:00"
    # All-day: from the first day's midnight to the last day's last minute, in Moscow.
    contest = events[CONTEST].payload
    assert (contest["starts_at"], contest["ends_at"]) == (
        "2027-01-15T00:00:00+03:00", "2027-02-28T23:59:00+03:00")
    # Floating time is Moscow time; no SEQUENCE: no version, the content decides
    # (LAST-MODIFIED is not a version: its seconds would outrank every other one).
    floating = events[ROUND_TABLE]
    assert floating.payload["starts_at"] == "2026-12-17T16:00:00+03:00"
    assert floating.version is None


def test_parse_second_file(kinds):
    events = parsed("club-v2.ics", kinds)
    assert events[SEMINAR].version == 1
    assert events[SEMINAR].payload["starts_at"] == "2026-12-05T11:00:00+03:00"
    assert events[WEBINAR].payload["status"] == "cancelled"


def test_kind_option_wins(kinds):
    events = parsed("club-v1.ics", kinds, default_kind="forum")
    assert {e.payload["kind"] for e in events.values()} == {"forum"}


def test_uids_become_ids_in_the_feeds_own_namespace(tmp_path, monkeypatch):
    uids = ["abc-1", "a@b", "a#b", "a b", "x" * 200, "событие-1", "ABC-1"]
    ids = [feed_external_id(FEED, uid) for uid in uids]
    assert len(set(ids)) == len(uids)
    for value in ids:
        assert EXTERNAL_ID.fullmatch(value)
        assert re.fullmatch(rf"ics-{FEED}-[0-9a-f]{{24}}", value)
    assert feed_external_id(FEED, "a@b") == feed_external_id(FEED, "a@b")
    # Another feed, same UID: another event.
    assert feed_external_id(feed_key("https://other.example/club.ics"), "abc-1") != ids[0]
    # A file is known by its absolute path, however the command names it.
    (tmp_path / "club.ics").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert feed_key("club.ics") == feed_key(str(tmp_path / "club.ics"))
    assert feed_key("club.ics") != feed_key("https://soiro.example/club.ics")


@pytest.mark.parametrize(("sequence", "version"), [("0", 0), ("7", 7),
                                                   (str(2**53 - 1), 2**53 - 1)])
def test_version_is_the_sequence(kinds, sequence, version):
    (event,) = parse_calendar(_one_event(f"SEQUENCE:{sequence}"), feed=FEED, kinds=kinds)
    assert (event.version, event.problem) == (version, None)


@pytest.mark.parametrize("sequence", [str(2**53), "-1", "1.5", "один"])
def test_a_sequence_outside_the_version_rule_is_refused(kinds, sequence):
    (event,) = parse_calendar(_one_event(f"SEQUENCE:{sequence}"), feed=FEED, kinds=kinds)
    assert event.problem == "SEQUENCE must be an integer from 0 to 2^53-1"


def _one_event(*lines: str) -> bytes:
    body = "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "BEGIN:VEVENT", "UID:one",
                         "DTSTART:20261203T120000Z", "SUMMARY:Семинар", *lines,
                         "END:VEVENT", "END:VCALENDAR", ""])
    return body.encode()


def test_broken_entries_are_reported_not_fatal(kinds):
    data = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:no-start\r\n"
        b"SUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    (event,) = parse_calendar(data, feed=FEED, kinds=kinds)
    assert event.problem == "no DTSTART"
    with pytest.raises(ValueError, match="iCalendar"):
        parse_calendar(b"this is not a calendar", feed=FEED, kinds=kinds)


def run_import(runner, *args):
    result = runner.invoke(args=["events", "import-ics", *args])
    assert result.exit_code == 0, result.output
    return dict(
        line.split(" / ")[1].split(": ")
        for line in result.output.splitlines()
        if " / " in line
    )


def test_import_moves_cancels_and_keeps_missing(runner, forum, work, services, tmp_path):
    feed = tmp_path / "club.ics"  # one feed, as it changes over time
    v1 = v2 = str(feed)
    seminar, webinar, contest, round_table = (
        feed_external_id(feed_key(v1), uid)
        for uid in (SEMINAR_UID, "webinar-42", "contest-2027", "round-table-floating"))
    feed.write_bytes((FIXTURES / "club-v1.ics").read_bytes())
    counts = run_import(runner, v1)
    assert counts == {"created": "4", "updated": "0", "unchanged": "0", "cancelled": "0",
                      "deleted": "0", "errors": "0"}
    work()
    assert len(live_topics(forum)) == 4

    assert run_import(runner, v1)["unchanged"] == "4"
    feed.write_bytes((FIXTURES / "club-v2.ics").read_bytes())
    counts = run_import(runner, v2)
    assert (counts["updated"], counts["cancelled"], counts["unchanged"]) == ("1", "1", "1")
    work()
    topics = {t["external_id"]: t for t in live_topics(forum)}
    assert len(topics) == 4  # the round table left the feed, but is not withdrawn

    seminar = topics[topic_external_id(seminar)]
    assert seminar["title"] == "Семинар «Функциональная грамотность» — 5 декабря 2026"
    assert "5 декабря 2026, 11:00–13:00 (МСК)" in seminar["raw"]
    webinar = topics[topic_external_id(webinar)]
    assert webinar["title"].startswith("ОТМЕНЕНО: ")
    assert webinar["closed"] is True
    contest = topics[topic_external_id(contest)]
    assert "15 января 2027 — 28 февраля 2027" in contest["raw"]
    assert all(t["visible"] for t in topics.values())

    counts = run_import(runner, v2, "--delete-missing")
    assert counts["deleted"] == "1"
    work()
    hidden = [t for t in live_topics(forum) if not t["visible"]]
    assert [t["external_id"] for t in hidden] == [topic_external_id(round_table)]
    entries = services.audit.newest(subject=f"event:{round_table}")
    assert entries[0].action == "topic.unlist"
    assert entries[0].cause == "ics"


def test_import_refuses_unknown_kind_and_missing_file(runner, services):
    result = runner.invoke(
        args=["events", "import-ics", str(FIXTURES / "club-v1.ics"), "--kind", "concert"])
    assert result.exit_code != 0
    assert "concert" in result.output
    result = runner.invoke(args=["events", "import-ics", "/nonexistent.ics"])
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


def test_a_feed_cannot_overwrite_cancel_or_outrank_an_api_event(runner, client, auth, forum,
                                                                 work, services, tmp_path):
    """The feed's UIDs equal two API ids; one feed entry is cancelled with a higher
    SEQUENCE, the other has a LAST-MODIFIED of many seconds."""
    assert put(client, auth, "webinar-42", event_body(version=1)).status_code == 202
    assert put(client, auth, "round-table-floating", event_body(version=5)).status_code == 202
    work()
    feed = tmp_path / "club.ics"
    feed.write_bytes((FIXTURES / "club-v1.ics").read_bytes())
    run_import(runner, str(feed))
    feed.write_bytes((FIXTURES / "club-v2.ics").read_bytes())
    run_import(runner, str(feed), "--delete-missing")
    work()
    store = services.events
    for external_id, version in (("webinar-42", 1), ("round-table-floating", 5)):
        api_event = store.get(external_id)
        assert (api_event.version, api_event.removed) == (version, False)
        assert api_event.desired["status"] == "scheduled"
        assert api_event.desired["title"] == event_body()["title"]
    # …and the API can still change its own event.
    assert put(client, auth, "round-table-floating", event_body(version=6)).status_code == 202
    assert store.get("round-table-floating").version == 6
    own = store.get(feed_external_id(feed_key(str(feed)), "webinar-42"))
    assert own.desired["status"] == "cancelled"


def test_two_feeds_with_the_same_uids_keep_apart(runner, services, tmp_path):
    first, second = tmp_path / "a.ics", tmp_path / "b.ics"
    for feed in (first, second):
        feed.write_bytes((FIXTURES / "club-v1.ics").read_bytes())
        assert run_import(runner, str(feed))["created"] == "4"
    second.write_bytes((FIXTURES / "club-v2.ics").read_bytes())
    run_import(runner, str(second), "--delete-missing")
    store = services.events
    assert len(store.all_ids()) == 8
    untouched = store.get(feed_external_id(feed_key(str(first)), "webinar-42"))
    assert untouched.desired["status"] == "scheduled"
    assert not store.get(feed_external_id(feed_key(str(first)), "round-table-floating")).removed
