"""Geoblocking (seed 000): rules that block or watch traffic by country or by autonomous system.

Ingest locates each event's source (`intel.geoip`) and asks `GeoBlocking.evaluate`: a `block` match means "ban
the source", a `watch` match "tag the event and alert". When several enabled rules match, block wins over watch
(a watch rule cannot exempt part of a blocked country; that would need an allow rule), and at equal action the
ASN rule, the more specific, is the one reported.

Rules live in the entities table under one partition (`GEOBLOCK`), a rule per item plus a claim item per
(type, value), so two rules for one country cannot both be created. Matches are counted per rule per day in
the counters table; ingest aggregates a batch before it calls `record_matches`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from chalicelib.core.clock import Clock, epoch, iso, parse_time
from chalicelib.core.counters import CounterStore
from chalicelib.core.dynamo import Delete, DynamoTable, Put
from chalicelib.core.errors import ConflictError, FieldProblem, NotFoundError, ValidationFailedError
from chalicelib.core.ids import time_ordered_id
from chalicelib.intel.countries import COUNTRIES, country_name
from chalicelib.intel.geoip import GeoInfo

RuleType = Literal["country", "asn"]
RuleAction = Literal["block", "watch"]
RULE_TYPES: tuple[str, ...] = get_args(RuleType)
RULE_ACTIONS: tuple[str, ...] = get_args(RuleAction)
ASN_MAX = 4_294_967_295  # 32-bit AS numbers (RFC 6793)
STATS_DAYS = 7
MATCH_RETENTION_DAYS = 35


@dataclass(frozen=True)
class GeoRule:
    """One rule. `value` is an ISO country code (`CN`) or an AS number written `AS4134`."""

    id: str
    type: RuleType
    value: str
    action: RuleAction
    reason: str
    enabled: bool
    created_at: datetime
    created_by: str | None
    updated_at: datetime | None = None
    version: int = 1

    @property
    def asn(self) -> int | None:
        return int(self.value[2:]) if self.type == "asn" else None

    def as_dict(self) -> dict[str, Any]:
        """The rule as the API shows it; `name` is the country's name for country rules."""
        return {
            "id": self.id,
            "type": self.type,
            "value": self.value,
            "name": country_name(self.value) if self.type == "country" else None,
            "action": self.action,
            "reason": self.reason,
            "enabled": self.enabled,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "updated_at": iso(self.updated_at),
        }


@dataclass(frozen=True)
class RuleMatch:
    """The rule that applies to a located address, and the matching rules it outranked."""

    rule: GeoRule
    geo: GeoInfo
    shadowed: tuple[GeoRule, ...] = ()

    @property
    def action(self) -> RuleAction:
        return self.rule.action

    @property
    def rule_id(self) -> str:
        return self.rule.id

    @property
    def rule_type(self) -> RuleType:
        return self.rule.type

    @property
    def value(self) -> str:
        return self.rule.value


def normalise_value(rule_type: str, value: object) -> str:
    """A rule value in its one stored form: `CN` for countries, `AS4134` for `4134`, `"as4134"`, `"AS4134"`."""
    text = str(value).strip().upper() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if rule_type == "country":
        if text not in COUNTRIES:
            raise ValidationFailedError([FieldProblem("value", f"{value!r} is not an ISO 3166-1 alpha-2 country code")])
        return text
    digits = text.removeprefix("AS")
    if not digits.isdigit() or not 0 < int(digits) <= ASN_MAX:
        raise ValidationFailedError([FieldProblem("value", f"{value!r} is not an AS number (1 to {ASN_MAX})")])
    return f"AS{int(digits)}"


def _rank(rule: GeoRule) -> tuple[bool, bool]:
    # Sorts block before watch, then ASN before country.
    return rule.action != "block", rule.type != "asn"


class RuleBook:
    """The enabled rules indexed by country and AS number, for one dictionary lookup each per event."""

    def __init__(self, rules: Iterable[GeoRule]) -> None:
        self.by_country: dict[str, GeoRule] = {}
        self.by_asn: dict[int, GeoRule] = {}
        for rule in rules:
            if not rule.enabled:
                continue
            if rule.type == "country":
                self.by_country[rule.value] = rule
            else:
                self.by_asn[rule.asn or 0] = rule

    def match(self, geo: GeoInfo | None) -> RuleMatch | None:
        """The rule that applies to `geo`, None when none does (or the address could not be located)."""
        if geo is None:
            return None
        found = [
            rule
            for rule in (
                self.by_asn.get(geo.asn) if geo.asn is not None else None,
                self.by_country.get(geo.country_code) if geo.country_code else None,
            )
            if rule is not None
        ]
        if not found:
            return None
        found.sort(key=_rank)
        return RuleMatch(found[0], geo, tuple(found[1:]))


