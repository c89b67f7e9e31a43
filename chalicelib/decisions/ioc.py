"""Seed 003's IOC manager over Vigil's decisions: an IOC is a ban with tags.

Semantics as the seed documents them: an item names `ip`, `range` or `cidr`, carries `tags` (required), an
optional `ttl` (default permanent), `note`, `alert_id` and `force`. Posting an IOC that exists merges its tags
and alert ids and keeps the later expiry; with `force` the new item replaces the stored one. Deleting with
tags takes the IOC out of those tags (it ends when none are left); deleting without tags ends it everywhere.
A batch answers `ok`, `partial_ok` (some items failed, each reported) or `error` (none succeeded).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.core.clock import Clock, iso
from chalicelib.core.errors import InvalidInputError, VigilError
from chalicelib.decisions import addresses
from chalicelib.decisions.model import BAN, Decision
from chalicelib.decisions.requests import BanRequest

if TYPE_CHECKING:  # constructor types only: importing the services here would load them at cold start
    from chalicelib.decisions.queries import DecisionQueries
    from chalicelib.decisions.service import Decisions
    from chalicelib.decisions.store import DecisionStore

ORIGIN = "api"


@dataclass(frozen=True)
class IocItem:
    target: str
    tags: tuple[str, ...]
    seconds: int | None  # None: permanent
    note: str | None = None
    alert_id: str | None = None
    force: bool = False


@dataclass(frozen=True)
class BlockOutcome:
    status: str  # ok | partial_ok | error
    body: dict[str, Any]

    @property
    def http_status(self) -> int:
        return {"ok": 200, "partial_ok": 207, "error": 400}[self.status]


class IocManager:
    def __init__(self, decisions: Decisions, queries: DecisionQueries, store: DecisionStore, clock: Clock) -> None:
        self._decisions = decisions
        self._queries = queries
        self._store = store
        self._clock = clock

    def block(
        self,
        items: list[IocItem],
        *,
        actor: str | None,
        allow_broad: bool,
        request_id: str | None = None,
        caller_ip: str | None = None,
    ) -> BlockOutcome:
        requests = [
            BanRequest(
                target=item.target,
                reason=item.note or "IOC",
                seconds=item.seconds,
                origin=ORIGIN,
                tags=item.tags,
                alert_ids=(item.alert_id,) if item.alert_id else (),
                note=item.note,
                # Seed 003's `force` overwrites an existing IOC; from an administrator it also lifts the breadth
                # limit and the self-ban guard, as `force` does on the other contracts.
                force=item.force and allow_broad,
                on_existing="overwrite" if item.force else "merge",
                caller_ip=caller_ip,
            )
            for item in items
        ]
        result = self._decisions.issue(requests, actor=actor, request_id=request_id)
        processed, errors = [], []
        for index, outcome in enumerate(result.items):
            ips = []
            for item in outcome:
                if item.error is not None:
                    errors.append(_error(index, item.value, item.error))
                elif item.decision is not None:
                    ips.append(
                        {
                            "ip": item.decision.address,
                            "status": _word(item.status),
                            "expires_at": iso(item.decision.until),
                        }
                    )
            if ips:
                processed.append({"count": len(ips), "ips": ips})
        status = "error" if not processed else ("partial_ok" if errors else "ok")
        return BlockOutcome(status, {"status": status, "processed": processed, "errors": errors})

    def unblock(
        self, target: str, tags: list[str] | None, *, actor: str | None, request_id: str | None = None
    ) -> dict[str, Any]:
        value = addresses.normalise(target)
        if tags:
            decision, ended = self._decisions.remove_tags(value, tags, actor=actor, request_id=request_id)
            return {
                "status": "deleted" if ended else "updated",
                "ip": decision.address,
                "scope": "partial",
                "tags": list(decision.tags) if not ended else [],
            }
        decision = self._decisions.lift(value, actor=actor, reason="removed from every feed", request_id=request_id)
        return {"status": "deleted", "ip": decision.address, "scope": "global"}

    def state(self, target: str) -> dict[str, Any]:
        decision = self._decisions.find(target)
        return {
            "status": "ok",
            "data": {
                "ip": decision.address,
                "tags": list(decision.tags),
                "ttl": decision.remaining_seconds(self._clock.now()),
                "expires_at": iso(decision.until),
                "source": decision.origin,
                "alert_ids": list(decision.alert_ids),
                "note": decision.note,
                "created_at": iso(decision.created_at),
            },
        }

    def _iocs(self) -> list[Decision]:
        return [d for d in self._queries.in_force(BAN) if d.tags and d.scope == "global"]

    def summary(self) -> dict[str, Any]:
        iocs = self._iocs()
        return {
            "ok": True,
            "total_ips": len(iocs),
            "tags": dict(sorted(Counter(t for d in iocs for t in d.tags).items())),
            "sources": dict(sorted(Counter(d.origin for d in iocs).items())),
            "timestamp": iso(self._clock.now()),
        }

    def in_tag(self, tag: str) -> list[Decision]:
        """The IOCs of a tag (matched without regard to case, as feed names are lower case), sorted.

        An unknown or emptied tag is an empty list, not an error: a firewall that got a 404 would keep serving
        its last copy, with the addresses that were just removed.
        """
        wanted = tag.lower()
        found = [d for d in self._iocs() if any(t.lower() == wanted for t in d.tags)]
        return sorted(found, key=lambda d: (":" in d.value, int(d.network.network_address), d.network.prefixlen))

    def listing(self, tag: str) -> dict[str, Any]:
        now = self._clock.now()
        items = [
            {
                "ip": d.address,
                "tags": list(d.tags),
                "ttl": d.remaining_seconds(now),
                "expires_at": iso(d.until),
                "source": d.origin,
                "alert_ids": list(d.alert_ids),
                "note": d.note,
                "created_at": iso(d.created_at),
            }
            for d in self.in_tag(tag)
        ]
        return {"status": "ok", "tag": tag, "count": len(items), "data": items}

    def feed_text(self, tag: str) -> str:
        """One address or CIDR per line, nothing else (firewalls read it as is)."""
        lines = [d.address for d in self.in_tag(tag)]
        return "\n".join(lines) + ("\n" if lines else "")

    def snapshot_daily(self) -> dict[str, Any]:
        """Write today's counters (scheduled); the same day written twice keeps the latest figures."""
        summary = self.summary()
        day = self._clock.now().date().isoformat()
        record = {
            "date": day,
            "total_ips": summary["total_ips"],
            "tags": summary["tags"],
            "sources": summary["sources"],
            "timestamp": summary["timestamp"],
        }
        self._store.put_daily(day, record)
        return record

    def counters_history(self, limit: int) -> list[dict[str, Any]]:
        if not 1 <= limit <= 366:
            raise InvalidInputError("limit must be between 1 and 366")
        return self._store.daily(limit)


def _word(status: str) -> str:
    return {"issued": "ok", "updated": "updated", "unchanged": "unchanged"}.get(status, status)


def _error(index: int, value: str, error: VigilError) -> dict[str, Any]:
    return {"index": index, "ip": value, "error": error.message, "code": error.code}
