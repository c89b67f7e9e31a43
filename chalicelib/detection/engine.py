"""The detector: scenarios applied to batches of events, producing triggers for the decisions service.

`Detector.observe(events)` takes one batch (an ingest request, or a slice of a replayed file): each event is
sorted by kind first (a dictionary lookup; most events concern no scenario), then checked against each
scenario of that kind, grouped by the scenario's key, and the batch is handed to the windows in one call, so
DynamoDB sees one update per key per batch. A key that reaches its threshold triggers once: the windows'
`claim` holds it for a cooldown (until its ban would have expired, and at least a window plus a bucket, so the
events that triggered cannot trigger again) and a second container that reaches the same threshold is refused.

`evaluation: scheduled` scenarios are only counted here; `Detector.sweep(now)`, run by the minute schedule,
evaluates the keys counted since the last sweep. Recidivism is not applied here: a trigger carries the base
duration and the scenario's recidivism settings, and the decisions service, which knows the address's earlier
bans, computes the ban time (`decisions.ttl.recidivism_ttl`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from chalicelib.core.clock import EPOCH, Clock, iso
from chalicelib.detection.scenarios import ECHO_SOURCES, FieldMatch, Scenario
from chalicelib.detection.windows import Claim, Counted, Key, Reached, Windows, WindowSpec, bucket_seconds
from chalicelib.events.model import INFO, Event

TEXT_ATTRIBUTES = frozenset(
    {"username", "hostname", "service", "kind", "log_type", "severity", "rule_id", "uri", "message"}
)
SHAPE_FIELDS = frozenset({"kind", "service", "log_type"})  # with `fields.*`: what an event's memoised shape holds
MEMO_SIZE = 4096
PERMANENT_HOLD_SECONDS = 30 * 86400  # how long a permanent ban's trigger holds its key (a claim needs an end)

ValueOf = Callable[[Event], str | None]


@dataclass(frozen=True, slots=True)
class Trigger:
    """A scenario's threshold reached by one group key: what the decisions service turns into a decision."""

    scenario: str
    action: str  # ban | pending | alert
    source_ip: str
    key: tuple[str | None, ...]  # the group key's values, in group_by order (source_ip, sensor, username)
    sensor: str | None
    username: str | None
    count: int
    distinct: int | None
    first_seen: datetime
    last_seen: datetime
    at: datetime
    duration_seconds: int | None  # the base duration; None = permanent
    recidivism_factor: float  # 1.0: no growth
    recidivism_max_seconds: int | None
    severity: str
    mitre: tuple[str, ...]
    reason: str
    sample: tuple[str, ...]  # up to five raw lines

    @property
    def recidivism(self) -> tuple[int, float, int] | None:
        """(base seconds, factor, max seconds), as `BanRequest.recidivism` takes it; None when the ban cannot grow."""
        if self.duration_seconds is None or self.recidivism_max_seconds is None:
            return None
        return self.duration_seconds, self.recidivism_factor, self.recidivism_max_seconds

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "scenario": self.scenario,
            "action": self.action,
            "ip": self.source_ip,
            "key": list(self.key),
            "sensor": self.sensor,
            "username": self.username,
            "count": self.count,
            "distinct": self.distinct,
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "at": iso(self.at),
            "duration_seconds": self.duration_seconds,
            "recidivism": {"factor": self.recidivism_factor, "max_seconds": self.recidivism_max_seconds},
            "severity": self.severity,
            "mitre": list(self.mitre),
            "reason": self.reason,
            "sample": list(self.sample),
        }


class _Rule:
    """A scenario compiled: its window spec, its cooldown, and the filter group that selects its events."""

    __slots__ = ("cooldown", "group", "scenario", "spec")

    def __init__(self, scenario: Scenario, group: _Group) -> None:
        distinct = scenario.threshold.distinct
        self.scenario = scenario
        self.group = group
        self.spec = WindowSpec(
            name=scenario.name,
            window_seconds=scenario.window_seconds,
            threshold=scenario.threshold.count,
            distinct=None if distinct is None else _value_of(distinct, group.sensor),
            scheduled=scenario.evaluation == "scheduled",
            hold_seconds=cooldown_seconds(scenario),
        )
        self.cooldown = timedelta(seconds=self.spec.hold_seconds)


