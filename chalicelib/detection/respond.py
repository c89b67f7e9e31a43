"""From what detection saw to what Vigil does: bans, pending bans and alerts, after every policy has spoken.

For each batch: geoblocking rules first (a `block` rule bans the source, a `watch` rule raises an alert), then
the scenarios' triggers. A trigger's action passes through, in order:
- the whitelist: `hard` and system entries suppress it, `monitor` entries turn it into an alert, `soft` entries
  lower it one step (ban → pending → alert);
- the geo-zone policy: hostile countries ban at once, authorized countries turn bans into pending bans;
then it becomes a ban (with the scenario's recidivism), a pending ban, or an alert.

A batch's bans are issued together when it ends, in one `Decisions.issue` pass (a read of the existing
records, transactions of 25, a history and change-log write, a change-stream send), not one `ban` each at about
four requests: a flood that bans many addresses at once is when the requests matter. Until then the batch
remembers the addresses it plans to ban; a later trigger for one of them waits for that ban's outcome and does
what it did when each ban was issued at once: nothing if the ban is in force; if it was refused, its own work
(a pending ban, or a refusal of its own: the refusals are the address's, not the scenario's). The answer lists
decisions and alerts in the order the rules and triggers produced them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from chalicelib.core.clock import Clock, iso
from chalicelib.core.errors import VigilError
from chalicelib.decisions.model import Decision
from chalicelib.decisions.pending import PendingBans
from chalicelib.decisions.requests import DEFAULT, BanRequest
from chalicelib.decisions.service import Decisions, ItemResult
from chalicelib.events.model import Event
from chalicelib.events.store import EventStore

STEP_DOWN = {"ban": "pending", "pending": "alert", "alert": "alert"}


class DetectorLike(Protocol):
    def observe(self, events: Sequence[Event]) -> list[Any]: ...

    def sweep(self) -> list[Any]: ...


class GeoBlockingLike(Protocol):
    def evaluate(self, geo: Any) -> Any: ...

    def record_matches(self, matches: Any) -> None: ...


class GeoZonesLike(Protocol):
    def zone_of(self, country: str | None) -> str: ...

    def decide(self, action: str, zone: str) -> str: ...


@dataclass
class Step:
    """What one rule or trigger produced, in the batch's order: a decision entry, an alert, or neither. A step
    that waits on a planned ban is filled in once the batch's bans are issued."""

    decision: dict[str, Any] | None = None
    alert: dict[str, Any] | None = None


@dataclass
class PlannedBan:
    """A ban the batch issues when it ends, the step its outcome fills, and what the same address's later
    triggers do if it is refused (with the ban in force, they do nothing)."""

    request: BanRequest  # its target is the address, its scenario the one that asked
    step: Step
    if_refused: list[Callable[[VigilError], None]] = field(default_factory=list)


@dataclass
class Outcome:
    steps: list[Step] = field(default_factory=list)
    bans: dict[str, PlannedBan] = field(default_factory=dict)  # address → the batch's first ban of it
    suppressed: int = 0

    def add(self, *, decision: dict[str, Any] | None = None, alert: dict[str, Any] | None = None) -> Step:
        step = Step(decision, alert)
        self.steps.append(step)
        return step

    @property
    def decisions(self) -> list[dict[str, Any]]:
        return [s.decision for s in self.steps if s.decision is not None]

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return [s.alert for s in self.steps if s.alert is not None]


