"""Schemathesis, a generic OpenAPI fuzzer, finds no disagreement between the API and its document.

It reads the document the bridge serves (`/api/v1/openapi.json`, with the role
codes and kinds of the loaded configuration) and runs its examples, coverage
and fuzzing phases against the app over real HTTP on a real Redis, with every
default check: no 5xx; every status, header and body as documented; requests
the document calls invalid refused; requests it calls valid not refused with
422. Redis is emptied before each request, so each case stands alone.

Four rules of the API cannot be written in JSON Schema, so the document states
them in words and `_breaks_a_rule_in_words` keeps the fuzzer's *valid* cases
from breaking them: `ends_at` not before `starts_at`, dates in the years
1900-2200, each external_id once in a roster, and the content of a CSV roster.

It runs twice: for the bridge alone, and for a federation of two sources with
the token of one (the document it fetches lists that source's role codes and
kinds only).

Run alone, with the figures: `.venv/bin/python -m pytest -s tests/api/test_fuzz_schemathesis.py`
"""

from __future__ import annotations

from datetime import datetime

import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.engine import Status, events, from_schema

from tests.support.servers import ThreadedServer
from tests.support.two_sources import VYAZMA_TOKEN, bearer, two_sources_config

MAX_EXAMPLES = 25  # per operation and generation mode; the whole run stays well under a minute


@pytest.fixture(params=["one source", "two sources"])
def app_config(request, app_config, environ, tmp_path):
    """The bridge alone, and in a federation (fuzzed with the token of its non-legacy source)."""
    if request.param == "one source":
        return app_config
    return two_sources_config(environ, tmp_path)


@pytest.fixture
def token(app_config, auth):
    """The token the run acts with; it also fetches the document (narrowed to its source)."""
    return bearer(VYAZMA_TOKEN) if app_config.federated else auth


@pytest.fixture
def served_api(app, services):
    """The app over HTTP, Redis emptied before each request."""

    def fresh_app(environ, start_response):
        services.redis.flushdb()
        return app(environ, start_response)

    server = ThreadedServer(fresh_app).start()
    yield server.url
    server.stop()


def _breaks_a_rule_in_words(case) -> bool:
    body = case.body if isinstance(case.body, (dict, list, str)) else None
    path = case.path.replace("/sources/{source}", "")  # both forms keep the same rules
    if path == "/api/v1/roster":
        if case.media_type == "text/csv":
            return True
        ids = [row.get("external_id") for row in body if isinstance(row, dict)]
        return len(ids) != len(set(ids))
    if path == "/api/v1/events/{external_id}" and isinstance(body, dict):
        try:
            times = [datetime.fromisoformat(body[k]) for k in ("starts_at", "ends_at")
                     if body.get(k) is not None]
        except (TypeError, ValueError):
            return False
        outside = any(not 1900 <= t.year <= 2200 for t in times)
        return outside or (len(times) == 2 and times[1] < times[0])
    return False


def fuzz(url: str, headers: dict) -> dict:
    """One Schemathesis run (as `schemathesis run` would do it); its figures and failures."""
    config = schemathesis.Config.from_dict({
        "headers": headers, "seed": 20261201,
        "generation": {"max-examples": MAX_EXAMPLES},
        "phases": {"stateful": {"enabled": False}},  # the document declares no links
    })
    schema = schemathesis.openapi.from_url(url + "/api/v1/openapi.json", config=config)

    @schema.hook
    def filter_case(context, case):
        meta = case.meta
        positive = meta is None or meta.generation.mode == GenerationMode.POSITIVE
        return not (positive and _breaks_a_rule_in_words(case))

    figures = {"operations": set(), "cases": 0, "failures": [], "errors": []}
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished) and event.status != Status.SKIP:
            figures["operations"].add(event.recorder.label)
            figures["cases"] += len(event.recorder.cases)
            for checks in event.recorder.checks.values():
                figures["failures"] += [
                    f"{event.recorder.label} {check.name}: {check.failure_info.failure.title}"
                    f"\n  {check.failure_info.code_sample}"
                    for check in checks if check.status == Status.FAILURE]
        elif isinstance(event, events.NonFatalError):
            figures["errors"].append(f"{event.label}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            figures["errors"].append(repr(event.exception))
    return figures


def test_schemathesis_finds_no_disagreement(served_api, token, app_config):
    figures = fuzz(served_api, dict(token))
    failures = sorted(set(figures["failures"]))
    sources = ", ".join(app_config.sources.codes)
    print(f"\nschemathesis {schemathesis.__version__} ({sources}): "
          f"{len(figures['operations'])} operations, "
          f"{figures['cases']} cases, {len(failures)} failures, {len(figures['errors'])} errors")
    # All but the document's, each in both forms: /api/v1/… and /api/v1/sources/{source}/…
    assert len(figures["operations"]) == 18, sorted(figures["operations"])
    assert failures == [], "\n".join(failures)
    assert figures["errors"] == []
