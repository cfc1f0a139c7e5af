"""Logs: one event a line whatever the input, as text or as JSON for log shippers."""

from __future__ import annotations

import json
import logging
import re

import pytest

from config.logging import configure_logging, context_id

LINE_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ web \[[^\]]*\] ")
FORGED = "x%0Ay%0D%0A2026-01-01 00:00:00,000 CRITICAL web [-] forged: z%0D"


@pytest.fixture
def stderr_logging(capsys):
    """`configure_logging` as the web process calls it, writing to the captured stderr."""
    root = logging.getLogger()
    quiet = [logging.getLogger(name) for name in ("urllib3", "werkzeug", "authlib")]
    saved = (root.handlers[:], root.level, [logger.level for logger in quiet])

    def configure(log_format: str = "text") -> None:
        configure_logging("INFO", process="web", log_format=log_format)

    yield configure
    root.handlers[:], level, levels = saved
    root.setLevel(level)
    for logger, previous in zip(quiet, levels, strict=True):
        logger.setLevel(previous)


@pytest.fixture
def failing_app(app):
    """The bridge's app with a view that raises, logged by Flask as in production."""
    app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False)

    def boom(rest: str):
        raise RuntimeError(f"boom in {rest}")

    app.add_url_rule("/boom/<rest>", view_func=boom)  # [^/]+ matches a newline
    return app


def test_a_request_path_with_line_breaks_stays_one_text_line(failing_app, stderr_logging,
                                                              capsys):
    stderr_logging("text")
    response = failing_app.test_client().get("/boom/" + FORGED)
    assert response.status_code == 500

    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.removesuffix("\n").split("\n")
    assert all(LINE_START.match(line) for line in lines), lines
    [event] = [line for line in lines if "Exception on /boom/" in line]
    assert "x\\ny\\r\\n2026-01-01 00:00:00,000 CRITICAL web [-] forged: z\\r [GET]" in event
    assert "Traceback (most recent call last):\\n" in event  # folded into the same line
    assert event.endswith("RuntimeError: boom in x\\ny\\r\\n2026-01-01 00:00:00,000 CRITICAL "
                          "web [-] forged: z\\r")


def test_control_characters_of_any_log_argument_are_escaped(stderr_logging, capsys):
    stderr_logging("text")
    logging.getLogger("workers.events").warning("feed %s: %s", "a\x1b[31mb", "c\u2028d\x85e\tf")
    line = capsys.readouterr().err
    assert line.count("\n") == 1
    assert line.endswith("workers.events: feed a\\x1b[31mb: c\\u2028d\\x85e\\tf\n")


def test_json_lines_for_log_shippers(stderr_logging, capsys):
    stderr_logging("json")
    token = context_id.set("member-t_c1-v3")
    try:
        log = logging.getLogger("workers.members")
        log.info("member %s: %s", "t:1", "synced", extra={"email": "ivanova@example.org"})
        try:
            int("bad\nvalue")
        except ValueError:
            log.exception("job failed")
    finally:
        context_id.reset(token)

    lines = capsys.readouterr().err.removesuffix("\n").split("\n")
    assert len(lines) == 2
    info, failure = (json.loads(line) for line in lines)
    assert list(info) == ["time", "level", "logger", "process", "context_id", "event"]
    assert info["level"] == "INFO"
    assert info["logger"] == "workers.members"
    assert info["process"] == "web"
    assert info["context_id"] == "member-t_c1-v3"
    assert info["event"] == "member t:1: synced"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00", info["time"])
    assert "ivanova" not in lines[0]  # fields beyond the fixed set never reach the shipper
    assert failure["level"] == "ERROR"
    assert failure["event"] == "job failed"
    assert failure["exception"].startswith("Traceback (most recent call last):")
    assert failure["exception"].endswith("ValueError: invalid literal for int() with base 10: "
                                         "'bad\\nvalue'")


def test_json_request_path_with_line_breaks_stays_one_line(failing_app, stderr_logging, capsys):
    stderr_logging("json")
    failing_app.test_client().get("/boom/" + FORGED + "%E2%80%A8")
    lines = capsys.readouterr().err.removesuffix("\n").split("\n")
    events = [json.loads(line) for line in lines]  # every line is one whole object
    [event] = [e for e in events if e["event"].startswith("Exception on /boom/")]
    assert event["event"] == ("Exception on /boom/x\ny\r\n2026-01-01 00:00:00,000 CRITICAL "
                              "web [-] forged: z\r\u2028 [GET]")
    assert "RuntimeError: boom in x\ny" in event["exception"]
    assert "\u2028" not in "".join(lines)


def test_the_log_format_is_text_or_json():
    from config.settings import ConfigError, load_settings
    from tests.conftest import make_environ

    environ = make_environ(redis_url="redis://127.0.0.1:9/0", discourse_url="http://127.0.0.1:9",
                           bridge_port=9, issuer="http://127.0.0.1:9")
    assert load_settings(environ).log_format == "text"
    assert load_settings({**environ, "BRIDGE_LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(ConfigError, match="BRIDGE_LOG_FORMAT: must be one of text, json"):
        load_settings({**environ, "BRIDGE_LOG_FORMAT": "xml"})