def evaluate(rules: Iterable[GeoRule], geo: GeoInfo | None) -> RuleMatch | None:
    """The rule among `rules` that applies to `geo` (block over watch, ASN over country)."""
    return RuleBook(rules).match(geo)


class GeoRuleStore:
    """Rules and their (type, value) claims in the entities table, all under partition `GEOBLOCK`."""

    PK = "GEOBLOCK"

    def __init__(self, table: DynamoTable) -> None:
        self._t = table

    def list(self) -> list[GeoRule]:
        items = self._t.query_all("pk = :p AND begins_with(sk, :r)", {":p": self.PK, ":r": "RULE#"})
        return sorted((_rule_of(item) for item in items), key=lambda r: (r.created_at, r.id))

    def get(self, rule_id: str) -> GeoRule | None:
        item = self._t.get({"pk": self.PK, "sk": f"RULE#{rule_id}"}, consistent=True)
        return _rule_of(item) if item else None

    def create(self, rule: GeoRule) -> None:
        """Write a new rule; another rule for the same type and value is a `ConflictError`."""
        self._t.transact(
            [
                Put(self._claim(rule), condition="attribute_not_exists(pk)"),
                Put(self._item(rule), condition="attribute_not_exists(pk)"),
            ],
            f"A {rule.type} rule for {rule.value} exists already",
        )

    def save(self, old: GeoRule, new: GeoRule) -> None:
        """Save `new` over `old` if nobody changed it meanwhile, moving the claim when the value changed."""
        # The version check keeps a concurrent edit (or a delete) from being silently overwritten.
        check = {"condition": "#v = :v", "names": {"#v": "version"}, "values": {":v": old.version}}
        if (old.type, old.value) == (new.type, new.value):
            try:
                self._t.put(self._item(new), **check)
            except ConflictError as exc:
                raise ConflictError("The rule was changed or deleted by someone else; read it again") from exc
            return
        self._t.transact(
            [
                Put(self._claim(new), condition="attribute_not_exists(pk)"),
                Delete({"pk": self.PK, "sk": self._claim_sk(old)}),
                Put(self._item(new), **check),
            ],
            f"A {new.type} rule for {new.value} exists already, or the rule changed meanwhile",
        )

    def delete(self, rule: GeoRule) -> None:
        self._t.transact(
            [
                Delete({"pk": self.PK, "sk": f"RULE#{rule.id}"}, condition="attribute_exists(pk)"),
                Delete({"pk": self.PK, "sk": self._claim_sk(rule)}),
            ],
            f"Geoblocking rule {rule.id} was deleted meanwhile",
        )

    def _claim_sk(self, rule: GeoRule) -> str:
        return f"KEY#{rule.type}#{rule.value}"

    def _claim(self, rule: GeoRule) -> dict[str, Any]:
        return {"pk": self.PK, "sk": self._claim_sk(rule), "rule_id": rule.id}

    def _item(self, rule: GeoRule) -> dict[str, Any]:
        return {
            "pk": self.PK,
            "sk": f"RULE#{rule.id}",
            "id": rule.id,
            "type": rule.type,
            "value": rule.value,
            "action": rule.action,
            "reason": rule.reason,
            "enabled": rule.enabled,
            "created_at": iso(rule.created_at),
            "created_by": rule.created_by,
            "updated_at": iso(rule.updated_at),
            "version": rule.version,
        }


def _rule_of(item: dict[str, Any]) -> GeoRule:
    return GeoRule(
        id=item["id"],
        type=item["type"],
        value=item["value"],
        action=item["action"],
        reason=item.get("reason", ""),
        enabled=bool(item.get("enabled", True)),
        created_at=parse_time(item["created_at"]),
        created_by=item.get("created_by"),
        updated_at=parse_time(item["updated_at"]) if item.get("updated_at") else None,
        version=int(item.get("version", 1)),
    )


