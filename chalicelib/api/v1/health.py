"""`GET /api/v1/health`: one body that satisfies seed 000 (`data`/`meta`) and seed 002 (`success`, `status`,
`uptime_seconds`, `db_connected`, `active_vms`) at once, since both seeds put their health route there."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint

from chalicelib.api.contracts import V1, Reply
from chalicelib.api.routing import PUBLIC, RequestInfo, route
from chalicelib.api.schemas import models
from chalicelib.core.clock import iso
from chalicelib.core.deps import get_container

if TYPE_CHECKING:
    from chalicelib.ops.health import HealthReport

bp = Blueprint(__name__)
health_schemas = models("health")


def current_report() -> HealthReport:
    """Probe the dependencies through the container's wiring."""
    from chalicelib.ops.health import assess  # noqa: PLC0415 - loaded on first use

    c = get_container()
    checks = c.probes.run_all()
    # Sensors are counted from DynamoDB: when it does not answer, the report says so instead of failing (500).
    database_up = any(check.ok for check in checks if check.name == "dynamodb")
    return assess(
        checks,
        uptime_seconds=c.uptime_seconds(),
        version=c.settings.version,
        now=c.clock.now(),
        active_sensors=c.active_sensor_count() if database_up else 0,
    )


@route(bp, "/api/v1/health", permission=PUBLIC, contract=V1, response=health_schemas.HealthV1, tags=("health",))
def health(request: RequestInfo) -> Reply:
    """Platform health: 200 when every dependency answers, 503 otherwise."""
    report = current_report()
    body = {
        "success": report.healthy,
        "status": report.status,
        "uptime_seconds": report.uptime_seconds,
        "db_connected": report.check("dynamodb"),
        "active_vms": report.active_sensors,
        "data": {
            "status": report.status,
            "version": report.version,
            "checks": {c.name: {"ok": c.ok, "latency_ms": c.latency_ms, "error": c.error} for c in report.checks},
        },
        "meta": {"request_id": request.request_id, "checked_at": iso(report.checked_at)},
    }
    if not report.healthy:
        body["error"] = "Unavailable: " + ", ".join(c.name for c in report.checks if not c.ok)
    return Reply(body=body, status=200 if report.healthy else 503, raw=True)
