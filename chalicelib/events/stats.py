"""Statistics kept at ingest, so that no statistics route ever scans the events table.

One batch adds its counts with a few atomic `ADD` updates on the counters table (120-day TTL), to logical
items kept by `counter_items.CounterItems` (one DynamoDB item until it nears 400 KB, then spilled by hash):

    ST#H#<hour>  total      n, k:<kind>, lt:<log type>, sv:<severity>, s:<sensor>, h:<host>, z:<src>><dst>, c:<country>
                            and per minute m:<MM>:failed_logins, m:<MM>:as:<sensor> (windows that end now)
    ST#D#<day>   total      the same but the minutes, per day
    ST#D#<day>   who        one attribute per attacking address: its count that day; `#f:<address>`: its failed
                            logins that day; `u:<user name>`: the failed logins per targeted user name
    ST#D#<day>   vm#<id>    i:<address> and u:<user> counts for one sensor (seed 002's per-VM attacks)

So a batch costs four updates (more when it spans an hour or a day, or once a day's `who` has spilled: one per
part it touches, and one read of the full parts above), however many addresses it has; reading a week costs
one or two `BatchGetItem` calls per level of parts.

The earlier layout (`ip#<0-7>` and `user#<0-3>` hash shards, eight and four updates per batch, whose full shard
dropped its counts) is not read any more: statistics counted before the switch are not migrated.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chalicelib.core.clock import epoch
from chalicelib.core.dynamo import DynamoTable
from chalicelib.events.counter_items import CounterItems, ItemKey

RETENTION = timedelta(days=120)
FAILED_LOGIN_KINDS = frozenset({"auth_failure", "invalid_user"})
BENIGN_KINDS = frozenset({"auth_success", "firewall_allow"})
FAILED = "#f:"  # on the `who` items, before an address: its failed logins (`#` starts no address)
USER = "u:"  # on the `who` items, before a user name: its failed logins (`:` is in no IPv4 address, and no
# IPv6 address starts with `u`)


def is_attack(event: dict[str, Any]) -> bool:
    """Counted as an attack: everything hostile (a plain web request only when it probes), each attempt once
    (pam_unix's echo of sshd's `Failed password` line is the same attempt)."""
    kind = event["kind"]
    if kind in BENIGN_KINDS or (event.get("fields") or {}).get("source") == "pam":
        return False
    if kind == "http_request":
        return (event.get("fields") or {}).get("probe") == "1"
    return True


def is_failed_login(event: dict[str, Any]) -> bool:
    """A failed login, counted once (sshd's pam_unix line repeats the `Failed password` line)."""
    return event["kind"] in FAILED_LOGIN_KINDS and (event.get("fields") or {}).get("source") != "pam"


def _day(when: datetime) -> str:
    return when.strftime("%Y-%m-%d")


def _hour(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H")


@dataclass
class Totals:
    """What the totals items of a period add up to."""

    counts: Counter[str] = field(default_factory=Counter)

    def by(self, prefix: str) -> dict[str, int]:
        return {k[len(prefix) :]: v for k, v in self.counts.items() if k.startswith(prefix)}


class StatsStore:
    def __init__(self, table: DynamoTable) -> None:
        self._counters = CounterItems(table)

    # writing
    def record(self, events: Sequence[dict[str, Any]], sensor: str | None) -> tuple[dict[str, int], int]:
        """Add one batch; returns each attacking address's count for the day after this batch, and the number
        of requests made."""
        adds: dict[ItemKey, Counter[str]] = {}
        ttls: dict[ItemKey, int] = {}

        def counts(pk: str, sk: str, expires: int) -> Counter[str]:
            ttls[(pk, sk)] = expires
            return adds.setdefault((pk, sk), Counter())

        for event in events:
            when: datetime = event["time"]
            hour, day = _hour(when), _day(when)
            names = _total_names(event)
            counts(f"ST#H#{hour}", "total", _expiry_hour(hour)).update(names + _minute_names(event, when))
            counts(f"ST#D#{day}", "total", _expiry_day(day)).update(names)
            if is_attack(event):
                ip = event["source_ip"]
                counts(f"ST#D#{day}", "who", _expiry_day(day)).update(_ip_names(event))
                if sensor:
                    counts(f"ST#D#{day}", f"vm#{sensor}", _expiry_day(day))[f"i:{ip}"] += 1
            if is_failed_login(event) and event.get("username"):
                user = str(event["username"])[:64]
                counts(f"ST#D#{day}", "who", _expiry_day(day))[USER + user] += 1
                if sensor:
                    counts(f"ST#D#{day}", f"vm#{sensor}", _expiry_day(day))[f"u:{user}"] += 1
        totals, requests = self._counters.add(adds, ttls)
        day_counts: dict[str, int] = {}
        for (_, sk), values in totals.items():
            if sk != "who":
                continue
            for name, value in values.items():
                if isinstance(value, int) and not name.startswith((FAILED, USER)):
                    day_counts[name] = max(day_counts.get(name, 0), value)
        return day_counts, requests

    # reading
    def _days(self, start: datetime, end: datetime) -> list[str]:
        days, day = [], start.date()
        while day <= end.date():
            days.append(day.isoformat())
            day += timedelta(days=1)
        return days

    def _get(self, keys: Iterable[ItemKey]) -> dict[ItemKey, dict[str, Any]]:
        return self._counters.items(keys)

    def totals(self, start: datetime, end: datetime, *, hourly: bool) -> dict[str, Totals]:
        """Totals per hour (`hourly`) or per day over a range, keyed by hour or day text."""
        if hourly:
            periods, hour = [], start.replace(minute=0, second=0, microsecond=0)
            while hour <= end:
                periods.append(_hour(hour))
                hour += timedelta(hours=1)
            prefix = "ST#H#"
        else:
            periods, prefix = self._days(start, end), "ST#D#"
        found = self._get((f"{prefix}{p}", "total") for p in periods)
        out = {}
        for period in periods:
            item = found.get((f"{prefix}{period}", "total"), {})
            out[period] = Totals(Counter({k: int(v) for k, v in item.items()}))
        return out

    def attackers(self, start: datetime, end: datetime, *, failed_logins: bool = False) -> Counter[str]:
        """Attack counts per source address over the days of a range (with `failed_logins`, only the failed
        logins, which seed 002's suspicious addresses are about)."""
        found = self._get((f"ST#D#{d}", "who") for d in self._days(start, end))
        counts: Counter[str] = Counter()
        for item in found.values():
            for key, value in item.items():
                if key.startswith(USER) or key.startswith(FAILED) != failed_logins:
                    continue
                counts[key.removeprefix(FAILED)] += int(value)
        return counts

    def usernames(self, start: datetime, end: datetime) -> Counter[str]:
        found = self._get((f"ST#D#{d}", "who") for d in self._days(start, end))
        counts: Counter[str] = Counter()
        for item in found.values():
            counts.update({k.removeprefix(USER): int(v) for k, v in item.items() if k.startswith(USER)})
        return counts

    def sensor(self, sensor: str, start: datetime, end: datetime) -> tuple[Counter[str], Counter[str]]:
        """(attack counts per address, failed logins per user name) seen by one sensor."""
        found = self._get((f"ST#D#{d}", f"vm#{sensor}") for d in self._days(start, end))
        ips: Counter[str] = Counter()
        users: Counter[str] = Counter()
        for item in found.values():
            for key, value in item.items():
                if key.startswith("i:"):
                    ips[key[2:]] += int(value)
                elif key.startswith("u:"):
                    users[key[2:]] += int(value)
        return ips, users


def _total_names(event: dict[str, Any]) -> list[str]:
    names = ["n", f"k:{event['kind']}", f"lt:{event['log_type']}", f"sv:{event['severity']}"]
    if is_attack(event):
        names.append("attacks")
    if is_failed_login(event):
        names.append("failed_logins")
    if event.get("sensor"):
        names.append(f"s:{event['sensor']}")
        if is_attack(event):
            names.append(f"as:{event['sensor']}")
    if event.get("hostname"):
        names.append(f"h:{str(event['hostname'])[:100]}")
    fields = event.get("fields") or {}
    if fields.get("src_zone") or fields.get("dst_zone"):
        names.append(f"z:{fields.get('src_zone', '?')}>{fields.get('dst_zone', '?')}")
    if event.get("country"):
        names.append(f"c:{event['country']}")
    return names


def _ip_names(event: dict[str, Any]) -> list[str]:
    """What an attack adds on its day's `who` item: the address, and `#f:<address>` for a failed login."""
    ip = event["source_ip"]
    return [ip, f"{FAILED}{ip}"] if is_failed_login(event) else [ip]


def _minute_names(event: dict[str, Any], when: datetime) -> list[str]:
    """Per-minute counters on the hour's item (`m:<MM>:<name>`), so that "the last hour" and "the last 24
    hours" are windows ending now, not clock hours: failed logins, and attacks per sensor."""
    minute = when.strftime("%M")
    names = []
    if is_failed_login(event):
        names.append(f"m:{minute}:failed_logins")
    if event.get("sensor") and is_attack(event):
        names.append(f"m:{minute}:as:{event['sensor']}")
    return names


def _expiry_hour(hour: str) -> int:
    return epoch(datetime.fromisoformat(hour + ":00:00+00:00") + RETENTION)


def _expiry_day(day: str) -> int:
    return epoch(datetime.fromisoformat(day + "T00:00:00+00:00") + RETENTION)
