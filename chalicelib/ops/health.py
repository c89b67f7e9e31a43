"""The health of the platform: one report that the seed 000, 002 and 004 health routes each render.

A dependency that does not answer makes the whole platform `unhealthy` (503): a detector that cannot store
events or publish decisions is not working, whatever its process says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.ops.probes import DependencyProbes, ProbeResult


@dataclass(frozen=True)
class HealthReport:
    healthy: bool
    checks: tuple[ProbeResult, ...]
    uptime_seconds: int
    version: str
    checked_at: datetime
    active_sensors: int

    @property
    def status(self) -> str:
        return "healthy" if self.healthy else "unhealthy"

    def check(self, name: str) -> bool:
        return any(c.ok for c in self.checks if c.name == name)


def check_health(
    probes: DependencyProbes, *, uptime_seconds: int, version: str, now: datetime, active_sensors: int
) -> HealthReport:
    """Probe every dependency now and report."""
    return assess(
        probes.run_all(),
        uptime_seconds=uptime_seconds,
        version=version,
        now=now,
        active_sensors=active_sensors,
    )


def assess(
    checks: list[ProbeResult], *, uptime_seconds: int, version: str, now: datetime, active_sensors: int
) -> HealthReport:
    """Combine probe results into one report."""
    return HealthReport(
        healthy=all(c.ok for c in checks),
        checks=tuple(checks),
        uptime_seconds=uptime_seconds,
        version=version,
        checked_at=now,
        active_sensors=active_sensors,
    )