class Responder:
    def __init__(
        self,
        detector: DetectorLike,
        decisions: Decisions,
        pending: PendingBans,
        events: EventStore,
        geoblocking: GeoBlockingLike,
        geozones: GeoZonesLike,
        clock: Clock,
        geo: Any = None,
    ) -> None:
        self._geo = geo
        self._detector = detector
        self._decisions = decisions
        self._pending = pending
        self._events = events
        self._geoblocking = geoblocking
        self._geozones = geozones
        self._clock = clock

    def respond(
        self, events: Sequence[Event], enriched: dict[str, dict[str, Any]], request_id: str | None
    ) -> dict[str, Any]:
        outcome = Outcome()
        self._geoblock(enriched, outcome)
        for trigger in self._detector.observe(events):
            self._act(trigger, enriched.get(trigger.source_ip, {}), outcome, request_id)
        return self._finish(outcome, request_id)

    def sweep(self) -> dict[str, Any]:
        """The minute schedule: scenarios evaluated over long windows and across sensors."""
        outcome = Outcome()
        for trigger in self._detector.sweep():
            geo = self._geo.lookup(trigger.source_ip) if self._geo is not None else None
            self._act(trigger, {"country": getattr(geo, "country_code", None)}, outcome, None)
        return self._finish(outcome, None)

    def _finish(self, outcome: Outcome, request_id: str | None) -> dict[str, Any]:
        """Issue the batch's bans, then store its alerts (refused bans among them)."""
        self._issue(outcome, request_id)
        alerts = outcome.alerts
        if alerts:
            self._events.put_alerts(alerts, self._clock.now())
        return {"decisions": outcome.decisions, "alerts": len(alerts), "suppressed": outcome.suppressed}

    def _geoblock(self, enriched: dict[str, dict[str, Any]], outcome: Outcome) -> None:
        matches = []
        for ip, fields in enriched.items():
            match = self._geoblocking.evaluate(fields.get("_geo"))
            if match is None:
                continue
            matches.append(match)
            reason = f"geoblocking rule {match.rule_type} {match.value}: {match.action}"
            if match.action == "block" and not self._protected(ip):
                self._ban(ip, "geoblocking", reason, DEFAULT, None, {"rule": match.rule_id}, outcome)
            else:
                outcome.add(alert=self._alert(ip, "geoblocking", reason, "medium", fields))
        if matches:
            self._geoblocking.record_matches(matches)  # one counter write per rule per day

    def _protected(self, ip: str) -> bool:
        return any(h.kind in ("allow:hard", "allow:system") for h in self._decisions.live.lookup(ip))

    def _act(self, trigger: Any, fields: dict[str, Any], outcome: Outcome, request_id: str | None) -> None:
        ip = trigger.source_ip
        action = trigger.action
        kinds = {h.kind for h in self._decisions.live.lookup(ip)}
        if kinds & {"allow:hard", "allow:system"}:
            outcome.suppressed += 1
            return
        if "allow:monitor" in kinds:
            action = "alert"
        elif "allow:soft" in kinds:
            action = STEP_DOWN[action]
        zone = self._geozones.zone_of(fields.get("country"))
        action = self._geozones.decide(action, zone)
        details = {
            "count": trigger.count,
            "sensor": trigger.sensor,
            "country": fields.get("country"),
            "zone": zone,
            "sample": list(trigger.sample)[:5],
        }
        if action == "ban":
            if "ban" in kinds:
                return  # already banned: a repeat trigger is not a new offence
            recidivism = getattr(trigger, "recidivism", None)
            self._ban(
                ip,
                trigger.scenario,
                trigger.reason,
                DEFAULT if trigger.duration_seconds is not None and recidivism else trigger.duration_seconds,
                recidivism,
                details,
                outcome,
            )
        elif action == "pending":
            if "ban" in kinds:
                return  # banned already: nothing left to review
            self._pend(trigger, details, outcome, request_id)
        else:
            outcome.add(
                alert=self._alert(ip, trigger.scenario, trigger.reason, trigger.severity, fields, trigger.count)
            )

    def _ban(
        self,
        ip: str,
        scenario: str,
        reason: str,
        seconds: Any,
        recidivism: Any,
        details: dict[str, Any],
        outcome: Outcome,
    ) -> None:
        """Plan the address's ban for the end of the batch. A second ban of it in the batch (another scenario)
        adds no decision: the first one, issued, bans the address; refused, it refuses this one the same way."""
        step = outcome.add()
        planned = outcome.bans.get(ip)
        if planned is not None:
            planned.if_refused.append(partial(self._refuse, step, ip, scenario))
            return
        request = BanRequest(
            ip,
            reason=reason,
            seconds=seconds,
            origin="scenario",
            scenario=scenario,
            on_existing="extend",
            recidivism=recidivism,
            extra=details,
        )
        outcome.bans[ip] = PlannedBan(request, step)

    def _pend(self, trigger: Any, details: dict[str, Any], outcome: Outcome, request_id: str | None) -> None:
        """Propose a pending ban now; if the batch plans to ban the address (maybe another scenario), only once
        that ban is refused: banned, the address leaves nothing to review."""
        step = outcome.add()
        planned = outcome.bans.get(trigger.source_ip)
        if planned is None:
            self._propose(step, trigger, details, request_id)
        else:
            planned.if_refused.append(lambda _refusal: self._propose(step, trigger, details, request_id))

    def _propose(self, step: Step, trigger: Any, details: dict[str, Any], request_id: str | None) -> None:
        decision, new = self._pending.propose(
            trigger.source_ip,
            scenario=trigger.scenario,
            reason=trigger.reason,
            seconds=trigger.duration_seconds,
            details=details,
            request_id=request_id,
        )
        if new:
            step.decision = {
                "action": "pending",
                "ip": decision.address,
                "id": decision.id,
                "scenario": trigger.scenario,
            }

    def _issue(self, outcome: Outcome, request_id: str | None) -> None:
        """Issue every planned ban in one pass, then fill in their steps and run what waited on a refusal."""
        planned = list(outcome.bans.values())
        if not planned:
            return
        for ban, verdict in zip(planned, self._verdicts(planned, request_id), strict=True):
            if isinstance(verdict, VigilError):  # whitelisted, reserved, too broad: recorded, the batch goes on
                self._refuse(ban.step, ban.request.target, ban.request.scenario, verdict)
                for then in ban.if_refused:
                    then(verdict)
            else:
                ban.step.decision = {
                    "action": "ban",
                    "ip": verdict.address,
                    "id": verdict.id,
                    "scenario": ban.request.scenario,
                    "until": iso(verdict.until),
                }

    def _verdicts(self, planned: list[PlannedBan], request_id: str | None) -> list[Decision | VigilError]:
        """Each planned ban's decision or refusal, as `Decisions.ban` returned or raised it. A `VigilError` of
        the whole pass (a dependency failing) refuses them all, as it refused each `ban` it broke; anything
        else propagates."""
        requests = [ban.request for ban in planned]
        try:
            issued = self._decisions.issue(requests, actor="detection", request_id=request_id)
        except VigilError as error:
            return [error] * len(planned)
        return [_verdict(items) for items in issued.items]

    def _refuse(self, step: Step, ip: str, scenario: str, error: VigilError) -> None:
        """A refused ban is an alert, not an error: one address that cannot be banned must not stop the batch."""
        step.alert = {
            "ip": ip,
            "scenario": scenario,
            "reason": f"ban refused: {error.message}",
            "severity": "high",
            "at": iso(self._clock.now()),
        }

    def _alert(
        self, ip: str, scenario: str, reason: str, severity: str, fields: dict[str, Any], count: int | None = None
    ) -> dict[str, Any]:
        return {
            "ip": ip,
            "scenario": scenario,
            "reason": reason,
            "severity": severity,
            "count": count,
            "country": fields.get("country"),
            "at": iso(self._clock.now()),
        }


def _verdict(items: list[ItemResult]) -> Decision | VigilError:
    """One address's result (an address is one network, so one item): its refusal, or its decision."""
    (item,) = items
    if item.error is not None:
        return item.error
    assert item.decision is not None  # issued, updated, unchanged: every status but an error carries one
    return item.decision
