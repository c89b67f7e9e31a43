"""Request bodies and queries of the decision routes (bans, whitelist, IOCs) of seeds 000, 001, 002, 003."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.decisions import ttl


class Schema(BaseModel):
    """Validators are built on first use, not at import: a cold start declares a hundred models and uses few."""

    model_config = ConfigDict(defer_build=True)


STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
Tag = str


class BanCreate(Schema):
    """Seed 000 `POST /bans`: `duration_days` or `permanent`; Vigil also takes a `duration` in the TTL
    grammar (`"24h"`, `"P7D"`, seconds), tags and a sensor scope. No duration at all means the default, grown
    for repeat offenders."""

    model_config = STRICT
    ip: str = Field(min_length=1, max_length=100)
    reason: str = Field("", max_length=500)
    duration_days: float | None = Field(None, gt=0)
    duration: str | int | None = None
    permanent: bool = False
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    sensor: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    force: bool = False

    def seconds(self) -> Any:
        """Seconds, None for permanent, or the DEFAULT marker when no duration was given."""
        from chalicelib.decisions.requests import DEFAULT  # noqa: PLC0415

        if self.permanent:
            return None
        if self.duration is not None:
            return ttl.parse_ttl(self.duration)
        if self.duration_days is not None:
            return ttl.from_days(self.duration_days)
        return DEFAULT


class BanExtend(Schema):
    model_config = STRICT
    duration_days: float | None = Field(None, gt=0)
    duration_hours: float | None = Field(None, gt=0)
    duration: str | int | None = None

    @model_validator(mode="after")
    def _one_duration(self) -> BanExtend:
        given = [v for v in (self.duration_days, self.duration_hours, self.duration) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of duration_days, duration_hours, duration")
        return self

    def seconds(self) -> int:
        if self.duration is not None:
            value = ttl.parse_ttl(self.duration)
            if value is None:
                raise ValueError("use POST /bans/{ip}/permanent to make a ban permanent")
            return value
        if self.duration_days is not None:
            return int(ttl.from_days(self.duration_days) or 0)
        return int((self.duration_hours or 0) * 3600)


class Unban(Schema):
    model_config = STRICT
    reason: str = Field("", max_length=500)


class BanQuery(Schema):
    model_config = ConfigDict(extra="forbid")
    status: Literal["active", "expired", "ended", "all"] = "active"
    source: str | None = None
    tag: str | None = None
    ip: str | None = None
    sensor: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    search: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=1000)
    offset: int = Field(0, ge=0)


class WhitelistCreate(Schema):
    """Seed 000 `POST /whitelist`."""

    model_config = STRICT
    ip: str = Field(min_length=1, max_length=100)
    cidr_mask: int | None = Field(None, ge=0, le=128)
    type: Literal["hard", "soft", "monitor"] = "hard"
    reason: str = Field("", max_length=500)
    score_modifier: int | None = Field(None, ge=-100, le=100)
    alert_only: bool | None = None
    duration_days: float | None = Field(None, gt=0)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    force: bool = False


class WhitelistUpdate(Schema):
    model_config = STRICT
    cidr_mask: int | None = Field(None, ge=0, le=128)
    type: Literal["hard", "soft", "monitor"] | None = None
    reason: str | None = Field(None, max_length=500)
    score_modifier: int | None = Field(None, ge=-100, le=100)
    alert_only: bool | None = None
    duration_days: float | None = Field(None, gt=0)
    permanent: bool | None = None
    tags: list[Tag] | None = None


class WhitelistQuery(Schema):
    model_config = ConfigDict(extra="forbid")
    type: Literal["hard", "soft", "monitor"] | None = None
    tag: str | None = None
    ip: str | None = None
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0)


class SystemWhitelistEntry(Schema):
    model_config = STRICT
    ip: str = Field(min_length=1, max_length=100)
    cidr_mask: int | None = Field(None, ge=0, le=128)
    reason: str = Field("", max_length=500)


class SystemWhitelistUpdate(Schema):
    model_config = STRICT
    reason: str = Field(max_length=500)


class AdminBan(Schema):
    """Seed 001 `POST /banned-ips`: `duration` in seconds, `null` = permanent."""

    model_config = STRICT
    ipAddress: str = Field(min_length=1, max_length=100)
    reason: str = Field("", max_length=500)
    duration: int | None = Field(86_400)


class DetectorBlock(Schema):
    """Seed 002 `POST /block`."""

    model_config = STRICT
    ip_address: str = Field(min_length=1, max_length=100)
    reason: str = Field("", max_length=500)
    duration_minutes: float | None = Field(60, gt=0)


class DetectorVmBlock(DetectorBlock):
    vm_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")


class IocItemIn(Schema):
    """One item of seed 003 `POST /bloquear-ip`: exactly one of `ip`, `range`, `cidr`; `tags` required."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)
    ip: str | None = Field(None, max_length=100)
    range: str | None = Field(None, max_length=200)
    cidr: str | None = Field(None, max_length=100)
    tags: list[Tag] = Field(min_length=1, max_length=50)
    ttl: str | int | float | None = None
    note: str | None = Field(None, max_length=1000)
    alert_id: str | None = Field(None, max_length=200)
    force: bool = False

    @model_validator(mode="after")
    def _one_target(self) -> IocItemIn:
        given = [v for v in (self.ip, self.range, self.cidr) if v]
        if len(given) != 1:
            raise ValueError("give exactly one of ip, range, cidr")
        if any(not t.strip() for t in self.tags):
            raise ValueError("tags must not be empty")
        return self

    def target(self) -> str:
        return self.ip or self.range or self.cidr or ""


class IocUnblock(Schema):
    model_config = STRICT
    ip: str = Field(min_length=1, max_length=100)
    tags: list[Tag] | None = None


class HistoryQuery(Schema):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(30, ge=1, le=366)
