"""Geoblocking rules: value normalisation and which rule applies to a located address."""

from __future__ import annotations

import pytest

from chalicelib.core.clock import parse_time
from chalicelib.core.errors import ValidationFailedError
from chalicelib.detection.geoblocking import GeoRule, RuleBook, evaluate, normalise_value
from chalicelib.intel.geoip import GeoInfo

T0 = parse_time("2026-11-24T10:00:00Z")


def rule(rule_id: str, type_: str, value: str, action: str = "block", enabled: bool = True) -> GeoRule:
    return GeoRule(rule_id, type_, value, action, "", enabled, T0, "user:1")  # type: ignore[arg-type]


def geo(country: str | None, asn: int | None) -> GeoInfo:
    return GeoInfo(country, None, None, None, None, asn, None, "203.0.113.0/24")


@pytest.mark.parametrize(
    ("raw", "stored"), [(4134, "AS4134"), ("4134", "AS4134"), ("as4134", "AS4134"), (" AS1 ", "AS1")]
)
def test_asn_values_are_stored_as_asnnn(raw: object, stored: str) -> None:
    assert normalise_value("asn", raw) == stored


@pytest.mark.parametrize("raw", [0, -5, 4_294_967_296, "AS", "ASX1", "12a", True, None, 3.5])
def test_bad_asn_values_are_refused(raw: object) -> None:
    with pytest.raises(ValidationFailedError) as caught:
        normalise_value("asn", raw)
    assert caught.value.problems[0].field == "value"


def test_country_values() -> None:
    assert normalise_value("country", "cn") == "CN"
    for bad in ("UK", "CHN", "", 86):
        with pytest.raises(ValidationFailedError):
            normalise_value("country", bad)


def test_no_rule_no_match() -> None:
    rules = [rule("r1", "country", "CN")]
    assert evaluate(rules, None) is None, "an address that could not be located"
    assert evaluate(rules, geo("FR", 3215)) is None
    assert evaluate(rules, geo(None, None)) is None
    assert evaluate([], geo("CN", 4134)) is None


def test_block_wins_over_watch_whatever_the_specificity() -> None:
    watch_asn = rule("asn-watch", "asn", "AS4134", "watch")
    block_country = rule("cn-block", "country", "CN", "block")
    match = evaluate([watch_asn, block_country], geo("CN", 4134))
    assert match is not None and match.action == "block" and match.rule_id == "cn-block"
    assert match.shadowed == (watch_asn,)
    assert (match.rule_type, match.value) == ("country", "CN")


def test_at_equal_action_the_asn_rule_is_the_one_reported() -> None:
    country = rule("cn", "country", "CN", "watch")
    asn = rule("as", "asn", "AS4134", "watch")
    match = evaluate([country, asn], geo("CN", 4134))
    assert match is not None and match.rule is asn and match.shadowed == (country,)
    blocks = evaluate([rule("cn", "country", "CN"), rule("as", "asn", "AS4134")], geo("CN", 4134))
    assert blocks is not None and blocks.rule.type == "asn"


def test_asn_rules_match_in_any_country_and_disabled_rules_never_match() -> None:
    rules = [rule("as", "asn", "AS16509", "watch"), rule("off", "country", "US", enabled=False)]
    match = evaluate(rules, geo("US", 16509))
    assert match is not None and match.rule_id == "as" and match.action == "watch" and match.shadowed == ()
    assert evaluate(rules, geo("DE", 16509)) is not None
    assert evaluate(rules, geo("US", 7018)) is None


def test_the_rule_book_indexes_enabled_rules() -> None:
    book = RuleBook([rule("a", "country", "CN"), rule("b", "asn", "AS4134"), rule("c", "country", "RU", enabled=False)])
    assert set(book.by_country) == {"CN"} and set(book.by_asn) == {4134}


def test_as_dict_names_countries() -> None:
    shown = rule("r", "country", "KP").as_dict()
    assert shown["name"] == "North Korea" and shown["created_at"] == "2026-11-24T10:00:00Z"
    assert rule("r", "asn", "AS4134").as_dict()["name"] is None
