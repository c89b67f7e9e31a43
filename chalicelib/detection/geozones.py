"""Geo zones (seed 000, D2B v2): how the country an attack comes from changes what a scenario decides.

Each country is authorized (where the organisation's own people and partners are), hostile (where nobody
legitimate connects from) or neutral. A scenario hit from a hostile country is banned at once; a ban a scenario
issues against an authorized country becomes a pending ban that a person approves, since a false positive there
locks out a colleague; a neutral country follows the scenario.

`classify` and `decide` are pure; `GeoZones` keeps the configuration in the entities table (one item,
`CONFIG#geozone`, written with an optimistic version check) and caches it briefly for ingest, which asks on
every scenario hit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, get_args

from chalicelib.core.clock import Clock, iso, parse_time
from chalicelib.core.dynamo import DynamoTable
from chalicelib.core.errors import ConflictError, FieldProblem, ValidationFailedError
from chalicelib.intel.countries import COUNTRIES, country_name, normalise_country

Zone = Literal["authorized", "hostile", "neutral"]
Action = Literal["ban", "pending", "alert"]
ZONES: tuple[str, ...] = get_args(Zone)
ACTIONS: tuple[str, ...] = get_args(Action)
LISTED_ZONES = ("authorized", "hostile")
"""The zones a country is put in by name; every other country is in the configuration's `default` zone."""


@dataclass(frozen=True)
class GeoZoneConfig:
    """The geo-zone policy. `default` is the zone of every country in neither list."""

    enabled: bool = True
    authorized: frozenset[str] = frozenset()
    hostile: frozenset[str] = frozenset()
    default: Zone = "neutral"
    pending_for_authorized: bool = True
    ban_hostile_immediately: bool = True
    version: int = 0
    updated_at: datetime | None = None
    updated_by: str | None = None

    def listed(self, zone: str) -> frozenset[str]:
        return self.authorized if zone == "authorized" else self.hostile

    def as_dict(self) -> dict[str, Any]:
        """The configuration as the API shows it (lists sorted)."""
        return {
            "enabled": self.enabled,
            "authorized": sorted(self.authorized),
            "hostile": sorted(self.hostile),
            "default": self.default,
            "pending_for_authorized": self.pending_for_authorized,
            "ban_hostile_immediately": self.ban_hostile_immediately,
            "updated_at": iso(self.updated_at),
            "updated_by": self.updated_by,
        }


@dataclass(frozen=True)
class ZoneVerdict:
    """What the geo zone made of a scenario's action: `action` is final, `scenario_action` what was asked."""

    country: str | None
    zone: Zone
    scenario_action: Action
    action: Action

    @property
    def changed(self) -> bool:
        return self.action != self.scenario_action


def classify(config: GeoZoneConfig, country_code: str | None) -> Zone:
    """The zone of a country; an address without a known country is neutral (no geography, no opinion)."""
    if not country_code:
        return "neutral"
    code = country_code.upper()
    if code in config.hostile:
        return "hostile"
    if code in config.authorized:
        return "authorized"
    return config.default


