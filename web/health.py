"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bridge.metrics import BridgeCollector
from web.current import current_services
from workers.queue import job_counts

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    services = current_services()
    checks = {}
    try:
        services.redis.ping()
        checks["redis"] = "ok"
    except Exception as error:  # noqa: BLE001 - any failure means not ready
        checks["redis"] = f"error: {type(error).__name__}"
    try:
        # An unauthenticated read, so readiness probes never spend the admin budget.
        response = services.discourse.session.get(
            services.settings.discourse_url + "/srv/status", timeout=3
        )
        checks["discourse"] = "ok" if response.status_code < 500 else f"HTTP {response.status_code}"
    except Exception as error:  # noqa: BLE001
        checks["discourse"] = f"error: {type(error).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return jsonify({"status": "ok" if ready else "unavailable", "checks": checks}), (
        200 if ready else 503
    )


@bp.get("/metrics")
def metrics():
    registry = CollectorRegistry()
    services = current_services()
    registry.register(BridgeCollector(services,
                                      job_counts=lambda: job_counts(services.redis_raw)))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

