"""The geo-zone policy: which zone a country is in, and what each zone makes of a scenario's action."""

from __future__ import annotations

import pytest

from chalicelib.core.errors import InvalidInputError, ValidationFailedError
from chalicelib.detection.geozones import (
    GeoZoneConfig,
    check_disjoint,
    classify,
    decide,
    effects,
    normalise_countries,
)
from chalicelib.intel.countries import COUNTRIES, country_name, normalise_country

POLICY = GeoZoneConfig(authorized=frozenset({"FR", "BE"}), hostile=frozenset({"KP", "RU"}))


@pytest.mark.parametrize(
    ("country", "zone"),
    [("FR", "authorized"), ("be", "authorized"), ("RU", "hostile"), ("KP", "hostile"), ("US", "neutral")],
)
def test_classify_by_the_lists(country: str, zone: str) -> None:
    assert classify(POLICY, country) == zone


def test_unlisted_countries_take_the_default_zone_and_unknown_ones_are_neutral() -> None:
    strict = GeoZoneConfig(authorized=frozenset({"FR"}), default="hostile")
    assert classify(strict, "US") == "hostile"
    assert classify(strict, "FR") == "authorized"
    assert classify(strict, None) == "neutral", "no geography, no opinion"
    assert classify(strict, "") == "neutral"


# (scenario action, zone) → final action, with the default flags.
TABLE = {
    ("ban", "hostile"): "ban",
    ("pending", "hostile"): "ban",
    ("alert", "hostile"): "ban",
    ("ban", "authorized"): "pending",
    ("pending", "authorized"): "pending",
    ("alert", "authorized"): "alert",
    ("ban", "neutral"): "ban",
    ("pending", "neutral"): "pending",
    ("alert", "neutral"): "alert",
}


@pytest.mark.parametrize(("action", "zone"), sorted(TABLE))
def test_decide_with_the_default_flags(action: str, zone: str) -> None:
    assert decide(POLICY, action, zone) == TABLE[(action, zone)]  # type: ignore[arg-type]


@pytest.mark.parametrize(("action", "zone"), sorted(TABLE))
def test_a_disabled_policy_follows_the_scenario(action: str, zone: str) -> None:
    assert decide(GeoZoneConfig(enabled=False), action, zone) == action  # type: ignore[arg-type]


def test_each_flag_turns_its_rule_off() -> None:
    no_pending = GeoZoneConfig(pending_for_authorized=False)
    assert decide(no_pending, "ban", "authorized") == "ban"
    assert decide(no_pending, "alert", "hostile") == "ban"
    no_hostile_ban = GeoZoneConfig(ban_hostile_immediately=False)
    assert decide(no_hostile_ban, "alert", "hostile") == "alert"
    assert decide(no_hostile_ban, "pending", "hostile") == "pending"
    assert decide(no_hostile_ban, "ban", "authorized") == "pending"


def test_an_unknown_action_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown scenario action"):
        decide(POLICY, "quarantine", "neutral")  # type: ignore[arg-type]


def test_effects_list_every_action() -> None:
    assert effects(POLICY, "authorized") == {"ban": "pending", "pending": "pending", "alert": "alert"}
    assert effects(POLICY, "hostile") == {"ban": "ban", "pending": "ban", "alert": "ban"}


def test_country_lists_are_normalised_and_checked() -> None:
    assert normalise_countries(["fr", " DE ", "FR"], "authorized") == frozenset({"FR", "DE"})
    with pytest.raises(ValidationFailedError) as caught:
        normalise_countries(["FR", "UK", "ZZ"], "hostile")
    assert [p.field for p in caught.value.problems] == ["hostile.1", "hostile.2"]
    with pytest.raises(ValidationFailedError, match="Validation failed") as overlap:
        check_disjoint(frozenset({"FR", "DE"}), frozenset({"DE", "RU"}))
    assert "DE cannot be both" in overlap.value.problems[0].message
    check_disjoint(frozenset({"FR"}), frozenset({"RU"}))


def test_the_country_list() -> None:
    assert len(COUNTRIES) == 250, "249 ISO 3166-1 codes and XK"
    assert all(len(code) == 2 and code.isupper() for code in COUNTRIES)
    assert country_name("GB") == "United Kingdom" and country_name("XK") == "Kosovo" and country_name(None) is None
    assert normalise_country(" de ") == "DE"
    with pytest.raises(InvalidInputError, match="GB"):
        normalise_country("UK")


def test_as_dict_sorts_the_lists() -> None:
    shown = POLICY.as_dict()
    assert shown["authorized"] == ["BE", "FR"] and shown["hostile"] == ["KP", "RU"]
    assert shown["default"] == "neutral" and shown["enabled"] is True and shown["updated_at"] is None
