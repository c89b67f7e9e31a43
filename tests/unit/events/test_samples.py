"""Golden samples: every parser against the log lines in `samples/<format>.log`, fail2ban-style.

Each sample line is preceded by `# expect: {...}`, the event fields parsing it must give (compared with
`Event.to_dict()`; `fields` compares only the keys listed, and a `null` there means the key must be absent), or
`# expect: null` for a line the parser must not report. `# context: {"year": ..., "tz": ..., "hostname": ...}`
changes the parse context for the lines after it. Other `#` lines and blank lines are comments.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib.core.errors import InvalidInputError
from chalicelib.events.model import KINDS, LOG_TYPES, SEVERITIES, Event
from chalicelib.events.parsers import ParseContext
from chalicelib.events.parsers.registry import PARSERS, formats, get_parser, mitre_coverage, rules

SAMPLES = Path(__file__).parent / "samples"
DEFAULT_CONTEXT = {"year": 2026, "tz": "UTC", "hostname": "sensor-host"}
EXPECT = "# expect:"
CONTEXT = "# context:"


@dataclass(frozen=True)
class Sample:
    format: str
    lineno: int
    line: str
    expect: dict[str, Any] | None
    context: ParseContext

    @property
    def id(self) -> str:
        return f"{self.format}:{self.lineno}"


def _context(settings: dict[str, Any]) -> ParseContext:
    return ParseContext(year=settings["year"], tz=ZoneInfo(settings["tz"]), hostname=settings["hostname"])


def load_samples() -> list[Sample]:
    samples: list[Sample] = []
    for path in sorted(SAMPLES.glob("*.log")):
        settings = dict(DEFAULT_CONTEXT)
        pending: tuple[int, Any] | None = None
        for lineno, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if text.startswith(EXPECT):
                if pending is not None:
                    raise ValueError(f"{path.name}:{pending[0]}: expectation without a sample line")
                pending = (lineno, json.loads(text[len(EXPECT) :]))
            elif text.startswith(CONTEXT):
                settings = {**DEFAULT_CONTEXT, **json.loads(text[len(CONTEXT) :])}
            elif text.startswith("#") or not text.strip():
                continue
            else:
                if pending is None:
                    raise ValueError(f"{path.name}:{lineno}: sample line without `# expect:` above it")
                samples.append(Sample(path.stem, lineno, text, pending[1], _context(settings)))
                pending = None
        if pending is not None:
            raise ValueError(f"{path.name}:{pending[0]}: expectation without a sample line")
    return samples


SAMPLE_LIST = load_samples()


@pytest.mark.parametrize("sample", SAMPLE_LIST, ids=[sample.id for sample in SAMPLE_LIST])
def test_sample_parses_as_expected(sample: Sample) -> None:
    event = get_parser(sample.format)(sample.line, sample.context)

    if sample.expect is None:
        assert event is None, f"expected no event, got {event.to_dict() if event else None}"
        return
    assert event is not None, "expected an event, the parser gave None"
    assert {"kind", "source_ip"} <= sample.expect.keys(), "an expectation names at least kind and source_ip"
    actual = event.to_dict()
    for key, expected in sample.expect.items():
        if key == "fields":
            for name, value in expected.items():
                assert actual["fields"].get(name) == value, f"fields[{name!r}]"
        else:
            assert actual[key] == expected, key
    assert event.kind in KINDS
    assert event.log_type in LOG_TYPES
    assert event.severity in SEVERITIES
    assert event.time.utcoffset() is not None and event.time.utcoffset().total_seconds() == 0
    assert event.sensor is None, "the sensor is ingest's to set"
    assert event.raw
    assert Event.from_dict(event.to_dict()) == event


def test_every_format_has_samples_that_match_and_samples_that_do_not() -> None:
    for name in formats():
        own = [sample for sample in SAMPLE_LIST if sample.format == name]
        assert sum(sample.expect is not None for sample in own) >= 6, name
        assert sum(sample.expect is None for sample in own) >= 2, name


def test_declared_kinds_are_exactly_the_kinds_the_samples_produce() -> None:
    for name, info in PARSERS.items():
        produced = {sample.expect["kind"] for sample in SAMPLE_LIST if sample.format == name and sample.expect}
        assert produced == set(info.kinds), name


def test_declarations_use_the_event_vocabulary() -> None:
    for name, info in PARSERS.items():
        assert set(info.kinds) <= KINDS, name
        assert set(info.log_types) <= LOG_TYPES, name
        assert set(info.mitre) <= set(info.kinds), name
        assert info.rules, name
        assert {rule.kind for rule in info.rules} <= set(info.kinds), name
    assert {row["technique"] for row in mitre_coverage()} >= {"T1110", "T1110.001", "T1190", "T1595", "T1046"}
    assert {rule["format"] for rule in rules()} == set(PARSERS)
    assert all(rule["kind"] in KINDS and rule["pattern"] for rule in rules())


def test_an_unknown_format_is_refused_with_the_known_ones() -> None:
    with pytest.raises(InvalidInputError) as caught:
        get_parser("iis")

    assert caught.value.details["formats"] == list(formats())


def test_a_windows_record_parses_the_same_as_a_dict_and_as_a_json_line() -> None:
    lines = [s for s in SAMPLE_LIST if s.format == "windows-4625" and s.expect is not None]
    parse = get_parser("windows-4625")
    for sample in lines:
        from_line = parse(sample.line, sample.context)
        from_dict = parse(json.loads(sample.line), sample.context)
        assert from_line is not None and from_dict is not None
        assert from_dict.to_dict() | {"raw": ""} == from_line.to_dict() | {"raw": ""}
