"""Scenarios as data: the shipped defaults load, and every kind of mistake is refused with the field it concerns."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.core.errors import InvalidInputError, ValidationFailedError
from chalicelib.detection.scenarios import (
    DEFAULTS_PATH,
    Scenario,
    load_defaults,
    load_file,
    load_scenarios,
    parse_scenario,
    parse_scenarios,
)


def scenario(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "ssh-test",
        "description": "test scenario",
        "filter": {"kinds": ["auth_failure"], "services": ["sshd"]},
        "threshold": {"count": 5},
        "window": "10m",
        "action": "ban",
        "duration": "1h",
    }
    base.update(overrides)
    return base


def problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationFailedError) as caught:
        parse_scenario(data)
    return {p["field"]: p["message"] for p in caught.value.details}


def test_the_shipped_defaults_load_and_cover_the_issue() -> None:
    defaults = {s.name: s for s in load_defaults()}
    assert {
        "ssh-bruteforce",
        "windows-bruteforce",
        "login-failures-threshold",
        "user-enumeration",
        "auth-low-and-slow",
        "waf-attack-burst",
        "ips-port-scan",
        "distributed-bruteforce",
    } <= set(defaults)
    ssh = defaults["ssh-bruteforce"]
    assert (ssh.threshold.count, ssh.window_seconds) == (5, 600)  # fail2ban's sshd jail
    assert defaults["login-failures-threshold"].threshold.count == 10  # seed 002
    slow = defaults["auth-low-and-slow"]
    assert (slow.threshold.count, slow.window_seconds, slow.evaluation) == (20, 86400, "scheduled")
    assert defaults["user-enumeration"].threshold.distinct == "username"
    assert defaults["distributed-bruteforce"].threshold.distinct == "sensor"
    assert set(defaults["windows-bruteforce"].filter.services or ()) == {"rdp", "smb"}
    assert defaults["ips-port-scan"].filter.kinds == ("port_scan",)
    assert defaults["waf-attack-burst"].filter.log_types == ("WAF",)
    assert all(s.filter.count_echoes is False for s in defaults.values())  # pam echoes never double-count


def test_every_default_survives_a_round_trip_through_its_dict() -> None:
    for found in load_defaults():
        assert parse_scenario(found.to_dict()) == found


def test_durations_keep_their_text_and_give_seconds() -> None:
    found = parse_scenario(scenario(window="PT10M", duration=None, recidivism=None))
    assert found.window == "PT10M" and found.window_seconds == 600
    assert found.duration is None and found.duration_seconds is None  # permanent
    assert parse_scenario(scenario(window=600)).window_seconds == 600  # plain seconds


def test_group_by_is_normalised_and_must_hold_the_address() -> None:
    assert parse_scenario(scenario(group_by=["username", "source_ip"])).group_by == ("source_ip", "username")
    assert "group_by" in problems(scenario(group_by=["sensor"]))
    assert "group_by" in problems(scenario(group_by=["source_ip", "source_ip"]))
    assert "group_by.1" in problems(scenario(group_by=["source_ip", "country"]))


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"name": "SSH Brute"}, "name", "slug"),
        ({"name": "-ssh"}, "name", "slug"),
        ({"filter": {"kinds": []}}, "filter.kinds", "at least 1"),
        ({"filter": {"kinds": ["failed_login"]}}, "filter.kinds", "unknown event kinds"),
        ({"filter": {"kinds": ["auth_failure"], "log_types": ["SSH"]}}, "filter.log_types", "unknown log types"),
        ({"filter": {"kinds": ["auth_failure"], "fields": {"country": {"equals": "FR"}}}}, "filter.fields", "unknown"),
        (
            {"filter": {"kinds": ["auth_failure"], "fields": {"fields.x": {"equals": "a", "in": ["b"]}}}},
            "filter.fields.fields.x",
            "exactly one",
        ),
        ({"filter": {"kinds": ["auth_failure"], "colour": "red"}}, "filter.colour", "Extra inputs"),
        ({"threshold": {"count": 0}}, "threshold.count", "greater than or equal to 1"),
        ({"threshold": {"count": 5, "distinct": "password"}}, "threshold.distinct", "unknown event field"),
        ({"window": "soon"}, "window", "is not a TTL"),
        ({"window": "permanent"}, "window", "finite"),
        ({"window": "30s"}, "scenario", "between 1m and 7d"),
        ({"window": "65s"}, "scenario", "multiple of 10 seconds"),
        ({"window": "8d"}, "scenario", "between 1m and 7d"),
        ({"action": "block"}, "action", "'ban', 'pending' or 'alert'"),
        ({"duration": "-1h"}, "duration", "must be positive"),
        ({"severity": "urgent"}, "severity", "'critical'"),
        ({"mitre": ["T1110", "brute"]}, "mitre", "technique ids"),
        ({"evaluation": "hourly"}, "evaluation", "'ingest' or 'scheduled'"),
        ({"reason": "{count} from {address}"}, "reason", "unknown placeholders ['address']"),
        ({"reason": "{count"}, "reason", "not a valid template"),
        ({"recidivism": {"factor": 0.5, "max_duration": "7d"}}, "recidivism.factor", "greater than or equal to 1"),
        ({"recidivism": {"factor": 2, "max_duration": "30m"}}, "scenario", "shorter than duration"),
        ({"action": "alert", "recidivism": {"factor": 2, "max_duration": "7d"}}, "scenario", "alert has no duration"),
        (
            {"group_by": ["source_ip", "username"], "threshold": {"count": 3, "distinct": "username"}},
            "scenario",
            "also in",
        ),
    ],
)
def test_mistakes_are_refused_naming_the_field(overrides: dict[str, Any], field: str, words: str) -> None:
    found = problems(scenario(**overrides))
    assert field in found, found
    assert words in found[field]


def test_a_list_reports_every_bad_scenario_by_position_and_refuses_duplicate_names() -> None:
    with pytest.raises(ValidationFailedError) as caught:
        parse_scenarios([scenario(), scenario(window="1s"), scenario(), "nonsense"])
    fields = [p["field"] for p in caught.value.details]
    assert fields == ["scenarios.1.scenario", "scenarios.2.name", "scenarios.3"]


def test_yaml_text_and_files(tmp_path) -> None:
    text = "scenarios:\n  - name: one\n    description: d\n    filter: {kinds: [port_scan]}\n"
    text += "    threshold: {count: 2}\n    window: 1h\n    action: alert\n"
    assert [s.name for s in load_scenarios(text)] == ["one"]
    bare = (
        "- {name: two, description: d, filter: {kinds: [waf_block]}, threshold: {count: 3}, window: 5m, action: alert}"
    )
    assert load_scenarios(bare)[0].action == "alert"
    path = tmp_path / "s.yaml"
    path.write_text(text)
    assert load_file(path)[0].name == "one"
    with pytest.raises(InvalidInputError, match="not valid YAML"):
        load_scenarios("scenarios: [unclosed")
    with pytest.raises(InvalidInputError, match="must be a list"):
        load_scenarios("scenarios: 3")
    with pytest.raises(InvalidInputError, match="cannot read"):
        load_file(tmp_path / "missing.yaml")


def test_the_defaults_file_documents_each_threshold() -> None:
    text = DEFAULTS_PATH.read_text()
    for found in load_defaults():
        block = text.split(f"- name: {found.name}\n", 1)[1].split("\n  - name:", 1)[0]
        assert "    # " in block, f"{found.name} has no comment saying why its numbers"


def test_scenarios_are_frozen() -> None:
    found: Scenario = load_defaults()[0]
    with pytest.raises(ValueError, match="frozen"):
        found.window = "1m"  # type: ignore[misc]