class _Group:
    """The scenarios that share a filter and a group key: each event is checked and keyed once for all of them.

    The shipped login scenarios (threshold, enumeration, low-and-slow, cross-sensor) share one filter, so an
    auth failure costs one check and one dictionary append, not four. The checks come in two parts: `static`
    ones read only what `Detector` memoises an event's verdict on (kind, service, log type, the `fields`
    mapping), `dynamic` ones read anything else (sensor, user name, status...) and run per event.
    """

    __slots__ = (
        "dynamic",
        "echoes",
        "index",
        "ip_only",
        "key_of",
        "log_types",
        "per_event",
        "per_shape",
        "rules",
        "sensor",
        "sensor_of",
        "sensors",
        "services",
    )

    def __init__(self, scenario: Scenario, sensor: str | None, index: int) -> None:
        rules = scenario.filter
        self.index = index
        self.sensor = sensor
        self.services = frozenset(rules.services) if rules.services else None
        self.log_types = frozenset(rules.log_types) if rules.log_types else None
        self.sensors = frozenset(rules.sensors) if rules.sensors else None
        self.echoes = rules.count_echoes
        checks = [(name, _value_of(name, sensor), match) for name, match in rules.fields.items()]
        self.per_shape = tuple((read, match) for name, read, match in checks if _of_shape(name))
        self.per_event = tuple((read, match) for name, read, match in checks if not _of_shape(name))
        self.dynamic = bool(self.per_event) or self.sensors is not None
        self.sensor_of = _value_of("sensor", sensor)
        self.ip_only = scenario.group_by == ("source_ip",)
        self.key_of = _key_of(scenario.group_by, sensor)
        self.rules: list[_Rule] = []

    def static(self, event: Event) -> bool:
        """The checks that depend only on the event's shape (service, log type, `fields`)."""
        if self.services is not None and event.service not in self.services:
            return False
        if self.log_types is not None and event.log_type not in self.log_types:
            return False
        if not self.echoes and event.fields and event.fields.get("source") in ECHO_SOURCES:
            return False
        return all(_matches(match, read(event)) for read, match in self.per_shape)

    def per_event_checks(self, event: Event) -> bool:
        """The checks on what varies from event to event (sensor, user name, status, ...)."""
        if self.sensors is not None and self.sensor_of(event) not in self.sensors:
            return False
        return all(_matches(match, read(event)) for read, match in self.per_event)

    def accepts(self, event: Event) -> bool:
        """The whole filter beyond the kind."""
        return self.static(event) and (not self.dynamic or self.per_event_checks(event))


def cooldown_seconds(scenario: Scenario) -> int:
    """How long a triggered key stays quiet: its window plus a bucket, and for bans until the ban would end."""
    quiet = scenario.window_seconds + bucket_seconds(scenario.window_seconds)
    if scenario.action == "alert":
        return quiet
    duration = scenario.duration_seconds
    return max(quiet, PERMANENT_HOLD_SECONDS if duration is None else duration)


