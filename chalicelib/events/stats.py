"""Statistics kept at ingest, so that no statistics route ever scans the events table.

One batch adds its counts with a handful of atomic `ADD` updates on the counters table (120-day TTL):

    ST#H#<hour>  total       n, k:<kind>, lt:<log type>, sv:<severity>, s:<sensor>, h:<host>, z:<src>><dst>, c:<country>
                             and per minute m:<MM>:failed_logins, m:<MM>:as:<sensor> (windows that end now)
    ST#D#<day>   total       the same but the minutes, per day
    ST#D#<day>   ip#<0-7>    one attribute per attacking address: its count that day (eight shards keep items small),
                             and `#f:<address>`: its failed logins that day
    ST#D#<day>   user#<0-3>  one attribute per targeted user name (failed logins)
    ST#D#<day>   vm#<id>     i:<address> and u:<user> counts for one sensor (seed 002's per-VM attacks)

Counters are top-level attributes because DynamoDB's `ADD` works on top-level attributes only; an update
expression stays under DynamoDB's 4 KB limit by chunks of 100 attributes. Reading a week costs one or two
`BatchGetItem` calls.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chalicelib.core.clock import epoch
from chalicelib.core.dynamo import DynamoTable
from chalicelib.core.errors import ItemTooLargeError
from chalicelib.core.observability import get_logger

IP_SHARDS = 8
USER_SHARDS = 4
CHUNK = 100
RETENTION = timedelta(days=120)
FAILED_LOGIN_KINDS = frozenset({"auth_failure", "invalid_user"})
BENIGN_KINDS = frozenset({"auth_success", "firewall_allow"})
FAILED = "#f:"  # on the ip# items, before an address: its failed logins (`#` starts no address)


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


def _shard(text: str, shards: int) -> int:
    return zlib.crc32(text.encode()) % shards


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
        self._t = table

    # writing
    def record(self, events: Sequence[dict[str, Any]], sensor: str | None) -> tuple[dict[str, int], int]:
        """Add one batch; returns each attacking address's count for the day after this batch, and the number
        of requests made."""
        totals_h: dict[str, Counter[str]] = {}
        totals_d: dict[str, Counter[str]] = {}
        ips: dict[tuple[str, int], Counter[str]] = {}
        users: dict[tuple[str, int], Counter[str]] = {}
        per_vm: dict[str, Counter[str]] = {}
        for event in events:
            when: datetime = event["time"]
            hour, day = _hour(when), _day(when)
            names = _total_names(event)
            totals_h.setdefault(hour, Counter()).update(names + _minute_names(event, when))
            totals_d.setdefault(day, Counter()).update(names)
            if is_attack(event):
                ip = event["source_ip"]
                ips.setdefault((day, _shard(ip, IP_SHARDS)), Counter()).update(_ip_names(event))
                if sensor:
                    per_vm.setdefault(day, Counter())[f"i:{ip}"] += 1
            if is_failed_login(event) and event.get("username"):
                user = str(event["username"])[:64]
                users.setdefault((day, _shard(user, USER_SHARDS)), Counter())[user] += 1
                if sensor:
                    per_vm.setdefault(day, Counter())[f"u:{user}"] += 1
        requests = 0
        for hour, counts in totals_h.items():
            requests += self._add(f"ST#H#{hour}", "total", counts, _expiry_hour(hour))
        for day, counts in totals_d.items():
            requests += self._add(f"ST#D#{day}", "total", counts, _expiry_day(day))
        day_counts: dict[str, int] = {}
        for (day, shard), counts in ips.items():
            new, made = self._add_returning(f"ST#D#{day}", f"ip#{shard}", counts, _expiry_day(day))
            requests += made
            attacks = {ip: value for ip, value in new.items() if not ip.startswith(FAILED)}
            day_counts.update({ip: max(day_counts.get(ip, 0), value) for ip, value in attacks.items()})
        for (day, shard), counts in users.items():
            requests += self._add(f"ST#D#{day}", f"user#{shard}", counts, _expiry_day(day))
        for day, counts in per_vm.items():
            requests += self._add(f"ST#D#{day}", f"vm#{sensor}", counts, _expiry_day(day))
        return day_counts, requests

    def _add(self, pk: str, sk: str, counts: Counter[str], expires: int) -> int:
        return self._add_returning(pk, sk, counts, expires)[1]

    def _add_returning(self, pk: str, sk: str, counts: Counter[str], expires: int) -> tuple[dict[str, int], int]:
        new: dict[str, int] = {}
        items = list(counts.items())
        requests = 0
        for start in range(0, len(items), CHUNK):
            chunk = items[start : start + CHUNK]
            names = {f"#a{i}": name for i, (name, _) in enumerate(chunk)}
            values: dict[str, Any] = {f":v{i}": n for i, (_, n) in enumerate(chunk)}
            names["#ttl"] = "ttl"
            values[":ttl"] = expires
            adds = ", ".join(f"#a{i} :v{i}" for i in range(len(chunk)))
            requests += 1
            try:
                answer = self._t.update(
                    {"pk": pk, "sk": sk},
                    f"ADD {adds} SET #ttl = if_not_exists(#ttl, :ttl)",
                    names=names,
                    values=values,
                    returns="UPDATED_NEW",
                )
            except ItemTooLargeError:
                # A day with more attacking addresses (or user names) than the shards hold: the events are stored
                # and detected all the same; only these counters stop growing, and the log says so.
                get_logger().warning("statistics item full: counts dropped", pk=pk, sk=sk, dropped=len(chunk))
                continue
            new.update({name: int(answer.get(name, 0)) for name, _ in chunk})
        return new, requests

    # reading
    def _days(self, start: datetime, end: datetime) -> list[str]:
        days, day = [], start.date()
        while day <= end.date():
            days.append(day.isoformat())
            day += timedelta(days=1)
        return days

    def _get(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        found = self._t.batch_get([{"pk": pk, "sk": sk} for pk, sk in keys])
        return {(i["pk"], i["sk"]): i for i in found}

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
            out[period] = Totals(Counter({k: int(v) for k, v in item.items() if k not in ("pk", "sk", "ttl")}))
        return out

    def attackers(self, start: datetime, end: datetime, *, failed_logins: bool = False) -> Counter[str]:
        """Attack counts per source address over the days of a range (with `failed_logins`, only the failed
        logins, which seed 002's suspicious addresses are about)."""
        found = self._get((f"ST#D#{d}", f"ip#{s}") for d in self._days(start, end) for s in range(IP_SHARDS))
        counts: Counter[str] = Counter()
        for item in found.values():
            for key, value in item.items():
                if key in ("pk", "sk", "ttl") or key.startswith(FAILED) != failed_logins:
                    continue
                counts[key.removeprefix(FAILED)] += int(value)
        return counts

    def usernames(self, start: datetime, end: datetime) -> Counter[str]:
        found = self._get((f"ST#D#{d}", f"user#{s}") for d in self._days(start, end) for s in range(USER_SHARDS))
        counts: Counter[str] = Counter()
        for item in found.values():
            counts.update({k: int(v) for k, v in item.items() if k not in ("pk", "sk", "ttl")})
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
    """What an attack adds on its address's ip# item: the address, and `#f:<address>` for a failed login."""
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
