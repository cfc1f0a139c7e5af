"""Housekeeping jobs."""

from __future__ import annotations

from workers.runtime import job, services


@job
def trim_audit() -> dict:
    return {"trimmed": services().audit.trim()}
