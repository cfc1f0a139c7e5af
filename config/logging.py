"""Logging set up at start-up: one event a line on stderr, with the request or job id."""

from __future__ import annotations

import contextvars
import logging
import sys

#: The id of the HTTP request or RQ job being handled, put on every line.
context_id: contextvars.ContextVar[str] = contextvars.ContextVar("context_id", default="-")


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.context_id = context_id.get()
        return True


def configure_logging(level: str = "INFO", *, process: str = "bridge") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter())
    handler.setFormatter(
        logging.Formatter(
            f"%(asctime)s %(levelname)s {process} [%(context_id)s] %(name)s: %(message)s"
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # urllib3 logs full URLs at DEBUG; keep it quiet so no query string leaks.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # authlib's client logs the PKCE code verifier at DEBUG.
    logging.getLogger("authlib").setLevel(logging.INFO)
