"""Response models of the health routes (documentation of the shapes; handlers build them as dicts)."""

from __future__ import annotations

from pydantic import BaseModel


class CheckV1(BaseModel):
    ok: bool
    latency_ms: float
    error: str | None = None


class HealthData(BaseModel):
    status: str
    version: str
    checks: dict[str, CheckV1]


class HealthV1(BaseModel):
    """Seed 000 and seed 002 at once."""

    success: bool
    status: str
    uptime_seconds: int
    db_connected: bool
    active_vms: int
    data: HealthData
    meta: dict[str, str]
    error: str | None = None


class HealthCore(BaseModel):
    """Seed 004's health body."""

    status: str
    checks: dict[str, bool]
    timestamp: str
    version: str
    uptime: int
