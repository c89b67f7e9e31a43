"""The container's live view of the decisions in force: an `IpIndex` kept fresh from the change log.

Built once per container from the store (every active ban and whitelist entry), then refreshed incrementally:
before answering, if the last refresh is older than `staleness` seconds, the changes logged since then (minus a
two-second overlap, so a change written while the last refresh ran is not missed; applying one twice does no
harm) are applied. Changes made by this container are applied at once. So the view is never more than
`staleness` seconds behind another container's writes (5 s by default), and reads also check each match's
expiry, so a decision stops counting the moment its `until` passes, before any sweep runs.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib.core.clock import Clock, parse_time
from chalicelib.decisions.addresses import Network, parse_network
from chalicelib.decisions.index import IpIndex, Match
from chalicelib.decisions.model import ALLOW, BAN, Decision
from chalicelib.decisions.store import CHANGE_LOG_TTL, DecisionStore

OVERLAP = timedelta(seconds=2)


@dataclass(frozen=True)
class Hit:
    """A decision in force that contains an address."""

    id: str
    kind: str
    network: str
    until: datetime | None


class LiveIndex:
    def __init__(self, store: DecisionStore, clock: Clock, staleness_seconds: float) -> None:
        self._store = store
        self._clock = clock
        self._staleness = timedelta(seconds=staleness_seconds)
        self._lock = threading.RLock()
        self._index: IpIndex | None = None
        self._until: dict[str, float] = {}  # id → expiry epoch; permanent decisions are absent
        self._allows: dict[str, tuple[int, int, int, str, str]] = {}  # id → (version, first, last, kind, value)
        self._allow_starts: list[tuple[int, int, str]] | None = None  # sorted (version, first, id), rebuilt lazily
        self._synced_at: datetime | None = None

    def _build(self) -> None:
        started = self._clock.now()
        entries = []
        until: dict[str, float] = {}
        self._allows = {}
        for type_ in (BAN, ALLOW):
            for decision in self._store.list(type_):
                entries.append((decision.id, decision.value, decision.kind))
                if decision.until is not None:
                    until[decision.id] = decision.until.timestamp()
                if type_ == ALLOW:
                    self._allows[decision.id] = (*_span(parse_network(decision.value)), decision.kind, decision.value)
        self._index = IpIndex.build(entries)
        self._until = until
        self._allow_starts = None
        self._synced_at = started - OVERLAP

    def _fresh(self) -> IpIndex:
        with self._lock:
            now = self._clock.now()
            if self._index is None or self._synced_at is None or now - self._synced_at > CHANGE_LOG_TTL / 2:
                self._build()
            elif now - self._synced_at > self._staleness:
                for change in self._store.changes_since(self._synced_at, now):
                    self._apply(change)
                self._synced_at = now - OVERLAP
            assert self._index is not None
            return self._index

    def _apply(self, change: dict) -> None:
        assert self._index is not None
        self._index.remove(change["id"])
        self._until.pop(change["id"], None)
        if self._allows.pop(change["id"], None) is not None:
            self._allow_starts = None
        # Only bans and whitelist entries decide anything about traffic; pending bans stay out of the index.
        if change["op"] == "add" and change["kind"].startswith(("ban", "allow")):
            self._index.add(change["id"], change["value"], change["kind"])
            if change.get("until"):
                self._until[change["id"]] = parse_time(change["until"]).timestamp()
            if change["kind"].startswith("allow"):
                self._allows[change["id"]] = (*_span(parse_network(change["value"])), change["kind"], change["value"])
                self._allow_starts = None

    def applied(self, decisions: Iterable[tuple[str, Decision]]) -> None:
        """Apply this container's own changes at once (`op` is "add" or "delete")."""
        with self._lock:
            if self._index is None:
                return  # built on first use, from the store, which already holds them
            for op, decision in decisions:
                self._apply(log_entry(op, decision))

    def lookup(self, ip: str) -> list[Hit]:
        """Every decision in force containing `ip`, most specific first."""
        index = self._fresh()
        now = self._clock.now().timestamp()
        return [self._hit(m) for m in index.lookup(ip) if self._until.get(m.entry_id, now + 1) > now]

    def _hit(self, match: Match) -> Hit:
        until = self._until.get(match.entry_id)
        return Hit(
            match.entry_id,
            match.kind,
            str(match.network),
            datetime.fromtimestamp(until, UTC) if until else None,
        )

    def overlapping_allows(self, network: Network) -> list[Hit]:
        """Whitelist entries in force that share any address with `network` (containing it or inside it)."""
        self._fresh()
        first = str(network.network_address)
        found = {h.id: h for h in self.lookup(first) if h.kind.startswith("allow")}
        version, start, end = _span(network)
        now = self._clock.now().timestamp()
        with self._lock:
            if self._allow_starts is None:
                self._allow_starts = sorted((entry[0], entry[1], i) for i, entry in self._allows.items())
            starts = self._allow_starts
            position = bisect.bisect_left(starts, (version, start, ""))
            while position < len(starts) and starts[position][0] == version and starts[position][1] <= end:
                entry_id = starts[position][2]
                until = self._until.get(entry_id)
                if entry_id not in found and entry_id in self._allows and (until is None or until > now):
                    kind, value = self._allows[entry_id][3:]
                    found[entry_id] = Hit(entry_id, kind, value, datetime.fromtimestamp(until, UTC) if until else None)
                position += 1
        return list(found.values())

    def is_banned(self, ip: str) -> bool:
        """Banned globally and not protected by a hard or system whitelist entry."""
        hits = self.lookup(ip)
        if any(h.kind in ("allow:hard", "allow:system") for h in hits):
            return False
        return any(h.kind == "ban" for h in hits)

    def size(self) -> int:
        return len(self._fresh())


def _span(network: Network) -> tuple[int, int, int]:
    return network.version, int(network.network_address), int(network.broadcast_address)


def log_entry(op: str, decision: Decision) -> dict:
    """A change as the change log stores it: just what an index needs."""
    entry = {
        "op": op,
        "id": decision.id,
        "value": decision.value,
        "kind": decision.kind,
        "scope": decision.scope,
        "origin": decision.origin,
        "scenario": decision.scenario or decision.reason[:60],
    }
    if decision.until is not None:
        entry["until"] = decision.until.isoformat()
    return entry
