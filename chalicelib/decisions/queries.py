"""Reading decisions: filtered lists, statistics, an address's history, and "which decisions cover this IP?".

Lists and statistics read the records of one type from the store's sharded index and filter in memory; the
per-IP check reads the container's live index. Every read judges "in force" against the clock, so a decision
past its `until` reads as expired even before the sweep has ended it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.core.clock import Clock, iso
from chalicelib.core.errors import InvalidInputError
from chalicelib.decisions import addresses
from chalicelib.decisions.model import ACTIVE, BAN, ENDED, Decision

if TYPE_CHECKING:  # constructor types only: importing the services here would load them at cold start
    from chalicelib.decisions.live import LiveIndex
    from chalicelib.decisions.store import DecisionStore

STATUSES = ("active", "expired", "ended", "all")


@dataclass(frozen=True)
class DecisionFilter:
    type: str = BAN
    status: str = "active"  # active | expired | ended | all
    origin: str | None = None
    tag: str | None = None
    ip: str | None = None  # decisions whose network contains this address
    scope: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    search: str | None = None


@dataclass(frozen=True)
class Page:
    items: list[Decision]
    total: int
    limit: int
    offset: int


class DecisionQueries:
    def __init__(self, store: DecisionStore, live: LiveIndex, clock: Clock) -> None:
        self._store = store
        self._live = live
        self._clock = clock

    def _candidates(self, f: DecisionFilter) -> list[Decision]:
        if f.status not in STATUSES:
            raise InvalidInputError(f"status must be one of {', '.join(STATUSES)}")
        statuses = {"active": (ACTIVE,), "expired": (ACTIVE, ENDED), "ended": (ENDED,), "all": (ACTIVE, ENDED)}
        found: list[Decision] = []
        for status in statuses[f.status]:
            found += self._store.list(f.type, status)
        return found

    def matching(self, f: DecisionFilter) -> list[Decision]:
        """Every record that passes the filter, newest first."""
        now = self._clock.now()
        network = addresses.parse_network(f.ip) if f.ip else None
        needle = (f.search or "").lower()
        out = []
        for d in self._candidates(f):
            if not _status_matches(d, f.status, now):
                continue
            if f.origin and d.origin != f.origin:
                continue
            if f.tag and f.tag not in d.tags:
                continue
            if f.scope and d.scope != f.scope:
                continue
            if f.created_from and (d.created_at is None or d.created_at < f.created_from):
                continue
            if f.created_to and (d.created_at is None or d.created_at > f.created_to):
                continue
            if network is not None and not _covers(d, network):
                continue
            if needle and needle not in f"{d.value} {d.reason} {d.note or ''} {' '.join(d.tags)}".lower():
                continue
            out.append(d)
        out.sort(key=lambda d: (d.created_at or now, d.value), reverse=True)
        return out

    def page(self, f: DecisionFilter, limit: int, offset: int) -> Page:
        items = self.matching(f)
        return Page(items[offset : offset + limit], len(items), limit, offset)

    def in_force(self, type_: str = BAN) -> list[Decision]:
        now = self._clock.now()
        return [d for d in self._store.list(type_) if d.active_at(now)]

    def ended_since(self, since: datetime, type_: str = BAN) -> list[Decision]:
        """Decisions that ended at or after `since` (what a client away longer than the change log missed)."""
        return [d for d in self._store.list(type_, ENDED) if d.ended_at is not None and d.ended_at >= since]

    def ban_stats(self, days: int = 30) -> dict[str, Any]:
        """Active, permanent, expiring within 24 h, by origin, by tag, and bans issued per day."""
        now = self._clock.now()
        active = self.in_force(BAN)
        soon = now + timedelta(hours=24)
        per_day: Counter[str] = Counter()
        for d in list(self._store.list(BAN, ACTIVE)) + list(self._store.list(BAN, ENDED)):
            if d.created_at and d.created_at >= now - timedelta(days=days):
                per_day[d.created_at.date().isoformat()] += 1
        tags: Counter[str] = Counter(t for d in active for t in d.tags)
        return {
            "active": len(active),
            "permanent": sum(1 for d in active if d.until is None),
            "temporary": sum(1 for d in active if d.until is not None),
            "expiring_24h": sum(1 for d in active if d.until is not None and d.until <= soon),
            "global": sum(1 for d in active if d.scope == "global"),
            "per_sensor": sum(1 for d in active if d.sensor is not None),
            "ipv4": sum(1 for d in active if ":" not in d.value),
            "ipv6": sum(1 for d in active if ":" in d.value),
            "by_source": dict(Counter(d.origin for d in active)),
            "by_tag": dict(tags),
            "per_day": [{"date": day, "count": per_day[day]} for day in sorted(per_day)],
        }

    def history(self, target: str) -> list[dict[str, Any]]:
        """Every ban the exact network ever had, oldest first: when, who, why, and how it ended."""
        value = addresses.normalise(target)
        entries = self._store.history(value)
        current = [d for d in self._store.for_value(value) if d.type == BAN and d.status == ACTIVE]
        issued: dict[str, dict[str, Any]] = {}
        for entry in entries:
            decision = Decision.from_record(entry["decision"])
            issued.setdefault(decision.id, _issued(decision))
        for decision in current:
            issued.setdefault(decision.id, _issued(decision))
        timeline = list(issued.values()) + [
            {
                "at": e["at"],
                "action": e["action"],
                "decision_id": e["decision"]["id"],
                "actor": e.get("actor"),
                "reason": e.get("reason") or e["decision"].get("ended_reason"),
                "until": e["decision"].get("until"),
                "previous_until": e.get("previous_until"),
                "tags": e["decision"].get("tags", []),
                "version": e["decision"].get("version", 0),
            }
            for e in entries
            if e["decision"].get("type", BAN) == BAN
        ]
        timeline.sort(
            key=lambda item: (item["at"] or "", 0 if item["action"] == "issued" else 1, item.get("version", 0))
        )
        return timeline

    def check(self, ip: str) -> dict[str, Any]:
        """Which decisions in force cover `ip` (from the live index, no table read)."""
        addresses.ip_to_int(ip)  # refuse anything that is not one address, with the usual message
        hits = self._live.lookup(ip)
        bans = [h for h in hits if h.kind.startswith("ban")]
        allows = [h for h in hits if h.kind.startswith("allow")]
        return {
            "ip": ip,
            "banned": any(h.kind == "ban" for h in bans)
            and not any(h.kind in ("allow:hard", "allow:system") for h in allows),
            "whitelisted": bool(allows),
            "bans": [{"id": h.id, "network": h.network, "kind": h.kind, "until": iso(h.until)} for h in bans],
            "whitelist": [{"id": h.id, "network": h.network, "kind": h.kind, "until": iso(h.until)} for h in allows],
        }


def _status_matches(d: Decision, status: str, now: datetime) -> bool:
    if status == "active":
        return d.active_at(now)
    if status == "expired":
        return (d.status == ACTIVE and not d.active_at(now)) or (d.status == ENDED and d.ended_reason == "expired")
    if status == "ended":
        return d.status == ENDED
    return True


def _covers(decision: Decision, network: addresses.Network) -> bool:
    mine = decision.network
    return mine.version == network.version and network.subnet_of(mine)  # type: ignore[arg-type]


def _issued(decision: Decision) -> dict[str, Any]:
    return {
        "at": iso(decision.created_at),
        "action": "issued",
        "decision_id": decision.id,
        "actor": decision.created_by,
        "reason": decision.reason,
        "until": iso(decision.until),
        "origin": decision.origin,
        "scenario": decision.scenario,
        "tags": list(decision.tags),
        "version": 0,
    }
