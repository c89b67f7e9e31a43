"""Pending bans (seed 000's Detect2Ban v2): a scenario's verdict that waits for a person.

A pending ban is a decision of type `pending` on the value, so it has the same history, change stream and
expiry machinery as the rest (a pending ban nobody looks at expires after `review_days` and says so). Approving
issues a real ban whose history names the approver; rejecting records who and why, and can add a soft
whitelist entry so the same address is treated more gently next time.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.core.clock import Clock, iso
from chalicelib.core.errors import ConflictError, NotFoundError
from chalicelib.decisions import addresses
from chalicelib.decisions.model import ACTIVE, ENDED, GLOBAL, Decision
from chalicelib.decisions.requests import DEFAULT, BanRequest

if TYPE_CHECKING:  # constructor types only: importing the services here would load them at cold start
    from chalicelib.decisions.service import Decisions
    from chalicelib.decisions.whitelist import Whitelist

PENDING = "pending"


class PendingBans:
    def __init__(self, decisions: Decisions, whitelist: Whitelist, clock: Clock, review_days: int = 7) -> None:
        self._d = decisions
        self._whitelist = whitelist
        self._clock = clock
        self._review = timedelta(days=review_days)

    def propose(
        self,
        ip: str,
        *,
        scenario: str,
        reason: str,
        seconds: Any,
        details: dict[str, Any],
        actor: str = "detection",
        request_id: str | None = None,
    ) -> tuple[Decision, bool]:
        """Record a pending ban; a second proposal for an address already waiting adds to it. Returns the
        pending decision and whether it is new."""
        now = self._clock.now()
        value = addresses.normalise(ip)
        existing = self._d.store.get(value, f"{PENDING}#{GLOBAL}")
        if existing is not None and existing.active_at(now):
            hits = int(existing.extra.get("hits", 1)) + 1
            scenarios = sorted(set(existing.extra.get("scenarios", [existing.scenario])) | {scenario})
            updated = self._d.update(
                existing,
                actor=actor,
                action="pending_updated",
                request_id=request_id,
                extra={**existing.extra, "hits": hits, "scenarios": scenarios, "last": details},
            )
            return updated, False
        pending = Decision(
            id=str(uuid.uuid4()),
            value=value,
            type=PENDING,
            scope=GLOBAL,
            origin="scenario",
            reason=reason,
            scenario=scenario,
            created_at=now,
            created_by=actor,
            updated_at=now,
            until=now + self._review,
            extra={
                "duration_seconds": None if seconds is DEFAULT else seconds,
                "hits": 1,
                "scenarios": [scenario],
                "first": details,
                "last": details,
            },
        )
        saved = self._d.store.save(pending, existing.version if existing else None)
        self._d.record_new(saved, actor=actor, action="pending", request_id=request_id)
        return saved, True

    def waiting(self) -> list[Decision]:
        now = self._clock.now()
        found = [d for d in self._d.store.list(PENDING) if d.active_at(now)]
        return sorted(found, key=lambda d: d.created_at or now, reverse=True)

    def decided(self) -> list[Decision]:
        return list(self._d.store.list(PENDING, ENDED))

    def get(self, pending_id: str) -> Decision:
        for decision in self.waiting():
            if decision.id == pending_id:
                return decision
        raise NotFoundError(f"No pending ban {pending_id} awaiting review")

    def for_ip(self, ip: str) -> list[Decision]:
        value = addresses.normalise(ip)
        return sorted(
            (d for d in self._d.store.for_value(value) if d.type == PENDING),
            key=lambda d: d.created_at or self._clock.now(),
            reverse=True,
        )

    def approve(
        self, pending_id: str, *, actor: str, reason: str = "", request_id: str | None = None
    ) -> tuple[Decision, Decision]:
        """Turn a pending ban into a ban; returns (the ended pending record, the ban)."""
        pending = self.get(pending_id)
        seconds = pending.extra.get("duration_seconds")
        ban = self._d.ban(
            BanRequest(
                pending.value,
                reason=f"{pending.reason} (approved by {actor}{': ' + reason if reason else ''})",
                seconds=DEFAULT if seconds is None else seconds,
                origin="scenario",
                scenario=pending.scenario,
                on_existing="extend",
            ),
            actor=actor,
            request_id=request_id,
        )
        ended = self._end(pending, "approved", actor, reason, request_id)
        return ended, ban

    def _end(self, pending: Decision, outcome: str, actor: str, reason: str, request_id: str | None) -> Decision:
        """End a pending ban with its outcome as the ended reason (what `status` and the statistics read); the
        reviewer's own words are kept as its note."""
        noted = pending.changed(note=reason) if reason else pending
        return self._d.end(noted, actor=actor, reason=outcome, action=outcome, request_id=request_id)

    def reject(
        self, pending_id: str, *, actor: str, reason: str = "", whitelist: bool = False, request_id: str | None = None
    ) -> tuple[Decision, Decision | None]:
        """Drop a pending ban; with `whitelist`, add a soft whitelist entry for the address."""
        pending = self.get(pending_id)
        ended = self._end(pending, "rejected", actor, reason, request_id)
        entry = None
        if whitelist:
            try:
                entry, _, _ = self._whitelist.add(
                    pending.network, type_="soft", reason=f"rejected pending ban: {reason}", actor=actor
                )
            except ConflictError:
                entry = None  # already whitelisted
        return ended, entry

    def stats(self) -> dict[str, Any]:
        waiting = self.waiting()
        decided = self.decided()
        outcome = Counter(
            d.ended_reason if d.ended_reason in ("approved", "rejected", "expired") else "other" for d in decided
        )
        return {
            "pending": len(waiting),
            "approved": outcome.get("approved", 0),
            "rejected": outcome.get("rejected", 0),
            "expired": outcome.get("expired", 0),
            "by_scenario": dict(Counter(d.scenario for d in waiting)),
            "by_country": dict(
                Counter(
                    (d.extra.get("last") or {}).get("country")
                    for d in waiting
                    if (d.extra.get("last") or {}).get("country")
                )
            ),
            "oldest": iso(min((d.created_at for d in waiting if d.created_at), default=None)),
        }


def pending_view(d: Decision) -> dict[str, Any]:
    last = d.extra.get("last") or {}
    return {
        "id": d.id,
        "ip": d.address,
        "scenario": d.scenario,
        "scenarios": d.extra.get("scenarios", [d.scenario]),
        "reason": d.reason,
        "status": "pending" if d.status == ACTIVE else d.ended_reason,
        "hits": d.extra.get("hits", 1),
        "country": last.get("country"),
        "zone": last.get("zone"),
        "count": last.get("count"),
        "sample": last.get("sample", []),
        "proposed_ban_seconds": d.extra.get("duration_seconds"),
        "created_at": iso(d.created_at),
        "review_by": iso(d.until),
        "decided_at": iso(d.ended_at),
        "decided_by": d.ended_by,
        "decision_reason": d.note,
    }
