"""The security log of seed 001: who tried what, from where, how risky, and whether it worked.

Entries live in the entities table, one partition per UTC day (`SECLOG#2026-11-24`, sorted by time), and expire
after the retention the settings give. Queries walk the days of their range, newest first; statistics read the
last 24 hours. Exports are CSV with every cell that a spreadsheet would evaluate as a formula neutralised.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chalicelib.core.clock import Clock, epoch, iso, parse_time
from chalicelib.core.dynamo import DynamoTable
from chalicelib.core.ids import time_ordered_id

EVENT_TYPES = (
    "login_success",
    "login_failed",
    "account_locked",
    "otp_verified",
    "otp_failed",
    "honeypot_triggered",
    "password_reset_request",
    "password_changed",
    "session_expired",
    "api_key_created",
    "api_key_revoked",
    "user_created",
    "user_updated",
    "user_deleted",
    "user_deactivated",
    "user_activated",
    "role_changed",
    "ip_auto_banned",
    "rate_limited",
    "registration",
)
RISK_LEVELS = ("low", "medium", "high")
FAILED_LOGIN = "login_failed"
SUSPICIOUS = frozenset({"login_failed", "honeypot_triggered", "account_locked"})
CSV_COLUMNS = (
    "id",
    "createdAt",
    "eventType",
    "riskLevel",
    "success",
    "ipAddress",
    "email",
    "userId",
    "userAgent",
    "details",
)


@dataclass(frozen=True)
class SecurityEvent:
    event_type: str
    risk_level: str
    success: bool
    ip_address: str | None = None
    email: str | None = None
    user_id: int | str | None = None
    user_agent: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LogQuery:
    limit: int = 100
    event_type: str | None = None
    risk_level: str | None = None
    user_id: str | None = None
    success: bool | None = None
    start: datetime | None = None
    end: datetime | None = None


class SecurityLog:
    """Record and read security events."""

    def __init__(self, table: DynamoTable, clock: Clock, retention_days: int = 365) -> None:
        self._t = table
        self._clock = clock
        self._retention = timedelta(days=retention_days)

    def record(self, event: SecurityEvent) -> dict[str, Any]:
        now = self._clock.now()
        entry = {
            "id": time_ordered_id(now),
            "eventType": event.event_type,
            "ipAddress": event.ip_address,
            "email": event.email,
            "userId": str(event.user_id) if event.user_id is not None else None,
            "userAgent": (event.user_agent or "")[:512] or None,
            "riskLevel": event.risk_level,
            "success": event.success,
            "details": event.details or {},
            "createdAt": iso(now),
        }
        self._t.put(
            {"pk": f"SECLOG#{now.date().isoformat()}", "sk": entry["id"], "ttl": epoch(now + self._retention), **entry}
        )
        return _clean(entry)

    def query(self, q: LogQuery) -> list[dict[str, Any]]:
        """Entries matching every given filter, newest first, at most `q.limit`."""
        end = q.end or self._clock.now()
        start = q.start or end - timedelta(days=30)
        found: list[dict[str, Any]] = []
        day = end.date()
        while day >= start.date() and len(found) < q.limit:
            for item in self._t.query_all(
                "pk = :pk AND sk BETWEEN :lo AND :hi",
                {":pk": f"SECLOG#{day.isoformat()}", ":lo": _sk_floor(start), ":hi": _sk_ceiling(end)},
                forward=False,
            ):
                entry = _clean(item)
                if _matches(entry, q):
                    found.append(entry)
                    if len(found) >= q.limit:
                        break
            day -= timedelta(days=1)
        return found

    def since(self, start: datetime) -> list[dict[str, Any]]:
        return self.query(LogQuery(limit=1_000_000, start=start, end=self._clock.now()))

    def stats(self, active_banned_ips: int) -> dict[str, Any]:
        """Seed 001's security dashboard figures."""
        now = self._clock.now()
        day = self.since(now - timedelta(hours=24))
        hour_ago = now - timedelta(hours=1)
        failed = [e for e in day if e["eventType"] == FAILED_LOGIN]
        suspicious = Counter(e["ipAddress"] for e in day if e["eventType"] in SUSPICIOUS and e.get("ipAddress"))
        return {
            "hourlyFailedAttempts": sum(1 for e in failed if parse_time(e["createdAt"]) >= hour_ago),
            "dailyFailedAttempts": len(failed),
            "highRiskEvents24h": sum(1 for e in day if e["riskLevel"] == "high"),
            "activeBannedIPs": active_banned_ips,
            "topSuspiciousIPs": [{"ipAddress": ip, "count": n} for ip, n in suspicious.most_common(10)],
        }


def _sk_floor(when: datetime) -> str:
    return f"{int(when.timestamp() * 1000):013d}"


def _sk_ceiling(when: datetime) -> str:
    return f"{int(when.timestamp() * 1000):013d}~"


def _matches(entry: dict[str, Any], q: LogQuery) -> bool:
    return (
        (q.event_type is None or entry["eventType"] == q.event_type)
        and (q.risk_level is None or entry["riskLevel"] == q.risk_level)
        and (q.user_id is None or entry.get("userId") == str(q.user_id))
        and (q.success is None or entry["success"] is q.success)
    )


def _clean(item: dict[str, Any]) -> dict[str, Any]:
    entry = {k: item.get(k) for k in ("id", "eventType", "ipAddress", "email", "userId", "userAgent", "riskLevel")}
    entry["success"] = bool(item.get("success"))
    entry["details"] = item.get("details") or {}
    entry["createdAt"] = item.get("createdAt")
    return entry


_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """A cell a spreadsheet will show as text: a leading `=`, `+`, `-`, `@`, tab or CR gets a `'` before it."""
    return "'" + cell if cell.startswith(_FORMULA_PREFIXES) else cell


def to_csv(entries: list[dict[str, Any]]) -> str:
    """The entries as CSV (header first), safe to open in a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        row = []
        for column in CSV_COLUMNS:
            value = entry.get(column)
            if column == "details":
                value = json.dumps(value or {}, sort_keys=True)
            elif isinstance(value, bool):
                value = "true" if value else "false"
            row.append(neutralise("" if value is None else str(value)))
        writer.writerow(row)
    return out.getvalue()