def decide(config: GeoZoneConfig, action: Action, zone: Zone) -> Action:
    """The final action for a scenario's `action` (ban, pending, alert) against an address in `zone`.

    Hostile: every hit bans at once (alerts too) when `ban_hostile_immediately`. Authorized: a ban becomes a
    pending ban when `pending_for_authorized`; pending and alert stay as they are. Neutral, or the policy
    disabled: the scenario's action unchanged.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown scenario action {action!r}; expected one of {', '.join(ACTIONS)}")
    if not config.enabled:
        return action
    if zone == "hostile" and config.ban_hostile_immediately:
        return "ban"
    if zone == "authorized" and config.pending_for_authorized and action == "ban":
        return "pending"
    return action


def effects(config: GeoZoneConfig, zone: Zone) -> dict[str, str]:
    """What each scenario action becomes in `zone` (for the API, so people see the policy's consequence)."""
    return {action: decide(config, action, zone) for action in ACTIONS}  # type: ignore[arg-type]


def normalise_countries(codes: Iterable[str], field: str) -> frozenset[str]:
    """Upper-case ISO codes; every unknown one is reported against `field.<index>`."""
    found: set[str] = set()
    problems = []
    for index, code in enumerate(codes):
        text = code.strip().upper() if isinstance(code, str) else ""
        if text in COUNTRIES:
            found.add(text)
        else:
            problems.append(FieldProblem(f"{field}.{index}", f"{code!r} is not an ISO 3166-1 alpha-2 country code"))
    if problems:
        raise ValidationFailedError(problems)
    return frozenset(found)


def check_disjoint(authorized: frozenset[str], hostile: frozenset[str]) -> None:
    """A country is in one zone: a code in both lists is refused."""
    both = sorted(authorized & hostile)
    if both:
        raise ValidationFailedError(
            [FieldProblem("hostile", f"{', '.join(both)} cannot be both authorized and hostile")]
        )


class GeoZoneStore:
    """The configuration item in the entities table."""

    KEY = {"pk": "CONFIG#geozone", "sk": "CONFIG"}

    def __init__(self, table: DynamoTable) -> None:
        self._t = table

    def load(self) -> GeoZoneConfig:
        item = self._t.get(self.KEY, consistent=True)
        if item is None:
            return GeoZoneConfig()
        return GeoZoneConfig(
            enabled=bool(item.get("enabled", True)),
            authorized=frozenset(item.get("authorized", [])),
            hostile=frozenset(item.get("hostile", [])),
            default=item.get("default", "neutral"),
            pending_for_authorized=bool(item.get("pending_for_authorized", True)),
            ban_hostile_immediately=bool(item.get("ban_hostile_immediately", True)),
            version=int(item.get("version", 0)),
            updated_at=parse_time(item["updated_at"]) if item.get("updated_at") else None,
            updated_by=item.get("updated_by"),
        )

    def save(self, config: GeoZoneConfig, expected_version: int) -> None:
        """Write the configuration if nobody saved another since `expected_version` was read."""
        item = {
            **self.KEY,
            "enabled": config.enabled,
            "authorized": sorted(config.authorized),
            "hostile": sorted(config.hostile),
            "default": config.default,
            "pending_for_authorized": config.pending_for_authorized,
            "ban_hostile_immediately": config.ban_hostile_immediately,
            "version": expected_version + 1,
            "updated_at": iso(config.updated_at),
            "updated_by": config.updated_by,
        }
        if expected_version == 0:
            # Never saved: only the first of two concurrent first writers may create it.
            self._t.put(item, condition="attribute_not_exists(pk)")
        else:
            self._t.put(item, condition="#v = :v", names={"#v": "version"}, values={":v": expected_version})


class GeoZones:
    """Reads and changes the geo-zone policy; ingest asks `verdict` on each scenario hit."""

    ATTEMPTS = 3

    def __init__(self, store: GeoZoneStore, clock: Clock, cache_seconds: float = 30.0) -> None:
        self._store = store
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._cached: tuple[GeoZoneConfig, datetime] | None = None

    def config(self) -> GeoZoneConfig:
        """The stored configuration, read now."""
        config = self._store.load()
        self._cached = (config, self._clock.now())
        return config

    def current(self) -> GeoZoneConfig:
        """The configuration, at most `cache_seconds` old (other containers' changes show within that)."""
        cached = self._cached
        if cached is not None and (self._clock.now() - cached[1]).total_seconds() < self._cache_seconds:
            return cached[0]
        return self.config()

    def zone_of(self, country_code: str | None) -> Zone:
        """The zone of a country by the cached configuration (ingest's question)."""
        return classify(self.current(), country_code)

    def decide(self, action: Action, zone: Zone) -> Action:
        """The final action for a scenario's action in `zone`, by the cached configuration (see `decide`)."""
        return decide(self.current(), action, zone)  # the module-level policy function, not this method

    def verdict(self, action: Action, country_code: str | None) -> ZoneVerdict:
        """The final action for a scenario hit from `country_code` (None when the address has no country)."""
        config = self.current()
        zone = classify(config, country_code)
        return ZoneVerdict(country_code, zone, action, decide(config, action, zone))

    def explain(self, country_code: str | None) -> dict[str, Any]:
        """A country's zone and what each scenario action becomes there, from the stored configuration."""
        config = self.config()
        zone = classify(config, country_code)
        return {
            "country": country_code,
            "country_name": country_name(country_code),
            "zone": zone,
            "enabled": config.enabled,
            "effects": effects(config, zone),
        }

    def update(self, changes: dict[str, Any], actor: str | None) -> GeoZoneConfig:
        """Apply a partial change (`enabled`, `authorized`, `hostile`, `default`, the two flags)."""
        values = {key: value for key, value in changes.items() if value is not None}
        for zone in LISTED_ZONES:
            if values.get(zone) is not None:
                values[zone] = normalise_countries(values[zone], zone)

        def change(config: GeoZoneConfig) -> GeoZoneConfig:
            updated = replace(config, **values)
            check_disjoint(updated.authorized, updated.hostile)
            return updated

        return self._save(change, actor)

    def add_countries(self, zone: str, codes: Iterable[str], actor: str | None) -> tuple[GeoZoneConfig, list[str]]:
        """Put countries in `zone` (taking them out of the other list); returns the config and the codes moved in."""
        _check_listed(zone)
        wanted = frozenset(normalise_country(code) for code in codes)
        other = "hostile" if zone == "authorized" else "authorized"
        added: list[str] = []

        def change(config: GeoZoneConfig) -> GeoZoneConfig:
            added[:] = sorted(wanted - config.listed(zone))
            return replace(config, **{zone: config.listed(zone) | wanted, other: config.listed(other) - wanted})

        return self._save(change, actor), added

    def remove_countries(self, zone: str, codes: Iterable[str], actor: str | None) -> tuple[GeoZoneConfig, list[str]]:
        """Take countries out of `zone` (back to the default zone); codes not in it are ignored."""
        _check_listed(zone)
        unwanted = frozenset(normalise_country(code) for code in codes)
        removed: list[str] = []

        def change(config: GeoZoneConfig) -> GeoZoneConfig:
            removed[:] = sorted(unwanted & config.listed(zone))
            return replace(config, **{zone: config.listed(zone) - unwanted})

        return self._save(change, actor), removed

    def countries(self, zone: str | None = None) -> list[dict[str, str]]:
        """Every country with its name and zone, by code; only those of `zone` if given."""
        config = self.config()
        listed = [
            {"code": code, "name": name, "zone": classify(config, code)} for code, name in sorted(COUNTRIES.items())
        ]
        return [c for c in listed if zone is None or c["zone"] == zone]

    def _save(self, change: Any, actor: str | None) -> GeoZoneConfig:
        """Read, change, write with a version check; a concurrent writer makes it start over (3 tries)."""
        for _ in range(self.ATTEMPTS):
            current = self._store.load()
            updated = replace(change(current), updated_at=self._clock.now(), updated_by=actor)
            try:
                self._store.save(updated, current.version)
            except ConflictError:
                continue  # someone saved in between: apply the change again to what they saved
            saved = replace(updated, version=current.version + 1)
            self._cached = (saved, self._clock.now())
            return saved
        raise ConflictError("The geo-zone configuration keeps changing; try again")


def _check_listed(zone: str) -> None:
    if zone not in LISTED_ZONES:
        raise ValueError(f"countries are listed as authorized or hostile, not {zone!r}")
