"""Response models of the health routes (documentation of the shapes; handlers build them as dicts)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Schema(BaseModel):
    """Validators are built on first use, not at import: a cold start declares a hundred models and uses few."""

    model_config = ConfigDict(defer_build=True)


class CheckV1(Schema):
    ok: bool
    latency_ms: float
    error: str | None = None


class HealthData(Schema):
    status: str
    version: str
    checks: dict[str, CheckV1]


class HealthV1(Schema):
    """Seed 000 and seed 002 at once."""

    success: bool
    status: str
    uptime_seconds: int
    db_connected: bool
    active_vms: int
    data: HealthData
    meta: dict[str, str]
    error: str | None = None


class HealthCore(Schema):
    """Seed 004's health body."""

    status: str
    checks: dict[str, bool]
    timestamp: str
    version: str
    uptime: int
