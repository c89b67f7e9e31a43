"""Issuing, changing and ending decisions: every write to the decisions table goes through here.

A write follows one path whatever asked for it (a REST route of any seed, a scenario, the auto-ban, an IOC
import): parse and check each target (breadth, reserved space, hard and system whitelists), read what exists,
work out the new records, write them with version conditions in transactions, add history, then log the
changes for the other containers' indexes and send them on the change stream. Batch writes report each item as
written or failed with its reason; nothing half-written goes unreported.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chalicelib.core.clock import Clock, iso
from chalicelib.core.errors import ConflictError, InvalidInputError, NotFoundError, VigilError, WhitelistedError
from chalicelib.decisions import addresses, ttl
from chalicelib.decisions.live import LiveIndex, log_entry
from chalicelib.decisions.model import ACTIVE, ALLOW, BAN, ENDED, GLOBAL, Change, Decision
from chalicelib.decisions.requests import DEFAULT, BanRequest
from chalicelib.decisions.store import DecisionStore
from chalicelib.decisions.stream import ChangePublisher

SWEEP_OVERLAP = timedelta(hours=1)


@dataclass(frozen=True)
class DecisionPolicy:
    safety: addresses.SafetyPolicy
    default_ban_seconds: int
    recidivism_factor: float
    recidivism_max_seconds: int


@dataclass
class ItemResult:
    """The outcome for one network of one request."""

    value: str
    status: str  # issued | updated | unchanged | error
    decision: Decision | None = None
    error: VigilError | None = None


@dataclass
class IssueResult:
    items: list[list[ItemResult]]  # per request, per network

    @property
    def decisions(self) -> list[Decision]:
        return [r.decision for request in self.items for r in request if r.decision is not None]

    @property
    def errors(self) -> list[tuple[int, ItemResult]]:
        return [(i, r) for i, request in enumerate(self.items) for r in request if r.error is not None]


@dataclass
class _Plan:
    request_index: int
    value: str
    request: BanRequest
    decision: Decision | None = None
    expected: int | None = None
    status: str = "issued"
    history: list[dict[str, Any]] = field(default_factory=list)
    error: VigilError | None = None


class Decisions:
    def __init__(
        self,
        store: DecisionStore,
        live: LiveIndex,
        publisher: ChangePublisher,
        clock: Clock,
        policy: DecisionPolicy,
    ) -> None:
        self.store = store
        self.live = live
        self._publisher = publisher
        self._clock = clock
        self.policy = policy

    # issuing bans
    def issue(self, requests: list[BanRequest], *, actor: str | None, request_id: str | None = None) -> IssueResult:
        """Issue bans (one request may cover several networks); see `BanRequest.on_existing`."""
        now = self._clock.now()
        plans = [p for i, r in enumerate(requests) for p in self._targets(i, r)]
        existing = self.store.get_many((p.value, f"{BAN}#{p.request.scope}") for p in plans if p.error is None)
        seen: dict[tuple[str, str], _Plan] = {}
        for plan in plans:
            if plan.error is not None:
                continue
            key = (plan.value, f"{BAN}#{plan.request.scope}")
            if key in seen:  # the same network twice in one batch: the first one stands
                plan.status, plan.decision = "unchanged", seen[key].decision
                continue
            seen[key] = plan
            self._plan_ban(plan, existing.get(key), now, actor)
        self._commit(
            [p for p in plans if p.error is None and p.status in ("issued", "updated")], now, actor, request_id
        )
        results: list[list[ItemResult]] = [[] for _ in requests]
        for plan in plans:
            results[plan.request_index].append(ItemResult(plan.value, plan.status, plan.decision, plan.error))
        return IssueResult(results)

    def ban(self, request: BanRequest, *, actor: str | None, request_id: str | None = None) -> Decision:
        """Issue one ban of one network; any refusal is raised."""
        outcome = self.issue([request], actor=actor, request_id=request_id).items[0]
        if len(outcome) != 1:
            raise InvalidInputError(f"'{request.target}' covers {len(outcome)} networks; ban one network at a time")
        if outcome[0].error is not None:
            raise outcome[0].error
        assert outcome[0].decision is not None
        return outcome[0].decision

    def auto_ban(self, ip: str, reason: str, seconds: int) -> None:
        """The brute-force auto-ban (seed 001): a 24-hour ban, extended if one is already in force."""
        self.ban(
            BanRequest(ip, reason=reason, seconds=seconds, origin="auto-ban", on_existing="extend", force=False),
            actor="system",
        )

    def _targets(self, index: int, request: BanRequest) -> list[_Plan]:
        try:
            networks = addresses.parse_target(request.target)
        except InvalidInputError as exc:
            return [_Plan(index, request.target, request, status="error", error=exc)]
        plans = []
        for network in networks:
            plan = _Plan(index, str(network), request)
            try:
                addresses.check_bannable(network, self.policy.safety, force=request.force)
                self._refuse_whitelisted(network)
                _refuse_self_ban(network, request)
            except VigilError as exc:
                plan.status, plan.error = "error", exc
            plans.append(plan)
        return plans

    def _refuse_whitelisted(self, network: addresses.Network) -> None:
        hits = [h for h in self.live.overlapping_allows(network) if h.kind in ("allow:hard", "allow:system")]
        if hits:
            raise WhitelistedError(
                f"{addresses.display(network)} overlaps whitelisted {hits[0].network}; it cannot be banned",
                details={"whitelist": [{"id": h.id, "network": h.network, "kind": h.kind} for h in hits]},
            )

    def _plan_ban(self, plan: _Plan, current: Decision | None, now: datetime, actor: str | None) -> None:
        request = plan.request
        if current is not None and current.active_at(now):
            self._plan_existing(plan, current, now, actor)
            return
        previous_bans = current.bans if current is not None else 0
        seconds = self._seconds(request.seconds, previous_bans, request.recidivism)
        if current is not None and current.status == ACTIVE:
            # In force on paper but past its expiry and not swept yet: end it in history first.
            plan.history.append(
                _history("expired", current.changed(status=ENDED, ended_at=current.until), "system", now)
            )
        plan.decision = Decision(
            id=str(uuid.uuid4()),
            value=plan.value,
            type=BAN,
            scope=request.scope,
            origin=request.origin,
            reason=request.reason,
            scenario=request.scenario,
            tags=tuple(sorted(set(request.tags))),
            alert_ids=tuple(sorted(set(request.alert_ids))),
            note=request.note,
            created_at=now,
            created_by=actor,
            updated_at=now,
            until=ttl.expires_at(now, seconds),
            ttl_seconds=seconds,
            bans=previous_bans + 1,
            extra=dict(request.extra),
        )
        plan.expected = current.version if current is not None else None

    def _plan_existing(self, plan: _Plan, current: Decision, now: datetime, actor: str | None) -> None:
        request = plan.request
        mode = request.on_existing
        if mode == "conflict":
            plan.status = "error"
            plan.error = ConflictError(
                f"{current.address} is already banned until {iso(current.until) or 'forever'}",
                details={"id": current.id, "until": iso(current.until)},
            )
            return
        seconds = self._seconds(request.seconds, current.bans - 1, request.recidivism)
        until = ttl.expires_at(now, seconds)
        if mode == "overwrite":
            updated = current.changed(
                reason=request.reason or current.reason,
                tags=tuple(sorted(set(request.tags))),
                alert_ids=tuple(sorted(set(request.alert_ids))),
                note=request.note,
                until=until,
                ttl_seconds=seconds,
                origin=request.origin,
                scenario=request.scenario or current.scenario,
            )
        else:  # extend or merge: never shorten, never drop a tag
            later = None if current.until is None or until is None else max(current.until, until)
            updated = current.changed(until=later, ttl_seconds=seconds if later == until else current.ttl_seconds)
            if mode == "merge":
                updated = updated.changed(
                    tags=tuple(sorted(set(current.tags) | set(request.tags))),
                    alert_ids=tuple(sorted(set(current.alert_ids) | set(request.alert_ids))),
                    note=request.note or current.note,
                )
        if _same(updated, current):
            plan.status, plan.decision = "unchanged", current
            return
        plan.decision = updated.changed(updated_at=now)
        plan.expected = current.version
        plan.status = "updated"
        plan.history.append(_history("updated", plan.decision, actor, now, previous=current))

    def _seconds(self, asked: Any, previous_bans: int, own: tuple[int, float, int] | None = None) -> int | None:
        """The duration asked for, or the default grown for repeat offenders (the scenario's own recidivism
        settings when it has them)."""
        if asked is not DEFAULT:
            return asked
        base, factor, cap = own or (
            self.policy.default_ban_seconds,
            self.policy.recidivism_factor,
            self.policy.recidivism_max_seconds,
        )
        return ttl.recidivism_ttl(base, previous_bans, factor, max(cap, base))

    def _commit(self, plans: list[_Plan], now: datetime, actor: str | None, request_id: str | None) -> None:
        writes = [(p.decision, p.expected) for p in plans if p.decision is not None]
        saved, failed = self.store.save_many(writes)
        failed_keys = {(d.value, d.sk): message for d, message in failed}
        saved_by_key = {(d.value, d.sk): d for d in saved}
        history: list[dict[str, Any]] = []
        changes: list[Change] = []
        for plan in plans:
            assert plan.decision is not None
            key = (plan.decision.value, plan.decision.sk)
            if key in failed_keys:
                plan.status, plan.error = "error", ConflictError(failed_keys[key])
                plan.decision = None
                continue
            plan.decision = saved_by_key[key]
            history += plan.history
            changes.append(Change("add", "issued" if plan.status == "issued" else "updated", plan.decision, actor))
        self.store.add_history(history)
        self._emit(changes, now, request_id)

    def _emit(self, changes: list[Change], now: datetime, request_id: str | None) -> None:
        if not changes:
            return
        self.store.append_changes([log_entry(c.op, c.decision) for c in changes], now)
        self.live.applied((c.op, c.decision) for c in changes)
        self._publisher.publish(changes, now, request_id)

    # changing and ending
    def find(self, target: str, type_: str = BAN, scope: str = GLOBAL) -> Decision:
        """The record in force for exactly this network, or `NotFoundError` (saying what covers it instead)."""
        value = addresses.normalise(target)
        decision = self.store.get(value, f"{type_}#{scope}")
        if decision is None or not decision.active_at(self._clock.now()):
            covering = [
                h.network
                for h in self.live.lookup(str(addresses.parse_network(value).network_address))
                if h.kind.startswith(type_) and h.network != value
            ]
            hint = f"; it is covered by {', '.join(covering)}" if covering else ""
            noun = "ban" if type_ == BAN else "whitelist entry"
            raise NotFoundError(f"No {noun} in force on {addresses.display(addresses.parse_network(value))}{hint}")
        return decision

    def end(
        self,
        decision: Decision,
        *,
        actor: str | None,
        reason: str,
        action: str = "unbanned",
        request_id: str | None = None,
    ) -> Decision:
        """End a decision in force (unban, whitelist removal, expiry)."""
        now = self._clock.now()
        ended = decision.changed(status=ENDED, ended_at=now, ended_by=actor, ended_reason=reason, updated_at=now)
        saved = self.store.save(ended, decision.version)
        self.store.add_history([_history(action, saved, actor, now, reason=reason)])
        self._emit([Change("delete", action, saved, actor)], now, request_id)
        return saved

    def update(
        self, decision: Decision, *, actor: str | None, action: str, request_id: str | None = None, **changes: Any
    ) -> Decision:
        """Change fields of a decision in force (extend, make permanent, tags, whitelist fields)."""
        now = self._clock.now()
        updated = decision.changed(updated_at=now, **changes)
        saved = self.store.save(updated, decision.version)
        self.store.add_history([_history(action, saved, actor, now, previous=decision)])
        self._emit([Change("add", action, saved, actor)], now, request_id)
        return saved

    def lift(
        self, target: str, *, actor: str | None, reason: str, scope: str = GLOBAL, request_id: str | None = None
    ) -> Decision:
        """Unban exactly this network in this scope."""
        return self.end(self.find(target, BAN, scope), actor=actor, reason=reason or "unbanned", request_id=request_id)

    def extend(self, target: str, seconds: int, *, actor: str | None, request_id: str | None = None) -> Decision:
        decision = self.find(target)
        if decision.until is None:
            raise ConflictError(f"{decision.address} is banned permanently; there is nothing to extend")
        base = max(decision.until, self._clock.now())
        return self.update(
            decision,
            actor=actor,
            action="extended",
            request_id=request_id,
            until=ttl.expires_at(base, seconds),
            ttl_seconds=(decision.ttl_seconds or 0) + seconds,
        )

    def make_permanent(self, target: str, *, actor: str | None, request_id: str | None = None) -> Decision:
        decision = self.find(target)
        if decision.until is None:
            return decision
        return self.update(
            decision, actor=actor, action="made_permanent", request_id=request_id, until=None, ttl_seconds=None
        )

    def remove_tags(
        self, target: str, tags: list[str], *, actor: str | None, request_id: str | None = None
    ) -> tuple[Decision, bool]:
        """Take tags off a ban; with none left it ends. Returns the decision and whether it ended."""
        decision = self.find(target)
        missing = sorted(set(tags) - set(decision.tags))
        if missing and not set(tags) & set(decision.tags):
            raise NotFoundError(f"{decision.address} is not in tag(s) {', '.join(missing)}")
        left = tuple(t for t in decision.tags if t not in set(tags))
        if not left:
            return self.end(
                decision, actor=actor, reason=f"removed from tags {', '.join(tags)}", request_id=request_id
            ), True
        return self.update(decision, actor=actor, action="tags_removed", request_id=request_id, tags=left), False

    # expiry
    def sweep_expired(self) -> list[Decision]:
        """The scheduled sweep: end what expired since the last sweep (an hour's overlap covers late runs)."""
        now = self._clock.now()
        cursor = self.store.sweep_cursor()
        since = (cursor - SWEEP_OVERLAP) if cursor else now - timedelta(days=2)
        ended = self.sweep(since)
        self.store.set_sweep_cursor(now)
        return ended

    def sweep(self, since: datetime) -> list[Decision]:
        """End every decision whose `until` has passed since `since`: history, change stream."""
        now = self._clock.now()
        ended: list[Decision] = []
        for decision in self.store.due(now, since):
            if decision.status != ACTIVE or decision.until is None or decision.until > now:
                continue
            try:
                ended.append(self.end(decision, actor="system", reason="expired", action="expired"))
            except ConflictError:
                continue  # changed since we read it (extended, lifted): nothing to expire
        return ended

    def is_banned(self, ip: str) -> bool:
        return self.live.is_banned(ip)

    def allow_record(
        self, decision: Decision, expected: int | None, *, actor: str | None, action: str, request_id: str | None = None
    ) -> Decision:
        """Write a whitelist record (new or replacing `expected`), with history and change stream."""
        if decision.type != ALLOW:
            raise ValueError("allow_record writes whitelist entries only")
        now = self._clock.now()
        saved = self.store.save(decision, expected)
        self.store.add_history([_history(action, saved, actor, now)])
        self._emit([Change("add", action, saved, actor)], now, request_id)
        return saved

    def record_new(self, decision: Decision, *, actor: str | None, action: str, request_id: str | None = None) -> None:
        """History and change stream of a decision another service saved itself (a pending ban)."""
        now = self._clock.now()
        self.store.add_history([_history(action, decision, actor, now)])
        self._emit([Change("add", action, decision, actor)], now, request_id)


def _refuse_self_ban(network: addresses.Network, request: BanRequest) -> None:
    """Like fail2ban's `ignoreself`: banning the address you are calling from locks you out of Vigil itself."""
    if request.caller_ip is None or request.force:
        return
    try:
        caller = addresses.parse_network(request.caller_ip)
    except InvalidInputError:
        return
    if caller.version == network.version and caller.subnet_of(network):  # type: ignore[arg-type]
        raise ConflictError(
            f"{addresses.display(network)} contains your own address {request.caller_ip}; banning it would lock "
            "you out (pass force to do it anyway)",
            code="SELF_BAN",
        )


def _same(a: Decision, b: Decision) -> bool:
    return (a.until, a.tags, a.alert_ids, a.note, a.reason, a.origin) == (
        b.until,
        b.tags,
        b.alert_ids,
        b.note,
        b.reason,
        b.origin,
    )


def _history(
    action: str,
    decision: Decision,
    actor: str | None,
    now: datetime,
    *,
    previous: Decision | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "value": decision.value,
        "at": iso(now),
        "action": action,
        "actor": actor,
        "decision": decision.as_record(),
    }
    if reason:
        entry["reason"] = reason
    if previous is not None:
        entry["previous_until"] = iso(previous.until)
        entry["previous_tags"] = list(previous.tags)
    return {k: v for k, v in entry.items() if v is not None}
