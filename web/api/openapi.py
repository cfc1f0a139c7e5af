"""The API's own OpenAPI document, served at /api/v1/openapi.json."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from flask import jsonify

from web.api import bp

SPEC_FILE = Path(__file__).with_name("openapi.yml")


@cache
def spec() -> dict:
    return yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(spec())
