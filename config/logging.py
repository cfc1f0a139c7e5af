"""Logging set up at start-up: one event a line on stderr, with the request or job id.

Two formats (`BRIDGE_LOG_FORMAT`): `text` for people, `json` (one object a line)
for log shippers. In both, no input can split an event over two lines: a
request path may hold `%0A`, a job may log user text, a traceback has many
lines; text lines get their control characters escaped, JSON escapes them by
itself.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

#: The id of the HTTP request or RQ job being handled, put on every line.
context_id: contextvars.ContextVar[str] = contextvars.ContextVar("context_id", default="-")

LOG_FORMATS = ("text", "json")

# Everything a reader or a line splitter could take for a line break or a terminal
# command: C0 and C1 controls, DEL, and Unicode's line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.context_id = context_id.get()
        return True


def escape_controls(text: str) -> str:
    """`a\\nb` → `a\\\\nb`: control characters as visible escapes, never raw."""
    return _CONTROL.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) <= 0xFF else f"\\u{ord(char):04x}"


class OneLineFormatter(logging.Formatter):
    """The usual text line, escaped as a whole after formatting.

    Escaping the final line (not just the message) also folds the traceback and
    any `%s` of user-controlled text that other libraries log (Flask's
    `Exception on <path>`, werkzeug) into the one line of their event.
    """

    def format(self, record: logging.LogRecord) -> str:
        return escape_controls(super().format(record))


class ShipperJsonFormatter(JsonFormatter):
    """One JSON object a line with a fixed set of fields.

    Only these fields are written: whatever else a record carries (`extra=` of
    some library) never reaches the shipper, so the no-secrets rule of the text
    format holds here too.
    """

    FIELDS = ("time", "level", "logger", "process", "context_id", "event", "exception", "stack")

    def __init__(self, *, process: str):
        super().__init__(
            ["levelname", "name", "context_id", "message"],
            rename_fields={"levelname": "level", "name": "logger", "message": "event",
                           "exc_info": "exception", "stack_info": "stack"},
            static_fields={"process": process},
            timestamp="time",
            json_serializer=_one_line_json,
            json_ensure_ascii=False,
        )

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {name: log_data[name] for name in self.FIELDS if log_data.get(name) is not None}


def _one_line_json(data: Any, **options: Any) -> str:
    """JSON escapes C0 controls, but not the separators some splitters break lines at."""
    text = json.dumps(data, **options)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").replace(
        "\x85", "\\u0085")


def formatter(log_format: str, *, process: str) -> logging.Formatter:
    if log_format == "json":
        return ShipperJsonFormatter(process=process)
    return OneLineFormatter(
        f"%(asctime)s %(levelname)s {process} [%(context_id)s] %(name)s: %(message)s"
    )


def configure_logging(
    level: str = "INFO", *, process: str = "bridge", log_format: str = "text"
) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter())
    handler.setFormatter(formatter(log_format, process=process))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # urllib3 logs full URLs at DEBUG; keep it quiet so no query string leaks.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # authlib's client logs the PKCE code verifier at DEBUG.
    logging.getLogger("authlib").setLevel(logging.INFO)
