"""How decisions look in each contract (the same record, shaped for seed 000, 001, 002 or 003 clients)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.core.clock import iso

if TYPE_CHECKING:
    from chalicelib.decisions.model import Decision


def ban_v1(d: Decision, now: datetime) -> dict[str, Any]:
    return {
        "id": d.id,
        "ip": d.address,
        "value": d.value,
        "type": d.type,
        "scope": d.scope,
        "sensor": d.sensor,
        "source": d.origin,
        "reason": d.reason,
        "scenario": d.scenario,
        "tags": list(d.tags),
        "alert_ids": list(d.alert_ids),
        "note": d.note,
        "status": "active" if d.active_at(now) else ("expired" if d.ended_reason in (None, "expired") else "ended"),
        "permanent": d.until is None,
        "created_at": iso(d.created_at),
        "created_by": d.created_by,
        "updated_at": iso(d.updated_at),
        "expires_at": iso(d.until),
        "remaining_seconds": d.remaining_seconds(now) if d.active_at(now) else 0,
        "ended_at": iso(d.ended_at),
        "ended_by": d.ended_by,
        "ended_reason": d.ended_reason,
        "ban_count": d.bans,
    }


def whitelist_v1(d: Decision, now: datetime) -> dict[str, Any]:
    network = d.network
    return {
        "id": d.id,
        "ip": str(network.network_address),
        "cidr_mask": network.prefixlen,
        "value": d.value,
        "type": d.whitelist_type,
        "reason": d.reason,
        "score_modifier": d.score_modifier,
        "alert_only": d.alert_only,
        "tags": list(d.tags),
        "permanent": d.until is None,
        "expires_at": iso(d.until),
        "created_at": iso(d.created_at),
        "created_by": d.created_by,
        "updated_at": iso(d.updated_at),
        "active": d.active_at(now),
    }


def system_whitelist_v1(d: Decision) -> dict[str, Any]:
    return {
        "id": d.id,
        "ip": d.address,
        "value": d.value,
        "reason": d.reason,
        "source": d.origin,
        "created_at": iso(d.created_at),
        "created_by": d.created_by,
        "updated_at": iso(d.updated_at),
    }


def ban_admin(d: Decision) -> dict[str, Any]:
    """Seed 001's camelCase."""
    return {
        "id": d.id,
        "ipAddress": d.address,
        "reason": d.reason,
        "bannedAt": iso(d.created_at),
        "expiresAt": iso(d.until),
        "permanent": d.until is None,
        "source": d.origin,
        "bannedBy": d.created_by,
    }


def ban_detector(d: Decision) -> dict[str, Any]:
    """Seed 002's blocked-IP record."""
    view = {
        "ip_address": d.address,
        "blocked_at": iso(d.created_at),
        "block_expires": iso(d.until),
        "reason": d.reason,
        "auto_blocked": d.origin in ("scenario", "auto-ban"),
    }
    if d.sensor:
        view["vm_id"] = d.sensor
    return view
