"""Seed 004's `GET /health` (`status`, `checks`, `timestamp`, `version`, `uptime`)."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.contracts import CORE, Reply
from chalicelib.api.routing import PUBLIC, route
from chalicelib.api.schemas import models
from chalicelib.api.v1.health import current_report
from chalicelib.core.clock import iso

bp = Blueprint(__name__)
health_schemas = models("health")

# Seed 004 names its checks after its own parts; Vigil's are the AWS services behind them.
_CHECK_NAMES = {"dynamodb": "database", "s3": "storage", "sqs": "queue"}


@route(bp, "/health", permission=PUBLIC, contract=CORE, response=health_schemas.HealthCore, tags=("health",))
def health() -> Reply:
    """Platform health in seed 004's shape: 200 when healthy, 503 otherwise."""
    report = current_report()
    body = {
        "status": report.status,
        "checks": {_CHECK_NAMES.get(c.name, c.name): c.ok for c in report.checks},
        "timestamp": iso(report.checked_at),
        "version": report.version,
        "uptime": report.uptime_seconds,
    }
    return Reply(body=body, status=200 if report.healthy else 503)
