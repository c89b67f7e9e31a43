"""A decision: Vigil's verdict on an IP or CIDR.

Words as CrowdSec uses them: a decision has an `id`, a `type` (`ban`, or `allow` for a whitelist entry), a
`value` (the normalised network), an `origin` (who made it: `manual`, `api`, `ioc`, `scenario`, `auto-ban`,
`blocklist`...), an optional `scenario`, and `until` (None = permanent). Vigil adds where it applies
(`scope`: `global`, `sensor:<id>` for seed 002's per-VM blocks, `system` for the platform's own whitelist),
`tags` (seed 003's IOC lists), and the bookkeeping that history and recidivism need.

One record exists per (value, type, scope). When a decision ends it stays as an `ended` record (with a TTL)
so that the next ban of the same value knows how many came before; its full story is in the history items.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from chalicelib.core.clock import iso, parse_time
from chalicelib.decisions.addresses import Network, display, parse_network

BAN = "ban"
ALLOW = "allow"
GLOBAL = "global"
SYSTEM = "system"
ACTIVE = "active"
ENDED = "ended"
WHITELIST_TYPES = ("hard", "soft", "monitor")


def sensor_scope(sensor: str) -> str:
    return f"sensor:{sensor}"


@dataclass(frozen=True)
class Decision:
    id: str
    value: str  # normalised CIDR text, e.g. "203.0.113.7/32"
    type: str = BAN
    scope: str = GLOBAL
    origin: str = "manual"
    reason: str = ""
    scenario: str | None = None
    tags: tuple[str, ...] = ()
    alert_ids: tuple[str, ...] = ()
    note: str | None = None
    created_at: datetime | None = None
    created_by: str | None = None
    updated_at: datetime | None = None
    until: datetime | None = None
    ttl_seconds: int | None = None  # the lifetime asked for (seed 003 shows it back)
    status: str = ACTIVE
    ended_at: datetime | None = None
    ended_by: str | None = None
    ended_reason: str | None = None
    bans: int = 1  # how many times this value has been banned in this scope (recidivism)
    version: int = 0
    whitelist_type: str | None = None  # hard | soft | monitor, for type allow
    score_modifier: int | None = None
    alert_only: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sk(self) -> str:
        return f"{self.type}#{self.scope}"

    @property
    def network(self) -> Network:
        return parse_network(self.value)

    @property
    def address(self) -> str:
        """The value as people write it: a bare address for one host, a CIDR otherwise."""
        return display(self.network)

    @property
    def sensor(self) -> str | None:
        return self.scope.removeprefix("sensor:") if self.scope.startswith("sensor:") else None

    @property
    def permanent(self) -> bool:
        return self.until is None

    @property
    def kind(self) -> str:
        """The index kind: `ban`, `ban:sensor`, `allow:hard|soft|monitor|system`; other types (pending) as is."""
        if self.type == BAN:
            return "ban" if self.scope == GLOBAL else "ban:sensor"
        if self.type != ALLOW:
            return self.type
        if self.scope == SYSTEM:
            return "allow:system"
        return f"allow:{self.whitelist_type or 'hard'}"

    def active_at(self, now: datetime) -> bool:
        """Active and not past its expiry: reads treat `until <= now` as inactive before any sweep runs."""
        return self.status == ACTIVE and (self.until is None or self.until > now)

    def remaining_seconds(self, now: datetime) -> int | None:
        return None if self.until is None else max(0, int((self.until - now).total_seconds()))

    def changed(self, **changes: Any) -> Decision:
        return replace(self, **changes)

    def summary(self) -> dict[str, Any]:
        """What a change message and a firewall connector need to know."""
        return {
            "id": self.id,
            "value": self.value,
            "type": self.type,
            "scope": self.scope,
            "origin": self.origin,
            "scenario": self.scenario,
            "reason": self.reason,
            "tags": list(self.tags),
            "until": iso(self.until),
            "whitelist_type": self.whitelist_type,
        }

    def as_record(self) -> dict[str, Any]:
        """Every field, JSON-friendly (times as ISO text)."""
        record = {
            "id": self.id,
            "value": self.value,
            "type": self.type,
            "scope": self.scope,
            "origin": self.origin,
            "reason": self.reason,
            "scenario": self.scenario,
            "tags": list(self.tags),
            "alert_ids": list(self.alert_ids),
            "note": self.note,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "updated_at": iso(self.updated_at),
            "until": iso(self.until),
            "ttl_seconds": self.ttl_seconds,
            "status": self.status,
            "ended_at": iso(self.ended_at),
            "ended_by": self.ended_by,
            "ended_reason": self.ended_reason,
            "bans": self.bans,
            "version": self.version,
            "whitelist_type": self.whitelist_type,
            "score_modifier": self.score_modifier,
            "alert_only": self.alert_only,
            "extra": self.extra or None,
        }
        return {k: v for k, v in record.items() if v is not None}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Decision:
        def when(name: str) -> datetime | None:
            value = record.get(name)
            return parse_time(value) if value else None

        return cls(
            id=record["id"],
            value=record["value"],
            type=record.get("type", BAN),
            scope=record.get("scope", GLOBAL),
            origin=record.get("origin", "manual"),
            reason=record.get("reason", ""),
            scenario=record.get("scenario"),
            tags=tuple(record.get("tags") or ()),
            alert_ids=tuple(record.get("alert_ids") or ()),
            note=record.get("note"),
            created_at=when("created_at"),
            created_by=record.get("created_by"),
            updated_at=when("updated_at"),
            until=when("until"),
            ttl_seconds=record.get("ttl_seconds"),
            status=record.get("status", ACTIVE),
            ended_at=when("ended_at"),
            ended_by=record.get("ended_by"),
            ended_reason=record.get("ended_reason"),
            bans=int(record.get("bans", 1)),
            version=int(record.get("version", 0)),
            whitelist_type=record.get("whitelist_type"),
            score_modifier=record.get("score_modifier"),
            alert_only=record.get("alert_only"),
            extra=dict(record.get("extra") or {}),
        )


@dataclass(frozen=True)
class Change:
    """One change to a decision, as the change stream carries it."""

    op: str  # "add" (new or changed, still in force) or "delete" (no longer in force)
    action: str  # issued, updated, extended, made_permanent, tags_removed, unbanned, expired, whitelisted...
    decision: Decision
    actor: str | None = None

    def as_message(self) -> dict[str, Any]:
        return {"op": self.op, "action": self.action, "actor": self.actor, "decision": self.decision.summary()}
