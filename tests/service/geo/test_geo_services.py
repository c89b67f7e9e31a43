"""Geo zones, geoblocking and S3-hosted GeoIP databases against moto: storage, concurrency, caches, counters."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.core.errors import ConfigurationError, ConflictError, NotFoundError, ValidationFailedError
from chalicelib.detection.geoblocking import GeoBlocking, GeoRuleStore
from chalicelib.detection.geozones import GeoZoneConfig, GeoZones, GeoZoneStore
from chalicelib.intel.geoip import GeoDatabaseFiles, GeoInfo, GeoLocator
from tests.support.geodb import write_city_db

CN = GeoInfo("CN", "China", None, None, None, 4134, "CHINANET", "175.16.0.0/16")


# geo zones
def test_the_configuration_starts_as_the_defaults_and_is_saved(container) -> None:
    zones = container.geozones
    assert zones.config() == GeoZoneConfig()
    saved = zones.update({"hostile": ["ru", "KP"], "default": "neutral"}, "user:1")
    assert saved.hostile == frozenset({"RU", "KP"}) and saved.version == 1 and saved.updated_by == "user:1"
    again = container.geozones.config()
    assert again.hostile == frozenset({"RU", "KP"}) and again.updated_at == container.clock.now()


def test_a_country_moves_between_zones(container) -> None:
    zones = container.geozones
    config, added = zones.add_countries("hostile", ["RU", "CN"], "user:1")
    assert added == ["CN", "RU"]
    config, added = zones.add_countries("authorized", ["CN", "FR"], "user:1")
    assert added == ["CN", "FR"] and config.hostile == frozenset({"RU"}) and config.authorized == {"CN", "FR"}
    config, removed = zones.remove_countries("authorized", ["CN", "DE"], "user:2")
    assert removed == ["CN"] and config.authorized == frozenset({"FR"})
    assert zones.config().authorized == frozenset({"FR"})


def test_update_refuses_a_country_in_both_lists(container) -> None:
    container.geozones.update({"authorized": ["FR"]}, None)
    with pytest.raises(ValidationFailedError):
        container.geozones.update({"hostile": ["FR"]}, None)
    assert container.geozones.config().hostile == frozenset()


def test_a_concurrent_save_is_not_lost(container) -> None:
    store = GeoZoneStore(container.table("entities"))
    zones = GeoZones(store, container.clock)
    original_load = store.load
    raced = []

    def load_then_race() -> GeoZoneConfig:
        # Another container saves between this one's read and its write, once.
        seen = original_load()
        if not raced:
            raced.append(True)
            other = GeoZones(GeoZoneStore(container.table("entities")), container.clock)
            other.add_countries("hostile", ["KP"], "user:other")
        return seen

    store.load = load_then_race  # type: ignore[method-assign]
    config, _ = zones.add_countries("hostile", ["RU"], "user:me")
    assert config.hostile == frozenset({"KP", "RU"}) and config.version == 2


def test_a_stale_first_write_conflicts(container) -> None:
    store = GeoZoneStore(container.table("entities"))
    store.save(GeoZoneConfig(hostile=frozenset({"RU"})), 0)
    with pytest.raises(ConflictError):
        store.save(GeoZoneConfig(hostile=frozenset({"KP"})), 0)


def test_ingest_reads_the_policy_through_a_short_cache(container) -> None:
    ingest_side = GeoZones(GeoZoneStore(container.table("entities")), container.clock, cache_seconds=30)
    assert ingest_side.zone_of("RU") == "neutral"
    container.geozones.add_countries("hostile", ["RU"], None)  # another container
    assert ingest_side.zone_of("RU") == "neutral", "within the cache period"
    container.clock.advance(30)
    assert ingest_side.zone_of("RU") == "hostile"
    assert ingest_side.decide("alert", "hostile") == "ban"
    verdict = ingest_side.verdict("ban", "RU")
    assert (verdict.zone, verdict.action, verdict.changed) == ("hostile", "ban", False)


# geoblocking
def test_rules_are_created_listed_changed_and_deleted(container) -> None:
    blocking = container.geoblocking
    cn = blocking.create("country", "cn", "block", reason="policy", actor="user:1")
    container.clock.advance(1)
    asn = blocking.create("asn", 4134, "watch")
    assert [r.id for r in blocking.rules()] == [cn.id, asn.id]
    assert blocking.rule(cn.id) == cn
    changed = blocking.update(asn.id, {"action": "block", "reason": None})
    assert changed.action == "block" and changed.version == 2 and changed.updated_at == container.clock.now()
    assert blocking.delete(cn.id) == cn
    with pytest.raises(NotFoundError):
        blocking.rule(cn.id)
    with pytest.raises(NotFoundError):
        blocking.delete(cn.id)


def test_one_rule_per_country_or_asn(container) -> None:
    blocking = container.geoblocking
    cn = blocking.create("country", "CN", "block")
    with pytest.raises(ConflictError, match="country rule for CN exists"):
        blocking.create("country", "cn", "watch")
    ru = blocking.create("country", "RU", "watch")
    with pytest.raises(ConflictError):
        blocking.update(ru.id, {"value": "CN"})
    moved = blocking.update(cn.id, {"value": "KP"})
    assert moved.value == "KP"
    assert blocking.create("country", "CN", "watch").value == "CN", "the old value's claim was released"
    retyped = blocking.update(ru.id, {"type": "asn", "value": "AS12389"})
    assert (retyped.type, retyped.value) == ("asn", "AS12389")
    with pytest.raises(ValidationFailedError):
        blocking.update(retyped.id, {"type": "country"})  # AS12389 is not a country code


def test_a_stale_rule_update_conflicts(container) -> None:
    blocking = container.geoblocking
    rule = blocking.create("country", "CN", "block")
    blocking.update(rule.id, {"reason": "first"})
    store = GeoRuleStore(container.table("entities"))
    with pytest.raises(ConflictError):
        store.save(rule, rule)  # `rule` is version 1; the stored one is version 2


def test_ingest_evaluates_cached_rules_and_check_reads_them_now(container) -> None:
    ingest_side = GeoBlocking(GeoRuleStore(container.table("entities")), container.counters, container.clock, 30)
    assert ingest_side.evaluate(CN) is None
    container.geoblocking.create("country", "CN", "block")
    assert ingest_side.evaluate(CN) is None, "rules cached for 30 s"
    assert ingest_side.check(CN) is not None, "but a person checking sees the change at once"
    container.clock.advance(30)
    match = ingest_side.evaluate(CN)
    assert match is not None and match.action == "block"


def test_matches_are_counted_per_rule_per_day(container) -> None:
    blocking = container.geoblocking
    block = blocking.create("country", "CN", "block")
    watch = blocking.create("asn", "AS16509", "watch")
    amazon = GeoInfo("US", "United States", None, None, None, 16509, "AMAZON-02", "3.0.0.0/9")
    blocking.record_matches([blocking.evaluate(CN), blocking.evaluate(CN), blocking.evaluate(amazon), None])
    container.clock.advance(days=1)
    blocking.record_match(blocking.evaluate(CN), count=5)
    stats = blocking.stats()
    assert stats["rules"] == {
        "total": 2,
        "enabled": 2,
        "by_type": {"country": 1, "asn": 1},
        "by_action": {"block": 1, "watch": 1},
    }
    assert stats["matches"]["today"] == 5 and stats["matches"]["last_7_days"] == 8
    assert stats["matches"]["by_action"] == {"block": 7, "watch": 1}
    top = stats["matches"]["top_rules"]
    assert [(r["id"], r["today"], r["last_7_days"]) for r in top] == [(block.id, 5, 7), (watch.id, 0, 1)]
    container.clock.advance(days=6)
    assert blocking.stats()["matches"]["last_7_days"] == 5, "the first day fell out of the seven-day window"
    counter = container.counters.get(f"GEOMATCH#{block.id}", "2026-11-25")
    assert counter is not None and counter["n"] == 5 and counter["ttl"] > 0


def test_blocked_and_watched_countries(container) -> None:
    blocking = container.geoblocking
    blocking.create("country", "RU", "block", reason="policy")
    blocking.create("country", "CN", "block")
    blocking.create("country", "BR", "watch")
    blocking.create("country", "KP", "block", enabled=False)
    blocking.create("asn", "AS4134", "block")
    assert [c["code"] for c in blocking.countries("block")] == ["CN", "RU"]
    (brazil,) = blocking.countries("watch")
    assert brazil["name"] == "Brazil" and brazil["rule_id"]


# GeoIP databases in S3
def test_an_s3_database_is_downloaded_once_per_container(aws, settings, tmp_path: Path) -> None:
    s3 = aws.client("s3")
    s3.upload_file(str(write_city_db(tmp_path / "city.mmdb")), settings.bucket, "geoip/GeoIP2-City.mmdb")
    files = GeoDatabaseFiles(s3, directory=str(tmp_path / "cache"))
    local = files.local_path(f"s3://{settings.bucket}/geoip/GeoIP2-City.mmdb")
    assert Path(local).read_bytes() == (tmp_path / "city.mmdb").read_bytes()
    s3.delete_object(Bucket=settings.bucket, Key="geoip/GeoIP2-City.mmdb")
    assert files.local_path(f"s3://{settings.bucket}/geoip/GeoIP2-City.mmdb") == local, "no second download"
    assert files.local_path("/opt/geoip/City.mmdb") == "/opt/geoip/City.mmdb", "a local path is used as it is"
    locator = GeoLocator(f"s3://{settings.bucket}/geoip/GeoIP2-City.mmdb", files=files.local_path)
    found = locator.lookup("81.2.69.1")
    assert found is not None and found.city == "London"


def test_a_missing_s3_database_is_a_configuration_error(aws, settings, tmp_path: Path) -> None:
    files = GeoDatabaseFiles(aws.client("s3"), directory=str(tmp_path))
    with pytest.raises(ConfigurationError, match="cannot be read from S3"):
        files.local_path(f"s3://{settings.bucket}/geoip/missing.mmdb")
    with pytest.raises(ConfigurationError, match="s3://bucket/key"):
        files.local_path("s3://only-a-bucket")
    assert not list(tmp_path.glob("vigil-geoip/*.part")), "no partial file left behind"
