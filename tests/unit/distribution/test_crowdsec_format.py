"""Decisions in the CrowdSec Local API's own shape."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.api.compat.crowdsec import go_duration, lapi_decision, numeric_id
from chalicelib.core.clock import FixedClock


def test_go_durations() -> None:
    assert go_duration(3599.6) == "0h59m59s"
    assert go_duration(4 * 3600) == "4h0m0s"
    assert go_duration(-5) == "0h0m0s"


def test_decision_shape() -> None:
    now = FixedClock("2026-11-24T10:00:00Z").now()
    single = lapi_decision(
        "203.0.113.7/32",
        "6f1c6a0e-3f0b-4b59-9d55-6c1c4b8f2a10",
        origin="scenario",
        scenario="ssh-bf",
        until=now + timedelta(hours=4),
        now=now,
    )
    assert single == {
        "duration": "4h0m0s",
        "id": numeric_id("6f1c6a0e-3f0b-4b59-9d55-6c1c4b8f2a10"),
        "origin": "vigil-scenario",
        "scenario": "ssh-bf",
        "scope": "Ip",
        "type": "ban",
        "value": "203.0.113.7",
        "uuid": "6f1c6a0e-3f0b-4b59-9d55-6c1c4b8f2a10",
        "until": "2026-11-24T14:00:00Z",
    }
    network = lapi_decision("198.51.100.0/24", "x", origin="cscli", scenario=None, until=None, now=now)
    assert network["scope"] == "Range" and network["value"] == "198.51.100.0/24" and network["origin"] == "cscli"
    assert network["duration"] == "87600h0m0s", "permanent decisions last ten years"


def test_numeric_ids_are_stable_and_positive() -> None:
    assert numeric_id("6f1c6a0e-3f0b-4b59-9d55-6c1c4b8f2a10") == numeric_id("6f1c6a0e-3f0b-4b59-9d55-6c1c4b8f2a10")
    assert numeric_id("not-a-uuid") > 0
