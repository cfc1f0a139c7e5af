"""Events of two sources on one forum: each source's tokens, kinds, categories and
ids; topics that never collide; feeds that belong to a source (issue 11)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bridge.events import PREFIX as EVENT_PREFIX
from bridge.events import TOPIC_EXTERNAL_ID_MAX, topic_external_id
from bridge.ics import feed_external_id, feed_key
from config import ConfigError, load_config
from config.sources import split_feed_source
from tests.support.events import event_body, live_topics
from tests.support.two_sources import (
    BOTH_TOKEN,
    VYAZMA_TOKEN,
    bearer,
    two_sources_config,
    two_sources_environ,
)
from workers.queue import queue

FIXTURES = Path(__file__).parent / "fixtures"
VYAZMA = bearer(VYAZMA_TOKEN)
BOTH = bearer(BOTH_TOKEN)


@pytest.fixture
def app_config(environ, tmp_path):
    return two_sources_config(environ, tmp_path)


def vyazma_event(**overrides) -> dict:
    return event_body(**{"location": "Вязьма, ул. Ленина, 1", "audience": ["teacher"],
                         **overrides})


def nothing_stored(services) -> bool:
    return services.redis.keys(EVENT_PREFIX + "*") == [] and queue(services.redis_raw).count == 0


def test_a_token_acts_only_for_its_own_source(client, auth, services):
    body = vyazma_event()
    for method in ("put", "get", "delete"):
        response = getattr(client, method)("/api/v1/sources/institute/events/x", headers=VYAZMA,
                                           json=body if method == "put" else None)
        assert response.status_code == 403, (method, response.json)
        assert response.json["error"] == "forbidden_source"
    response = client.put("/api/v1/sources/vyazma/events/x", json=body, headers=auth)
    assert response.status_code == 403
    assert client.get("/api/v1/sources/nowhere/events/x", headers=VYAZMA).status_code == 404
    response = client.put("/api/v1/events/x", json=body, headers=BOTH)
    assert (response.status_code, response.json["error"]) == (400, "source_required")
    assert nothing_stored(services)


def test_kinds_and_audience_are_the_sources_own(client, auth, services):
    """Vyazma's events.yml has no webinars; its roles have no winners: 422, nothing stored."""
    response = client.put("/api/v1/events/w-1", json=vyazma_event(kind="webinar"),
                          headers=VYAZMA)
    assert response.status_code == 422
    assert response.json["details"][0]["field"] == "kind"
    response = client.put("/api/v1/events/w-1", json=vyazma_event(audience=["winner"]),
                          headers=VYAZMA)
    assert response.status_code == 422
    assert response.json["details"][0]["field"] == "audience"
    assert nothing_stored(services)
    response = client.put("/api/v1/events/w-1", json=event_body(kind="webinar"), headers=auth)
    assert response.status_code == 202


def test_the_same_local_id_in_two_sources_makes_two_topics(client, auth, forum, work,
                                                             services):
    institute = client.put("/api/v1/events/sem-1", json=event_body(), headers=auth)
    vyazma = client.put("/api/v1/sources/vyazma/events/sem-1",
                        json=vyazma_event(kind="master_class"), headers=BOTH)
    assert (institute.status_code, vyazma.status_code) == (202, 202)
    assert institute.json["source"] == "institute"
    assert vyazma.json["source"] == "vyazma"
    assert vyazma.json["status_url"].startswith("/api/v1/sources/vyazma/jobs/")
    work()

    assert sorted(services.events.all_ids()) == ["sem-1", "vyazma:sem-1"]
    topics = {t["external_id"]: t for t in live_topics(forum)}
    assert set(topics) == {topic_external_id("sem-1"), topic_external_id("vyazma:sem-1")}
    categories = {c["id"]: c["slug"] for c in forum.state()["categories"]}
    # Each lands in the category its own source's events.yml names for its kind.
    assert categories[topics[topic_external_id("sem-1")]["category_id"]] == "meropriyatiya"
    assert (categories[topics[topic_external_id("vyazma:sem-1")]["category_id"]]
            == "vyazma-meropriyatiya")
    # The audience is labelled with the source's own roles.
    assert "Педагог" in topics[topic_external_id("vyazma:sem-1")]["raw"]

    mine = client.get("/api/v1/events/sem-1", headers=VYAZMA).json
    theirs = client.get("/api/v1/events/sem-1", headers=auth).json
    assert (mine["external_id"], mine["source"]) == ("sem-1", "vyazma")
    assert (theirs["external_id"], theirs["source"]) == ("sem-1", "institute")
    assert mine["forum"]["topic_id"] != theirs["forum"]["topic_id"]
    assert mine["desired"]["kind"] == "master_class"

    # Withdrawing one source's event leaves the other's topic alone.
    assert client.delete("/api/v1/events/sem-1", headers=VYAZMA).status_code == 202
    work()
    shown = {t["external_id"]: t["visible"] for t in live_topics(forum)}
    assert shown == {topic_external_id("sem-1"): True,
                     topic_external_id("vyazma:sem-1"): False}