class GeoBlocking:
    """Manages the rules, answers ingest's `evaluate` from a briefly cached rule book, counts matches."""

    def __init__(self, store: GeoRuleStore, counters: CounterStore, clock: Clock, cache_seconds: float = 30.0) -> None:
        self._store = store
        self._counters = counters
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._book: tuple[RuleBook, datetime] | None = None

    # rules
    def rules(self) -> list[GeoRule]:
        """Every rule, oldest first."""
        return self._store.list()

    def rule(self, rule_id: str) -> GeoRule:
        found = self._store.get(rule_id)
        if found is None:
            raise NotFoundError(f"Geoblocking rule {rule_id} not found")
        return found

    def create(
        self,
        rule_type: RuleType,
        value: object,
        action: RuleAction,
        *,
        reason: str = "",
        enabled: bool = True,
        actor: str | None = None,
    ) -> GeoRule:
        """Add a rule; a second rule for the same country or AS number is a `ConflictError`."""
        rule = GeoRule(
            id=time_ordered_id(self._clock.now()),
            type=rule_type,
            value=normalise_value(rule_type, value),
            action=action,
            reason=reason,
            enabled=enabled,
            created_at=self._clock.now(),
            created_by=actor,
        )
        self._store.create(rule)
        self._book = None
        return rule

    def update(self, rule_id: str, changes: dict[str, Any]) -> GeoRule:
        """Change a rule's type, value, action, reason or enabled flag."""
        old = self.rule(rule_id)
        values = {key: value for key, value in changes.items() if value is not None}
        rule_type = values.get("type", old.type)
        if "value" in values or rule_type != old.type:
            values["value"] = normalise_value(rule_type, values.get("value", old.value))
        new = replace(old, **values, updated_at=self._clock.now(), version=old.version + 1)
        self._store.save(old, new)
        self._book = None
        return new

    def delete(self, rule_id: str) -> GeoRule:
        rule = self.rule(rule_id)
        try:
            self._store.delete(rule)
        except ConflictError as exc:
            raise NotFoundError(f"Geoblocking rule {rule_id} not found") from exc
        self._book = None
        return rule

    def countries(self, action: RuleAction) -> list[dict[str, Any]]:
        """The countries an enabled rule blocks (or watches), by code."""
        rules = [r for r in self.rules() if r.enabled and r.type == "country" and r.action == action]
        return [
            {
                "code": r.value,
                "name": country_name(r.value),
                "rule_id": r.id,
                "reason": r.reason,
                "created_at": iso(r.created_at),
                "created_by": r.created_by,
            }
            for r in sorted(rules, key=lambda r: r.value)
        ]

    # ingest
    def evaluate(self, geo: GeoInfo | None) -> RuleMatch | None:
        """The rule that applies to a located source (rules at most `cache_seconds` old)."""
        return self._rule_book().match(geo)

    def check(self, geo: GeoInfo | None) -> RuleMatch | None:
        """The rule that applies to `geo` by the stored rules, read now (for people checking a change)."""
        return evaluate(self.rules(), geo)

    def record_match(self, match: RuleMatch, count: int = 1) -> None:
        """Count `count` events that `match`'s rule applied to, today."""
        self._count(match.rule.id, count)

    def record_matches(self, matches: Iterable[RuleMatch | None]) -> None:
        """Count a batch of evaluations: one counter write per rule, however many events it matched."""
        per_rule = Counter(match.rule.id for match in matches if match is not None)
        for rule_id, count in per_rule.items():
            self._count(rule_id, count)

    def stats(self) -> dict[str, Any]:
        """Rules by type, action and state; matches today and over the last seven days, per rule and action."""
        rules = self.rules()
        today = self._clock.now().date()
        days = [(today - timedelta(days=back)).isoformat() for back in range(STATS_DAYS)]
        keys = [(f"GEOMATCH#{r.id}", day) for r in rules for day in days]
        found = self._counters.get_many(keys) if keys else {}
        per_rule = []
        by_action: Counter[str] = Counter()
        for rule in rules:
            counts = [int(found.get((f"GEOMATCH#{rule.id}", day), {}).get("n", 0)) for day in days]
            by_action[rule.action] += sum(counts)
            per_rule.append(
                {
                    "id": rule.id,
                    "type": rule.type,
                    "value": rule.value,
                    "action": rule.action,
                    "today": counts[0],
                    "last_7_days": sum(counts),
                }
            )
        per_rule.sort(key=lambda r: (-r["last_7_days"], r["value"]))
        return {
            "rules": {
                "total": len(rules),
                "enabled": sum(r.enabled for r in rules),
                "by_type": {t: sum(r.type == t for r in rules) for t in RULE_TYPES},
                "by_action": {a: sum(r.action == a for r in rules) for a in RULE_ACTIONS},
            },
            "matches": {
                "today": sum(r["today"] for r in per_rule),
                "last_7_days": sum(r["last_7_days"] for r in per_rule),
                "by_action": {a: by_action[a] for a in RULE_ACTIONS},
                "top_rules": per_rule[:10],
            },
        }

    def _count(self, rule_id: str, count: int) -> None:
        now = self._clock.now()
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        expires = epoch(day_start + timedelta(days=MATCH_RETENTION_DAYS))
        self._counters.add(f"GEOMATCH#{rule_id}", now.date().isoformat(), by=count, expires=expires)

    def _rule_book(self) -> RuleBook:
        cached = self._book
        now = self._clock.now()
        if cached is not None and (now - cached[1]).total_seconds() < self._cache_seconds:
            return cached[0]
        book = RuleBook(self._store.list())
        self._book = (book, now)
        return book
