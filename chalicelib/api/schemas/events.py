"""Request bodies and queries of the ingest, events, statistics and detection routes (seeds 000 and 002)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from chalicelib.core.errors import VigilError


class Schema(BaseModel):
    """Validators are built on first use, not at import: a cold start declares a hundred models and uses few."""

    model_config = ConfigDict(defer_build=True)


STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
SENSOR = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


def _known_zone(value: str) -> str:
    from chalicelib.events.parsers import zone  # noqa: PLC0415 - the parsers load with the first batch

    try:
        zone(value)
    except VigilError as exc:
        raise ValueError(exc.message) from None
    return value


# The zone of classic syslog stamps (`Nov 24 10:00:00` says none): an IANA name or an offset (`parsers.zone`).
ZoneName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_known_zone)]


class IngestBatch(Schema):
    """`POST /api/v1/ingest`: raw `lines` in a `format`, or structured `events`, from one sensor."""

    model_config = STRICT
    sensor: str | None = Field(None, pattern=SENSOR)
    hostname: str | None = Field(None, max_length=255)
    format: str | None = Field(None, max_length=32)
    batch_id: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    lines: list[Any] = Field(default_factory=list)
    events: list[Any] = Field(default_factory=list)
    timezone: ZoneName | None = None


class VmEvents(Schema):
    """Seed 002 `POST /events`: failed logons from one VM (agent or WEF collector)."""

    model_config = ConfigDict(extra="forbid")
    vm_id: str = Field(pattern=SENSOR)
    hostname: str | None = Field(None, max_length=255)
    events: list[Any] = Field(min_length=1)
    batch_id: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")


class VmRegistration(Schema):
    model_config = STRICT
    vm_id: str = Field(pattern=SENSOR)
    hostname: str | None = Field(None, max_length=255)
    ip_address: str | None = Field(None, max_length=45)
    collection_method: Literal["agent", "wef", "syslog", "api", "firewall", "waf"] = "agent"


class EventQuery(Schema):
    """Seed 000's `/events` parameters."""

    model_config = ConfigDict(extra="forbid")
    limit: int = Field(50, ge=1, le=1000)
    offset: int = Field(0, ge=0)
    log_type: Literal["WAF", "IPS", "ATP", "AUTH", "HTTP", "FIREWALL"] | None = None
    severity: Literal["critical", "high", "medium", "low", "info"] | None = None
    src_ip: str | None = Field(None, max_length=45)
    hostname: str | None = Field(None, max_length=255)
    sensor: str | None = Field(None, max_length=64)
    kind: str | None = Field(None, max_length=32)
    start_time: datetime | None = None
    end_time: datetime | None = None
    search: str | None = Field(None, max_length=200)


class TimelineQuery(EventQuery):
    interval: Literal["minute", "hour", "day"] = "hour"


class PeriodQuery(Schema):
    model_config = ConfigDict(extra="forbid")
    days: int = Field(1, ge=1, le=30)
    limit: int = Field(10, ge=1, le=100)


class TrackQuery(Schema):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=255)
    type: Literal["ip", "hostname"] = "ip"
    days: int = Field(30, ge=1, le=90)


class FeedQuery(Schema):
    model_config = ConfigDict(extra="forbid")
    last_event_id: str | None = Field(None, max_length=64)
    token: str | None = None


class SuspiciousQuery(Schema):
    model_config = ConfigDict(extra="forbid")
    threshold: int = Field(10, ge=1)
    hours: int = Field(24, ge=1, le=720)


class ParserTest(Schema):
    model_config = STRICT
    format: str = Field(max_length=32)
    lines: list[str] = Field(min_length=1, max_length=200)
    year: int | None = Field(None, ge=1990, le=2100)
    timezone: ZoneName | None = None


class PendingDecision(Schema):
    model_config = STRICT
    reason: str = Field("", max_length=500)
    whitelist: bool = False


class PendingQuery(Schema):
    model_config = ConfigDict(extra="forbid")
    status: Literal["pending", "decided", "all"] = "pending"
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0)