class Detector:
    """Applies scenarios to batches of events; `windows` decides where the counts live."""

    def __init__(
        self, scenarios: Sequence[Scenario], windows: Windows, clock: Clock, *, sensor: str | None = None
    ) -> None:
        """`sensor`: the sensor of events that carry none (replay's `--sensor`); ingest stamps events itself."""
        self._windows = windows
        self._clock = clock
        groups: dict[tuple[str, tuple[str, ...]], _Group] = {}
        self._rules: dict[str, _Rule] = {}
        for scenario in scenarios:
            if not scenario.enabled:
                continue
            identity = (scenario.filter.model_dump_json(), scenario.group_by)
            group = groups.get(identity)
            if group is None:
                group = groups[identity] = _Group(scenario, sensor, len(groups))
            rule = _Rule(scenario, group)
            group.rules.append(rule)
            self._rules[scenario.name] = rule
        self._groups = tuple(groups.values())
        by_kind: dict[str, list[_Group]] = {}
        for group in self._groups:
            for kind in group.rules[0].scenario.filter.kinds:
                by_kind.setdefault(kind, []).append(group)
        self._by_kind = {kind: tuple(found) for kind, found in by_kind.items()}
        self._scheduled = tuple(rule.spec for rule in self._rules.values() if rule.spec.scheduled)
        self._memo: dict[tuple[str, str, str, int], tuple[object, tuple[_Group, ...]]] = {}

    @property
    def scenarios(self) -> tuple[Scenario, ...]:
        """The enabled scenarios, in the order given."""
        return tuple(rule.scenario for rule in self._rules.values())

    def counts(self, kind: str, service: str, log_type: str, fields: Mapping[str, str] | None = None) -> bool:
        """Whether some scenario may count an event of this shape (its kind, service, log type and `fields`, what
        the filters check before the event's own values); without `fields`, whether one counts the kind at all.
        Replay's bulk parser builds only the events that may be counted."""
        groups = self._by_kind.get(kind, ())
        if fields is None or not groups:
            return bool(groups)
        # A stand-in of that shape: the static checks read nothing else.
        shape = Event(EPOCH, "", kind, service, log_type, INFO, fields=fields)
        return any(group.static(shape) for group in groups)

    def counted(self, events: Iterable[Event]) -> Iterator[Event]:
        """The events of a shape some scenario counts: what replay reports as its events, whichever path parsed
        them."""
        return (event for event in events if self._groups_of(event))

    def observe(self, events: Sequence[Event]) -> list[Trigger]:
        """Count one batch; the triggers of ingest-evaluated scenarios it completed, in time order."""
        batches, ordered = self._group(events)
        counted = []
        for group, keys in zip(self._groups, batches, strict=True):
            if keys is None:
                continue
            if not ordered:  # the windows read each key's events in time order
                for found in keys.values():
                    found.sort(key=_time)
            counted += [Counted(rule.spec, keys) for rule in group.rules]
        if not counted:
            return []
        return self._triggers(self._windows.record(counted))

    def _group(self, events: Sequence[Event]) -> tuple[list[dict[Key, list[Event]] | None], bool]:
        """Each filter group's events per key, and whether the counted events came in time order."""
        # Replay's hot loop. Per event: the groups whose static checks it passes (a memo lookup on its shape);
        # per such group, one key and one list append.
        batches: list[dict[Key, list[Event]] | None] = [None] * len(self._groups)
        groups_of = self._groups_of
        last: datetime | None = None
        ordered = True
        for event in events:
            groups = groups_of(event)
            if not groups:
                continue
            time = event.time
            if last is not None and time < last:
                ordered = False
            last = time
            for group in groups:
                if group.dynamic and not group.per_event_checks(event):
                    continue
                key = event.source_ip if group.ip_only else group.key_of(event)
                keys = batches[group.index]
                if keys is None:
                    batches[group.index] = {key: [event]}
                    continue
                found = keys.get(key)
                if found is None:
                    keys[key] = [event]
                else:
                    found.append(event)
        return batches, ordered

    def _groups_of(self, event: Event) -> tuple[_Group, ...]:
        """The groups whose static checks `event` passes; none, after one set lookup, for a kind no scenario counts
        (probes, successes)."""
        if event.kind not in self._by_kind:
            return ()
        shape = self._memo.get((event.kind, event.service, event.log_type, id(event.fields)))
        return shape[1] if shape is not None else self._classify(event)

    def _classify(self, event: Event) -> tuple[_Group, ...]:
        """The groups whose static checks `event` passes, memoised on its shape."""
        if len(self._memo) >= MEMO_SIZE:
            self._memo.clear()  # events posted as JSON each bring their own `fields`: keep the memo bounded
        groups = tuple(group for group in self._by_kind.get(event.kind, ()) if group.static(event))
        # The memo keeps the `fields` mapping alive, so its id() cannot be reused by another while memoised.
        self._memo[(event.kind, event.service, event.log_type, id(event.fields))] = (event.fields, groups)
        return groups

    def sweep(self, now: datetime | None = None) -> list[Trigger]:
        """Evaluate the scheduled scenarios at `now` (the clock's time by default): the minute schedule's work."""
        if not self._scheduled:
            return []
        at = self._clock.now() if now is None else now
        return self._triggers(self._windows.sweep(self._scheduled, at))

    def matches(self, event: Event) -> list[tuple[str, Key]]:
        """The scenarios that count `event`, with its key in each (replay's `--explain`)."""
        return [
            (rule.scenario.name, event.source_ip if group.ip_only else group.key_of(event))
            for group in self._by_kind.get(event.kind, ())
            if group.accepts(event)
            for rule in group.rules
        ]

    def _triggers(self, reached: list[Reached]) -> list[Trigger]:
        hits = sorted(reached, key=_at)
        claims = [Claim(hit.scenario, hit.key, hit.at, hit.at + self._rules[hit.scenario].cooldown) for hit in hits]
        granted = self._windows.claim_all(claims)
        return [_trigger(self._rules[hit.scenario].scenario, hit) for hit, ok in zip(hits, granted, strict=True) if ok]