def test_a_legacy_id_that_names_another_source_is_refused(client, auth, services):
    response = client.put("/api/v1/events/vyazma:sem-1", json=event_body(), headers=auth)
    assert response.status_code == 422
    assert nothing_stored(services)
    # Vyazma's own ids may hold a colon: they live under its prefix.
    assert client.put("/api/v1/events/institute:1", json=vyazma_event(),
                      headers=VYAZMA).status_code == 202
    assert services.events.all_ids() == ["vyazma:institute:1"]


@pytest.mark.parametrize("ids", [
    ("x", "vyazma:x", "vyazma-x", "X", "vyazma:X", "vyazma.x", "vyazma_x"),
    ("a" * 64, "vyazma:" + "a" * 64, "vyazma:" + "a" * 63 + "b", "vyazma-" + "a" * 57),
])
def test_topic_external_ids_never_collide_and_keep_discourses_rules(ids):
    """Discourse: at most 50 of [A-Za-z0-9_-], unique ignoring case (Topic#external_id)."""
    for generation in (1, 2, 99):
        topic_ids = [topic_external_id(i, generation) for i in ids]
        assert len({t.lower() for t in topic_ids}) == len(ids), topic_ids
        for topic_id in topic_ids:
            assert len(topic_id) <= TOPIC_EXTERNAL_ID_MAX
            assert re.fullmatch(r"[A-Za-z0-9_-]+", topic_id), topic_id


def test_discourse_setup_creates_every_sources_categories(runner, sandbox):
    result = runner.invoke(args=["discourse", "setup"])
    assert result.exit_code == 0, result.output
    slugs = {c["slug"] for c in sandbox.state()["categories"]}
    assert {"meropriyatiya", "konkursy", "vebinary", "vyazma-meropriyatiya"} <= slugs
    result = runner.invoke(args=["discourse", "setup"])
    assert "categories created: none (all exist)" in result.output


def run_import(runner, *args):
    result = runner.invoke(args=["events", "import-ics", *args])
    assert result.exit_code == 0, result.output
    return dict(line.split(" / ")[1].split(": ") for line in result.output.splitlines()
                if " / " in line)


def test_a_feed_belongs_to_a_source(runner, services, tmp_path):
    """The same feed for both sources: two sets of events, each withdrawing only its own."""
    feed = tmp_path / "club.ics"
    feed.write_bytes((FIXTURES / "club-v1.ics").read_bytes())
    assert run_import(runner, str(feed))["created"] == "4"  # the legacy source's by default
    assert run_import(runner, str(feed), "--source", "vyazma")["created"] == "4"
    local = feed_external_id(feed_key(str(feed)), "webinar-42")
    store = services.events
    assert store.get(local).desired["kind"] == "webinar"
    assert store.get(f"vyazma:{local}").desired["kind"] == "seminar"  # Vyazma has no webinars

    feed.write_bytes((FIXTURES / "club-v2.ics").read_bytes())
    assert run_import(runner, str(feed), "--source", "vyazma", "--delete-missing")["deleted"] == "1"
    gone = feed_external_id(feed_key(str(feed)), "round-table-floating")
    assert store.get(f"vyazma:{gone}").removed
    assert not store.get(gone).removed  # the institute's copy is untouched

    result = runner.invoke(
        args=["events", "import-ics", str(feed), "--source", "nowhere"])
    assert result.exit_code != 0
    assert "nowhere" in result.output
    result = runner.invoke(
        args=["events", "import-ics", str(feed), "--source", "vyazma", "--kind", "webinar"])
    assert result.exit_code != 0
    assert "webinar" in result.output


def test_configured_feeds_may_name_their_source(services, tmp_path):
    import dataclasses

    from workers.events import poll_feeds

    feed = tmp_path / "feed.ics"
    feed.write_bytes((FIXTURES / "club-v1.ics").read_bytes())
    settings = dataclasses.replace(services.settings,
                                   event_feeds=(str(feed), f"vyazma:{feed}"))
    services.config = dataclasses.replace(services.config, settings=settings)
    results = poll_feeds()
    assert results[str(feed)]["created"] == 4
    assert results[f"vyazma:{feed}"]["created"] == 4
    ids = services.events.all_ids()
    assert len(ids) == 8
    assert sum(i.startswith("vyazma:ics-") for i in ids) == 4


def test_a_feed_naming_an_unknown_source_is_a_configuration_error(environ, tmp_path):
    feeds = "https://soiro.example/club.ics vyazma:webinar=https://v.example/a.ics nowhere:/x.ics"
    with pytest.raises(ConfigError, match="'nowhere' is not a source"):
        load_config({**two_sources_environ(environ, tmp_path), "BRIDGE_EVENT_FEEDS": feeds})
    federation = two_sources_config(environ, tmp_path).sources
    assert split_feed_source("https://soiro.example/club.ics", federation) == (
        None, "https://soiro.example/club.ics")
    assert split_feed_source("vyazma:webinar=https://v.example/a.ics", federation) == (
        "vyazma", "webinar=https://v.example/a.ics")
