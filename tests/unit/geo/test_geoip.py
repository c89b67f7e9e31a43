"""GeoIP lookups against databases written at test time (exact answers), plus the embedded GeoLite2 file."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.core.errors import ConfigurationError, InvalidInputError
from chalicelib.intel.geoip import GeoInfo, GeoLocator, NetworkCache, is_public
from tests.support.geodb import write_asn_db, write_city_db


@pytest.fixture
def city_db(tmp_path: Path) -> str:
    return str(write_city_db(tmp_path / "city.mmdb"))


@pytest.fixture
def asn_db(tmp_path: Path) -> str:
    return str(write_asn_db(tmp_path / "asn.mmdb"))


@pytest.fixture
def locator(city_db: str, asn_db: str) -> GeoLocator:
    return GeoLocator(city_db, asn_db)


def test_a_located_address_has_country_city_coordinates_and_autonomous_system(locator: GeoLocator) -> None:
    assert locator.lookup("81.2.69.10") == GeoInfo(
        country_code="GB",
        country_name="United Kingdom",
        city="London",
        latitude=51.5142,
        longitude=-0.0931,
        asn=20712,
        as_org="Andrews & Arnold Ltd",
        network="81.2.69.0/25",  # the ASN /25 inside the City /24: the answer holds for the smaller
    )


def test_the_network_is_the_intersection_of_both_databases(locator: GeoLocator) -> None:
    upper = locator.lookup("81.2.69.200")
    assert upper is not None and upper.city == "London" and upper.asn is None
    assert upper.network == "81.2.69.128/25"
    china = locator.lookup("175.16.199.37")
    assert china is not None and (china.country_code, china.asn, china.network) == ("CN", 4837, "175.16.199.0/24")


def test_partial_answers(locator: GeoLocator) -> None:
    telstra = locator.lookup("1.130.0.1")
    assert telstra == GeoInfo(None, None, None, None, None, 1221, "Telstra Pty Ltd", "1.128.0.0/11")
    registered = locator.lookup("2.125.160.5")
    assert registered is not None and registered.country_code == "FR" and registered.city is None, "registered country"
    moscow = locator.lookup("5.45.1.1")
    assert moscow is not None and moscow.country_name == "Russia" and moscow.city is None


def test_ipv6_and_ipv4_mapped_addresses(locator: GeoLocator) -> None:
    tokyo = locator.lookup("2001:218:1::5")
    assert tokyo is not None and (tokyo.country_code, tokyo.city, tokyo.asn) == ("JP", "Tokyo", 2914)
    assert tokyo.network == "2001:218::/32"
    assert locator.lookup("::ffff:81.2.69.10") == locator.lookup("81.2.69.10")


def test_country_names_come_from_the_shipped_list_not_the_database(tmp_path: Path) -> None:
    # The database's names vary by vintage ("Republic of Korea", "Swaziland"); the API shows one spelling.
    from mmdb_writer import MMDBWriter  # noqa: PLC0415
    from netaddr import IPSet  # noqa: PLC0415

    writer = MMDBWriter(ip_version=6, database_type="GeoLite2-City", languages=["en"], ipv4_compatible=True)
    writer.insert_network(
        IPSet(["1.208.0.0/12"]), {"country": {"iso_code": "KR", "names": {"en": "Republic of Korea"}}}
    )
    writer.to_db_file(str(tmp_path / "kr.mmdb"))
    found = GeoLocator(str(tmp_path / "kr.mmdb")).lookup("1.209.1.1")
    assert found is not None and found.country_name == "South Korea"


@pytest.mark.parametrize(
    "ip",
    ["10.1.2.3", "192.168.0.1", "127.0.0.1", "100.64.0.1", "169.254.1.1", "192.0.2.7", "::1", "fe80::1", "fd00::1"],
)
def test_private_and_reserved_addresses_are_not_located(ip: str) -> None:
    # A database that does not exist proves that these never reach one.
    assert GeoLocator("/nowhere/city.mmdb").lookup(ip) is None
    assert not is_public(ip)


def test_unknown_public_addresses_and_bad_input(locator: GeoLocator) -> None:
    assert locator.lookup("8.8.8.8") is None
    assert is_public("8.8.8.8") and is_public("2001:4860:4860::8888")
    for bad in ("not-an-ip", "300.1.1.1", "10.0.0.0/8", ""):
        with pytest.raises(InvalidInputError):
            locator.lookup(bad)


def test_one_cache_entry_serves_the_whole_network(city_db: str, asn_db: str) -> None:
    locator = GeoLocator(city_db, asn_db, cache_size=16)
    first = locator.lookup("81.2.69.1")
    assert (locator.cache.hits, locator.cache.misses) == (0, 1)
    assert locator.lookup("81.2.69.127") is first, "same /25: answered from the cache"
    assert (locator.cache.hits, locator.cache.misses) == (1, 1)
    assert locator.lookup("81.2.69.128") != first, "next /25: a miss"
    assert locator.cache.misses == 2
    assert locator.lookup("8.8.4.4") is None and locator.lookup("8.8.8.8") is None
    assert locator.cache.hits == 2, "an empty network is cached too"


def test_the_cache_forgets_the_least_recently_used_network() -> None:
    cache = NetworkCache(2)
    a = GeoInfo("GB", "United Kingdom", None, None, None, None, None, "81.2.69.0/24")
    b = GeoInfo("CN", "China", None, None, None, None, None, "175.16.0.0/16")
    c = GeoInfo("JP", "Japan", None, None, None, None, None, "2001:218::/32")
    cache.put(4, int(ipaddress.IPv4Address("81.2.69.1")), 24, a)
    cache.put(4, int(ipaddress.IPv4Address("175.16.1.1")), 16, b)
    assert cache.get(4, int(ipaddress.IPv4Address("81.2.69.99"))) is a  # a is now the most recent
    cache.put(6, int(ipaddress.IPv6Address("2001:218::1")), 32, c)
    assert len(cache) == 2
    assert cache.get(4, int(ipaddress.IPv4Address("175.16.200.1"))) is not b, "b was evicted"
    assert cache.get(4, int(ipaddress.IPv4Address("81.2.69.5"))) is a
    assert cache.get(6, int(ipaddress.IPv6Address("2001:218:ffff::1"))) is c


def test_cached_answers_equal_uncached_ones(city_db: str, asn_db: str) -> None:
    cached = GeoLocator(city_db, asn_db, cache_size=4)  # small: evictions happen during the run
    direct = GeoLocator(city_db, asn_db, cache_size=0)
    prefixes = ["81.2.69.0/24", "175.16.199.0/24", "1.128.0.0/11", "5.45.0.0/16", "8.8.0.0/16", "2.125.160.0/24"]

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(prefixes), st.integers(min_value=0))
    def check(prefix: str, offset: int) -> None:
        network = ipaddress.IPv4Network(prefix)
        ip = str(network[offset % network.num_addresses])
        assert cached.lookup(ip) == direct.lookup(ip)

    check()
    assert cached.cache.hits > 0


def test_a_country_database_answers_without_city(tmp_path: Path) -> None:
    path = write_city_db(tmp_path / "country.mmdb", database_type="GeoLite2-Country")
    found = GeoLocator(str(path)).lookup("175.16.199.1")
    assert found is not None and found.country_code == "CN" and found.city is None and found.latitude is None


def test_memory_mode_gives_the_same_answers(city_db: str, asn_db: str, locator: GeoLocator) -> None:
    in_memory = GeoLocator(city_db, asn_db, mode="memory")
    for ip in ("81.2.69.10", "1.130.0.1", "2001:218::1", "8.8.8.8"):
        assert in_memory.lookup(ip) == locator.lookup(ip)


def test_databases_describe_what_is_open(locator: GeoLocator) -> None:
    kinds = [(d.kind, d.database_type, d.ip_version) for d in locator.databases()]
    assert kinds == [("city", "GeoLite2-City", 6), ("asn", "GeoLite2-ASN", 6)]


def test_misconfigured_databases_fail_with_a_message_naming_them(tmp_path: Path, asn_db: str, city_db: str) -> None:
    with pytest.raises(ConfigurationError, match=r"nowhere\.mmdb"):
        GeoLocator(str(tmp_path / "nowhere.mmdb")).lookup("81.2.69.1")
    with pytest.raises(ConfigurationError, match="GeoLite2-ASN database, not City or Country"):
        GeoLocator(asn_db).lookup("81.2.69.1")
    with pytest.raises(ConfigurationError, match="not ASN or ISP"):
        GeoLocator(city_db, city_db).lookup("81.2.69.1")
    garbage = tmp_path / "garbage.mmdb"
    garbage.write_bytes(b"not a database")
    with pytest.raises(ConfigurationError, match="cannot be opened"):
        GeoLocator(str(garbage)).lookup("81.2.69.1")
    with pytest.raises(ConfigurationError, match="no S3 access"):
        GeoLocator("s3://bucket/GeoIP2-City.mmdb").lookup("81.2.69.1")


def test_the_embedded_geolite2_database_opens_and_answers() -> None:
    locator = GeoLocator()
    found = locator.lookup("8.8.8.8")
    assert found is not None and found.country_code is not None and len(found.country_code) == 2
    assert found.network is not None and ipaddress.ip_address("8.8.8.8") in ipaddress.ip_network(found.network)
    (city,) = locator.databases()
    assert city.source == "embedded" and "City" in city.database_type
    locator.close()


def test_database_settings_take_a_path_or_an_s3_object(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.core.settings import load_settings  # noqa: PLC0415

    monkeypatch.setenv("VIGIL_GEOIP_CITY_DB", "s3://vigil-data/geoip/GeoIP2-City.mmdb")
    monkeypatch.setenv("VIGIL_GEOIP_ASN_DB", " /opt/geoip/GeoLite2-ASN.mmdb ")
    settings = load_settings()
    assert settings.geoip_city_db == "s3://vigil-data/geoip/GeoIP2-City.mmdb"
    assert settings.geoip_asn_db == "/opt/geoip/GeoLite2-ASN.mmdb"
    monkeypatch.setenv("VIGIL_GEOIP_ASN_DB", "")
    assert load_settings().geoip_asn_db is None, "empty means unset"
    monkeypatch.setenv("VIGIL_GEOIP_CITY_DB", "s3://vigil-data")
    with pytest.raises(ConfigurationError, match="VIGIL_GEOIP_CITY_DB"):
        load_settings()
    monkeypatch.delenv("VIGIL_GEOIP_CITY_DB")
    monkeypatch.setenv("VIGIL_GEOIP_MODE", "disk")
    with pytest.raises(ConfigurationError, match="VIGIL_GEOIP_MODE"):
        load_settings()
