"""Scenarios: detection rules as data, validated once, so the API, the defaults file and replay speak one schema.

A scenario says which events count (`filter`), how they are grouped (`group_by`: always the source address,
optionally per sensor or per target user name), what must be reached within which window (`threshold`: a
number of events, or a number of distinct values of a field), and what follows: a `ban`, a `pending` ban for a
person to approve, or an `alert`, with a duration and fail2ban-style recidivism (`bantime.increment`,
`bantime.factor`, `bantime.maxtime`). The shipped defaults live in `defaults/scenarios.yaml`; the API stores
edited copies in the same shape.

Echo lines are never counted twice. sshd logs one refused password twice: its own `Failed password` line and
pam_unix's `authentication failure; ... rhost=` line. The parser tags the second `fields.source = "pam"`;
such an echo is skipped by every scenario unless its filter sets `count_echoes: true` (a scenario for hosts
that log only through PAM). fail2ban's sshd filter does the same (its pam_unix pattern is `F-NOFAIL`).

Windows are TTL-grammar durations (`10m`, `24h`) that are whole multiples of ten seconds, because the
DynamoDB counters split a window into ten equal buckets (see `windows.py`).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from chalicelib.core.errors import FieldProblem, InvalidInputError, ValidationFailedError
from chalicelib.decisions.ttl import parse_ttl
from chalicelib.events.model import KINDS, LOG_TYPES

DEFAULTS_PATH = Path(__file__).parent / "defaults" / "scenarios.yaml"

GROUP_FIELDS = ("source_ip", "sensor", "username")  # also the order of a group key's parts
ACTIONS = ("ban", "pending", "alert")
ECHO_SOURCES = frozenset({"pam"})  # `fields.source` values that repeat a fact another line reports

MIN_WINDOW_SECONDS = 60
MAX_WINDOW_SECONDS = 7 * 86400  # a week: longer windows belong to reports, not to counters
MAX_THRESHOLD = 100_000

# Event attributes a filter or a distinct threshold may name; extras are written `fields.<key>`.
EVENT_ATTRIBUTES = frozenset(
    {
        "username",
        "hostname",
        "sensor",
        "service",
        "kind",
        "log_type",
        "severity",
        "rule_id",
        "uri",
        "http_status",
        "target_port",
        "source_port",
        "message",
    }
)
REASON_PLACEHOLDERS = frozenset({"count", "distinct", "field", "window", "ip", "service", "sensor", "username"})

_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_TECHNIQUE = re.compile(r"T\d{4}(?:\.\d{3})?")
_FIELD_NAME = re.compile(r"fields\.[A-Za-z0-9_.-]{1,64}")


def check_field_name(name: str) -> str:
    """`name` if it is an event attribute or `fields.<key>`; ValueError (for pydantic to report) otherwise."""
    if name in EVENT_ATTRIBUTES or _FIELD_NAME.fullmatch(name):
        return name
    raise ValueError(f"unknown event field {name!r}: use one of {sorted(EVENT_ATTRIBUTES)} or fields.<key>")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FieldMatch(_Model):
    """One condition on an event field: exactly one of `equals`, `in`, `not_equals`, `not_in`, `present`.

    Values compare as text (`http_status: {in: ["401", "403"]}`). An absent field equals nothing, so `equals`
    and `in` are false for it and `not_equals` and `not_in` true.
    """

    equals: str | None = None
    in_: tuple[str, ...] | None = Field(None, alias="in", min_length=1)
    not_equals: str | None = None
    not_in: tuple[str, ...] | None = Field(None, min_length=1)
    present: bool | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> FieldMatch:
        given = [
            name for name in ("equals", "in_", "not_equals", "not_in", "present") if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError("give exactly one of equals, in, not_equals, not_in, present")
        return self


class ScenarioFilter(_Model):
    """Which events count. Lists are alternatives (any of), the parts together all apply."""

    kinds: tuple[str, ...] = Field(min_length=1)
    services: tuple[str, ...] | None = Field(None, min_length=1)
    log_types: tuple[str, ...] | None = Field(None, min_length=1)
    sensors: tuple[str, ...] | None = Field(None, min_length=1)
    fields: dict[str, FieldMatch] = Field(default_factory=dict)
    count_echoes: bool = False  # count lines that repeat another line's fact (pam_unix after sshd)

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(kinds) - KINDS)
        if unknown:
            raise ValueError(f"unknown event kinds {unknown}: use {sorted(KINDS)}")
        return tuple(dict.fromkeys(kinds))

    @field_validator("log_types")
    @classmethod
    def _known_log_types(cls, log_types: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if log_types is not None and not set(log_types) <= LOG_TYPES:
            raise ValueError(f"unknown log types {sorted(set(log_types) - LOG_TYPES)}: use {sorted(LOG_TYPES)}")
        return log_types

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, fields: dict[str, FieldMatch]) -> dict[str, FieldMatch]:
        for name in fields:
            check_field_name(name)
        return fields


class Threshold(_Model):
    """`count: N`: N events; with `distinct: <field>`, N distinct values of that field (user names, sensors)."""

    count: int = Field(ge=1, le=MAX_THRESHOLD)
    distinct: str | None = None

    @field_validator("distinct")
    @classmethod
    def _known_field(cls, name: str | None) -> str | None:
        return None if name is None else check_field_name(name)


class Recidivism(_Model):
    """fail2ban's `bantime.increment`: each earlier ban multiplies the duration by `factor`, up to `max_duration`."""

    factor: float = Field(ge=1.0, le=1000.0)
    max_duration: str

    @field_validator("max_duration", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return _ttl_text(value, allow_permanent=False)

    @cached_property
    def max_seconds(self) -> int:
        return _seconds(self.max_duration)


class Scenario(_Model):
    """A detection rule. `window` and `duration` use the TTL grammar (`90s`, `10m`, `24h`, `7d`, `P1D`)."""

    name: str
    description: str = Field(min_length=1, max_length=1000)
    enabled: bool = True
    filter: ScenarioFilter
    group_by: tuple[Literal["source_ip", "sensor", "username"], ...] = ("source_ip",)
    threshold: Threshold
    window: str
    action: Literal["ban", "pending", "alert"]
    duration: str | None = None  # None: permanent (for alerts: unused)
    recidivism: Recidivism | None = None
    severity: Literal["critical", "high", "medium", "low", "info"] = "medium"
    mitre: tuple[str, ...] = ()
    evaluation: Literal["ingest", "scheduled"] = "ingest"
    reason: str | None = None  # a template: {count} {distinct} {field} {window} {ip} {service} {sensor} {username}

    @field_validator("name")
    @classmethod
    def _slug(cls, name: str) -> str:
        if not _SLUG.fullmatch(name):
            raise ValueError("a scenario name is a slug: lower-case letters, digits and dashes, at most 63")
        return name

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, parts: tuple[str, ...]) -> tuple[str, ...]:
        if "source_ip" not in parts:
            raise ValueError("group_by must contain source_ip: decisions are about addresses")
        if len(set(parts)) != len(parts):
            raise ValueError("group_by names a field twice")
        return tuple(field for field in GROUP_FIELDS if field in parts)

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, value: object) -> object:
        return _ttl_text(value, allow_permanent=False)

    @field_validator("duration", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return _ttl_text(value, allow_permanent=True)

    @field_validator("mitre")
    @classmethod
    def _techniques(cls, ids: tuple[str, ...]) -> tuple[str, ...]:
        wrong = [technique for technique in ids if not _TECHNIQUE.fullmatch(technique)]
        if wrong:
            raise ValueError(f"not ATT&CK technique ids (T1110, T1110.001): {wrong}")
        return ids

    @field_validator("reason")
    @classmethod
    def _template(cls, template: str | None) -> str | None:
        if template is None:
            return None
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
        except ValueError as exc:
            raise ValueError(f"reason is not a valid template: {exc}") from exc
        unknown = sorted(names - REASON_PLACEHOLDERS)
        if unknown:
            raise ValueError(f"reason uses unknown placeholders {unknown}: use {sorted(REASON_PLACEHOLDERS)}")
        return template

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        seconds = self.window_seconds
        if not MIN_WINDOW_SECONDS <= seconds <= MAX_WINDOW_SECONDS:
            raise ValueError(f"window must be between 1m and 7d, got {self.window!r}")
        if seconds % 10:
            raise ValueError(f"window must be a whole multiple of 10 seconds (ten equal buckets), got {self.window!r}")
        distinct = self.threshold.distinct
        if distinct is not None and distinct in self.group_by:
            raise ValueError(f"threshold.distinct {distinct!r} is also in group_by: each group has one value of it")
        if self.action == "alert" and self.recidivism is not None:
            raise ValueError("an alert has no duration to grow: remove recidivism or use ban/pending")
        duration = self.duration_seconds
        if self.recidivism is not None and duration is not None and self.recidivism.max_seconds < duration:
            raise ValueError("recidivism.max_duration is shorter than duration")
        return self

    @cached_property
    def window_seconds(self) -> int:
        return _seconds(self.window)

    @cached_property
    def duration_seconds(self) -> int | None:
        return None if self.duration is None else parse_ttl(self.duration)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, the shape the YAML and the API use."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _ttl_text(value: object, *, allow_permanent: bool) -> object:
    """Check a duration with the TTL grammar, keep its text (what the user wrote is what the API shows)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = f"{value}s"
    if not isinstance(value, str):
        if value is None and allow_permanent:
            return None
        raise ValueError("give a duration such as '10m', '24h' or '7d'")
    try:
        seconds = parse_ttl(value)
    except InvalidInputError as exc:
        raise ValueError(exc.message) from exc
    if seconds is None:
        if not allow_permanent:
            raise ValueError("must be a finite duration, not permanent")
        return None
    return value.strip()


def _seconds(text: str) -> int:
    seconds = parse_ttl(text)
    if seconds is None:  # refused by the validators; a guard, not a path
        raise InvalidInputError(f"{text!r} is not a finite duration")
    return seconds


def parse_scenario(data: Mapping[str, Any]) -> Scenario:
    """A scenario from plain data; `ValidationFailedError` names each bad field (`threshold.count`)."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailedError(_problems(exc), "invalid scenario") from exc


def parse_scenarios(items: Iterable[Mapping[str, Any]]) -> tuple[Scenario, ...]:
    """Several scenarios; names must be unique. Errors name the scenario's position (`scenarios.2.window`)."""
    problems: list[FieldProblem] = []
    found: list[Scenario] = []
    seen: set[str] = set()
    for position, item in enumerate(items):
        if not isinstance(item, Mapping):
            problems.append(FieldProblem(f"scenarios.{position}", "a scenario is a mapping"))
            continue
        try:
            scenario = Scenario.model_validate(item)
        except ValidationError as exc:
            problems += [FieldProblem(f"scenarios.{position}.{p.field}", p.message) for p in _problems(exc)]
            continue
        if scenario.name in seen:
            problems.append(FieldProblem(f"scenarios.{position}.name", f"duplicate scenario name {scenario.name!r}"))
        seen.add(scenario.name)
        found.append(scenario)
    if problems:
        raise ValidationFailedError(problems, "invalid scenarios")
    return tuple(found)


def load_scenarios(text: str) -> tuple[Scenario, ...]:
    """Scenarios from YAML (or JSON) text: a `scenarios:` list, or a bare list."""
    try:
        document = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - safe loader
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"scenarios are not valid YAML: {exc}") from exc
    items = document.get("scenarios") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise InvalidInputError("scenarios must be a list, or a mapping with a 'scenarios' list")
    return parse_scenarios(items)


def load_file(path: str | Path) -> tuple[Scenario, ...]:
    """Scenarios from a YAML file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot read scenarios from {path}: {exc.strerror}") from exc
    return load_scenarios(text)


def load_defaults() -> tuple[Scenario, ...]:
    """The shipped scenarios (`defaults/scenarios.yaml`)."""
    return load_file(DEFAULTS_PATH)


def _problems(exc: ValidationError) -> list[FieldProblem]:
    problems = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"]) or "scenario"
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(FieldProblem(location, message))
    return problems
