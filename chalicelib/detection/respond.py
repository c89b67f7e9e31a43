"""From what detection saw to what Vigil does: bans, pending bans and alerts, after every policy has spoken.

For each batch: geoblocking rules first (a `block` rule bans the source, a `watch` rule raises an alert), then
the scenarios' triggers. A trigger's action passes through, in order:
- the whitelist: `hard` and system entries suppress it, `monitor` entries turn it into an alert, `soft` entries
  lower it one step (ban → pending → alert);
- the geo-zone policy: hostile countries ban at once, authorized countries turn bans into pending bans;
then it becomes a ban (with the scenario's recidivism), a pending ban, or an alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.core.clock import Clock, iso
from chalicelib.core.errors import VigilError
from chalicelib.decisions.pending import PendingBans
from chalicelib.decisions.requests import DEFAULT, BanRequest
from chalicelib.decisions.service import Decisions
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
class Outcome:
    decisions: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    suppressed: int = 0


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
        outcome = Outcome([], [])
        self._geoblock(enriched, outcome, request_id)
        for trigger in self._detector.observe(events):
            self._act(trigger, enriched.get(trigger.source_ip, {}), outcome, request_id)
        if outcome.alerts:
            self._events.put_alerts(outcome.alerts, self._clock.now())
        return {"decisions": outcome.decisions, "alerts": len(outcome.alerts), "suppressed": outcome.suppressed}

    def sweep(self) -> dict[str, Any]:
        """The minute schedule: scenarios evaluated over long windows and across sensors."""
        outcome = Outcome([], [])
        for trigger in self._detector.sweep():
            geo = self._geo.lookup(trigger.source_ip) if self._geo is not None else None
            self._act(trigger, {"country": getattr(geo, "country_code", None)}, outcome, None)
        if outcome.alerts:
            self._events.put_alerts(outcome.alerts, self._clock.now())
        return {"decisions": outcome.decisions, "alerts": len(outcome.alerts), "suppressed": outcome.suppressed}

    def _geoblock(self, enriched: dict[str, dict[str, Any]], outcome: Outcome, request_id: str | None) -> None:
        matches = []
        for ip, fields in enriched.items():
            match = self._geoblocking.evaluate(fields.get("_geo"))
            if match is None:
                continue
            matches.append(match)
            reason = f"geoblocking rule {match.rule_type} {match.value}: {match.action}"
            if match.action == "block" and not self._protected(ip):
                self._ban(ip, "geoblocking", reason, DEFAULT, None, {"rule": match.rule_id}, outcome, request_id)
            else:
                outcome.alerts.append(self._alert(ip, "geoblocking", reason, "medium", fields))
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
                request_id,
            )
        elif action == "pending":
            if "ban" in kinds or any(d["action"] == "ban" and d["ip"] == ip for d in outcome.decisions):
                return  # banned already (maybe by another scenario of this batch): nothing left to review
            decision, new = self._pending.propose(
                ip,
                scenario=trigger.scenario,
                reason=trigger.reason,
                seconds=trigger.duration_seconds,
                details=details,
                request_id=request_id,
            )
            if new:
                outcome.decisions.append(
                    {"action": "pending", "ip": decision.address, "id": decision.id, "scenario": trigger.scenario}
                )
        else:
            outcome.alerts.append(
                self._alert(ip, trigger.scenario, trigger.reason, trigger.severity, fields, trigger.count)
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
        request_id: str | None,
    ) -> None:
        try:
            decision = self._decisions.ban(
                BanRequest(
                    ip,
                    reason=reason,
                    seconds=seconds,
                    origin="scenario",
                    scenario=scenario,
                    on_existing="extend",
                    recidivism=recidivism,
                    extra=details,
                ),
                actor="detection",
                request_id=request_id,
            )
        except VigilError as error:  # whitelisted, reserved, too broad: recorded, the batch goes on
            outcome.alerts.append(
                {
                    "ip": ip,
                    "scenario": scenario,
                    "reason": f"ban refused: {error.message}",
                    "severity": "high",
                    "at": iso(self._clock.now()),
                }
            )
            return
        outcome.decisions.append(
            {
                "action": "ban",
                "ip": decision.address,
                "id": decision.id,
                "scenario": scenario,
                "until": iso(decision.until),
            }
        )

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