def _at(hit: Reached) -> datetime:
    return hit.at


def _time(event: Event) -> datetime:
    return event.time


def _of_shape(name: str) -> bool:
    """Whether a field is part of an event's memoised shape (`Detector._classify`)."""
    return name in SHAPE_FIELDS or name.startswith("fields.")


def _trigger(scenario: Scenario, hit: Reached) -> Trigger:
    parts = (hit.key,) if isinstance(hit.key, str) else hit.key
    values = dict(zip(scenario.group_by, parts, strict=True))
    source_ip = str(values["source_ip"])
    services = sorted({event.service for event in hit.sample}) or list(scenario.filter.services or ())
    recidivism = scenario.recidivism
    template = scenario.reason or _default_reason(scenario)
    reason = template.format(
        count=hit.count,
        distinct=hit.distinct if hit.distinct is not None else hit.count,
        field=scenario.threshold.distinct or "events",
        window=scenario.window,
        ip=source_ip,
        service=",".join(services) or "any",
        sensor=values.get("sensor") or "-",
        username=values.get("username") or "-",
    )
    return Trigger(
        scenario=scenario.name,
        action=scenario.action,
        source_ip=source_ip,
        key=tuple(parts),
        sensor=values.get("sensor"),
        username=values.get("username"),
        count=hit.count,
        distinct=hit.distinct,
        first_seen=hit.first_seen,
        last_seen=hit.last_seen,
        at=hit.at,
        duration_seconds=None if scenario.action == "alert" else scenario.duration_seconds,
        recidivism_factor=recidivism.factor if recidivism else 1.0,
        recidivism_max_seconds=recidivism.max_seconds if recidivism else None,
        severity=scenario.severity,
        mitre=scenario.mitre,
        reason=reason,
        sample=tuple(event.raw for event in hit.sample if event.raw),
    )


def _default_reason(scenario: Scenario) -> str:
    if scenario.threshold.distinct:
        return "{distinct} distinct {field} values in {window} from {ip} ({service})"
    return "{count} events in {window} from {ip} ({service})"


def _value_of(name: str, sensor: str | None) -> ValueOf:
    """A reader of one event field as text (None when absent); `sensor` stands in for events without one."""
    if name == "sensor":
        return lambda event: event.sensor or sensor
    if name.startswith("fields."):
        extra = name[len("fields.") :]
        return lambda event: event.fields.get(extra)
    if name in TEXT_ATTRIBUTES:
        return attrgetter(name)  # already text or None: no conversion on the hot path

    def read(event: Event) -> str | None:
        value = getattr(event, name)
        return None if value is None else str(value)

    return read


def _key_of(group_by: tuple[str, ...], sensor: str | None) -> Callable[[Event], Key]:
    readers = tuple(_value_of(name, sensor) if name != "source_ip" else None for name in group_by)

    def key(event: Event) -> Key:
        return tuple(event.source_ip if read is None else read(event) for read in readers)

    return key


def _matches(match: FieldMatch, value: str | None) -> bool:
    if match.equals is not None:
        return value == match.equals
    if match.in_ is not None:
        return value in match.in_
    if match.not_equals is not None:
        return value != match.not_equals
    if match.not_in is not None:
        return value not in match.not_in
    return (value is not None) == match.present
