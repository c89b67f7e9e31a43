"""Reading events and the statistics kept at ingest: lists, timelines, top lists, per-VM figures, forensics.

Statistics come from the counters ingest keeps (`events/stats.py`), never from scanning events; lists and
timelines read the events of a time range; forensic search reads one address's partition.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.core.clock import Clock, iso, parse_time
from chalicelib.events.stats import is_failed_login

if TYPE_CHECKING:  # constructor types only: importing the stores here would load them at cold start
    from chalicelib.events.stats import StatsStore, Totals
    from chalicelib.events.store import EventStore

FEED_SETTLE = timedelta(seconds=5)
BUCKETS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}


@dataclass(frozen=True)
class EventFilter:
    start: datetime
    end: datetime
    log_type: str | None = None
    severity: str | None = None
    src_ip: str | None = None
    hostname: str | None = None
    sensor: str | None = None
    kind: str | None = None
    search: str | None = None

    def matches(self, event: dict[str, Any]) -> bool:
        if self.log_type and event.get("log_type") != self.log_type:
            return False
        if self.severity and event.get("severity") != self.severity:
            return False
        if self.hostname and event.get("hostname") != self.hostname:
            return False
        if self.sensor and event.get("sensor") != self.sensor:
            return False
        if self.kind and event.get("kind") != self.kind:
            return False
        if self.search:
            needle = self.search.lower()
            text = " ".join(
                str(event.get(k, "")) for k in ("raw", "message", "username", "uri", "hostname", "source_ip", "rule_id")
            )
            if needle not in text.lower():
                return False
        return True


class EventQueries:
    def __init__(self, events: EventStore, stats: StatsStore, clock: Clock) -> None:
        self._events = events
        self._stats = stats
        self._clock = clock

    # events
    def list(self, f: EventFilter, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        if f.src_ip:
            found = [e for e in self._events.by_ip(f.src_ip, f.start, f.end, limit=10_000) if f.matches(e)]
        else:
            found = [e for e in self._events.in_range(f.start, f.end) if f.matches(e)]
        found.sort(key=lambda e: e["time"], reverse=True)
        return found[offset : offset + limit], len(found)

    def get(self, event_id: str) -> dict[str, Any] | None:
        return self._events.get(event_id)

    def timeline(self, f: EventFilter, bucket: str) -> list[dict[str, Any]]:
        """Events per time bucket (minute, hour or day), with their split by log type and severity."""
        size = BUCKETS[bucket]
        counts: dict[datetime, Counter[str]] = {}
        for event in self._events.in_range(f.start, f.end):
            if not f.matches(event):
                continue
            when = parse_time(event["time"])
            start = datetime.fromtimestamp(when.timestamp() // size.total_seconds() * size.total_seconds(), when.tzinfo)
            bucket_counts = counts.setdefault(start, Counter())
            bucket_counts["total"] += 1
            bucket_counts[f"log_type:{event.get('log_type')}"] += 1
            bucket_counts[f"severity:{event.get('severity')}"] += 1
        return [
            {
                "time": iso(t),
                "count": c["total"],
                "by_log_type": {k.split(":", 1)[1]: v for k, v in c.items() if k.startswith("log_type:")},
                "by_severity": {k.split(":", 1)[1]: v for k, v in c.items() if k.startswith("severity:")},
            }
            for t, c in sorted(counts.items())
        ]

    def hostnames(self, days: int = 7) -> list[dict[str, Any]]:
        now = self._clock.now()
        totals = self._sum(self._stats.totals(now - timedelta(days=days), now, hourly=False))
        return [{"hostname": h, "count": n} for h, n in totals.by_h().most_common()]

    # statistics
    def _sum(self, periods: dict[str, Any]) -> _Sum:
        total: Counter[str] = Counter()
        for totals in periods.values():
            total.update(totals.counts)
        return _Sum(total)

    def overview(self, *, active_bans: int, sensors: int) -> dict[str, Any]:
        now = self._clock.now()
        hours = self._stats.totals(now - timedelta(hours=23), now, hourly=True)
        day = self._sum(hours)
        week = self._sum(self._stats.totals(now - timedelta(days=6), now, hourly=False))
        attackers = self._stats.attackers(now - timedelta(hours=23), now)
        return {
            "events_24h": day.counts["n"],
            "attacks_24h": day.counts["attacks"],
            "failed_logins_24h": day.counts["failed_logins"],
            "unique_attackers_24h": len(attackers),
            "events_7d": week.counts["n"],
            "attacks_7d": week.counts["attacks"],
            "by_log_type": day.by("lt:"),
            "by_severity": day.by("sv:"),
            "by_kind": day.by("k:"),
            "by_country": dict(day.by_counter("c:").most_common(20)),
            "active_bans": active_bans,
            "active_sensors": sensors,
            "events_per_hour": [
                {"hour": p[-2:] + ":00", "time": p + ":00:00Z", "count": t.counts["n"]} for p, t in hours.items()
            ],
        }

    def top_attackers(self, days: int, limit: int) -> list[tuple[str, int]]:
        now = self._clock.now()
        return self._stats.attackers(now - timedelta(days=days - 1), now).most_common(limit)

    def top_targets(self, days: int, limit: int) -> dict[str, Any]:
        now = self._clock.now()
        start = now - timedelta(days=days - 1)
        totals = self._sum(self._stats.totals(start, now, hourly=False))
        return {
            "hostnames": [{"hostname": h, "count": n} for h, n in totals.by_counter("h:").most_common(limit)],
            "usernames": [{"username": u, "count": n} for u, n in self._stats.usernames(start, now).most_common(limit)],
            "sensors": [{"sensor": s, "count": n} for s, n in totals.by_counter("as:").most_common(limit)],
        }

    def zone_traffic(self, days: int) -> list[dict[str, Any]]:
        now = self._clock.now()
        totals = self._sum(self._stats.totals(now - timedelta(days=days - 1), now, hourly=False))
        flows = []
        for pair, count in totals.by_counter("z:").most_common():
            source, _, destination = pair.partition(">")
            flows.append({"src_zone": source, "dst_zone": destination, "count": count})
        return flows

    def detector_statistics(self, *, blocked: int, sensors: dict[str, Any] | None = None) -> dict[str, Any]:
        """Seed 002's `/statistics` (and, with sensors, `/statistics/global`)."""
        now = self._clock.now()
        hours = self._stats.totals(now - timedelta(hours=24), now, hourly=True)
        retention_days = 30
        month = self._sum(self._stats.totals(now - timedelta(days=retention_days - 1), now, hourly=False))
        body: dict[str, Any] = {
            "total_failed_attempts": month.counts["failed_logins"],
            "unique_attackers": len(self._stats.attackers(now - timedelta(days=retention_days - 1), now)),
            "blocked_ips": blocked,
            "attacks_last_24h": since(hours, "failed_logins", now - timedelta(hours=24)),
            "attacks_last_hour": since(hours, "failed_logins", now - timedelta(hours=1)),
            "top_attacked_usernames": [
                {"username": u, "count": n}
                for u, n in self._stats.usernames(now - timedelta(days=retention_days - 1), now).most_common(10)
            ],
            "attacks_by_hour": [
                {"hour": p[-2:] + ":00", "count": t.counts["failed_logins"]} for p, t in sorted(hours.items())[-24:]
            ],
        }
        if sensors is not None:
            body["active_vms"] = sensors["active"]
            body["inactive_vms"] = sensors["inactive"]
            body["attacks_by_vm"] = [{"vm_id": s, "count": n} for s, n in month.by_counter("as:").most_common()]
        return body

    def vm_attacks(self, sensor: str) -> dict[str, Any]:
        now = self._clock.now()
        ips, users = self._stats.sensor(sensor, now - timedelta(days=29), now)
        hours = self._stats.totals(now - timedelta(hours=24), now, hourly=True)
        return {
            "total_attacks": sum(ips.values()),
            "unique_attackers": len(ips),
            "attacks_last_24h": since(hours, f"as:{sensor}", now - timedelta(hours=24)),
            "attacks_last_hour": since(hours, f"as:{sensor}", now - timedelta(hours=1)),
            "top_attacked_usernames": [{"username": u, "count": n} for u, n in users.most_common(10)],
            "top_attackers": [{"ip_address": ip, "count": n} for ip, n in ips.most_common(10)],
        }

    def suspicious(self, threshold: int, days: int = 1, limit: int = 100) -> list[dict[str, Any]]:
        """Addresses with at least `threshold` failed logins: first and last attempt and user names tried."""
        now = self._clock.now()
        start = now - timedelta(days=days)
        out = []
        for ip, count in self._stats.attackers(start, now, failed_logins=True).most_common(limit):
            if count < threshold:
                break
            events = [e for e in self._events.by_ip(ip, start, now, limit=500) if is_failed_login(e)]
            times = sorted(e["time"] for e in events)
            out.append(
                {
                    "ip_address": ip,
                    "failed_attempts": count,
                    "first_attempt": times[0] if times else None,
                    "last_attempt": times[-1] if times else None,
                    "target_usernames": sorted({e["username"] for e in events if e.get("username")})[:20],
                    "status": "suspicious",
                }
            )
        return out

    def feed(self, after: str | None, window: timedelta) -> list[dict[str, Any]]:
        """Failed logins that arrived after an arrival id (or within `window`), oldest first: the live feed.

        Only arrivals at least `FEED_SETTLE` old are served: a write stamped a moment ago (by another container,
        or still reaching the index) may not be visible yet, and serving what arrived after it would move the
        client's cursor past it for good."""
        now = self._clock.now() - FEED_SETTLE
        start = now - window
        if after:
            try:
                start = max(start, datetime.fromtimestamp(int(after[:13]) / 1000, now.tzinfo))
            except ValueError:
                after = None
        return [e for e in self._events.arrived(start, now, after=after) if is_failed_login(e)]

    def track(self, ip: str, days: int) -> dict[str, Any]:
        now = self._clock.now()
        events = self._events.by_ip(ip, now - timedelta(days=days), now, limit=5000)
        per_day: Counter[str] = Counter(e["time"][:10] for e in events)
        return {
            "events": events[:500],
            "event_count": len(events),
            "first_seen": min((e["time"] for e in events), default=None),
            "last_seen": max((e["time"] for e in events), default=None),
            "sensors": sorted({e["sensor"] for e in events if e.get("sensor")}),
            "usernames": sorted({e["username"] for e in events if e.get("username")})[:100],
            "by_kind": dict(Counter(e["kind"] for e in events)),
            "timeline": [{"date": d, "count": n} for d, n in sorted(per_day.items())],
        }


def since(hours: dict[str, Totals], name: str, start: datetime) -> int:
    """A counter of the hourly totals over the window after `start` (to the minute): the hours that begin after
    `start` whole, the hour it falls in by its per-minute counters (`m:<MM>:<name>`)."""
    total = 0
    for period, totals in hours.items():
        hour = datetime.fromisoformat(period + ":00:00+00:00")
        if hour > start:
            total += totals.counts[name]
        elif hour + timedelta(hours=1) > start:
            for key, count in totals.counts.items():
                minute, _, counted = key.removeprefix("m:").partition(":")
                if key.startswith("m:") and counted == name and hour + timedelta(minutes=int(minute)) > start:
                    total += count
    return total


@dataclass
class _Sum:
    counts: Counter[str]

    def by(self, prefix: str) -> dict[str, int]:
        return dict(self.by_counter(prefix))

    def by_counter(self, prefix: str) -> Counter[str]:
        return Counter({k[len(prefix) :]: v for k, v in self.counts.items() if k.startswith(prefix)})

    def by_h(self) -> Counter[str]:
        return self.by_counter("h:")
