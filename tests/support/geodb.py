"""Small GeoIP databases written at test time with mmdb-writer, so GeoIP answers in tests are exact.

The records follow MaxMind's documented City and ASN layouts; the networks and values are ours. The City
database covers a /24 per country, the ASN database deliberately cuts some of them differently (a /25 inside
the British /24, a Telstra /11 with no city record) so that merged answers and the per-network cache are tested.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CITY_RECORDS: dict[str, dict[str, Any]] = {
    "81.2.69.0/24": {"country": "GB", "name": "United Kingdom", "city": "London", "at": (51.5142, -0.0931)},
    "175.16.199.0/24": {"country": "CN", "name": "China", "city": "Changchun", "at": (43.88, 125.3228)},
    "89.160.20.0/24": {"country": "SE", "name": "Sweden", "city": "Linköping", "at": (58.4167, 15.6167)},
    "216.160.83.0/24": {"country": "US", "name": "United States", "city": "Milton", "at": (47.2513, -122.3149)},
    "5.45.0.0/16": {"country": "RU", "name": "Russia", "city": None, "at": (55.7386, 37.6068)},
    "2001:218::/32": {"country": "JP", "name": "Japan", "city": "Tokyo", "at": (35.685, 139.7514)},
}
REGISTERED_ONLY = {"2.125.160.0/24": ("FR", "France")}
"""A network with a registered country but no located one (anycast, satellite)."""

ASN_RECORDS: dict[str, tuple[int, str]] = {
    "81.2.69.0/25": (20712, "Andrews & Arnold Ltd"),
    "175.16.199.0/24": (4837, "CHINA UNICOM China169 Backbone"),
    "1.128.0.0/11": (1221, "Telstra Pty Ltd"),
    "2001:218::/32": (2914, "NTT America, Inc."),
}


def _writer(database_type: str) -> Any:
    from mmdb_writer import MMDBWriter  # noqa: PLC0415 - a dev dependency

    return MMDBWriter(
        ip_version=6,
        database_type=database_type,
        languages=["en"],
        description="Vigil test database",
        ipv4_compatible=True,
    )


def write_city_db(path: Path, database_type: str = "GeoLite2-City") -> Path:
    """A City database with `CITY_RECORDS` and `REGISTERED_ONLY`."""
    from netaddr import IPSet  # noqa: PLC0415

    writer = _writer(database_type)
    for network, record in CITY_RECORDS.items():
        content: dict[str, Any] = {
            "country": {"iso_code": record["country"], "names": {"en": record["name"]}},
            "location": {"latitude": record["at"][0], "longitude": record["at"][1]},
        }
        if record["city"]:
            content["city"] = {"names": {"en": record["city"]}}
        writer.insert_network(IPSet([network]), content)
    for network, (code, name) in REGISTERED_ONLY.items():
        writer.insert_network(IPSet([network]), {"registered_country": {"iso_code": code, "names": {"en": name}}})
    writer.to_db_file(str(path))
    return path


def write_asn_db(path: Path) -> Path:
    """An ASN database with `ASN_RECORDS`."""
    from netaddr import IPSet  # noqa: PLC0415

    writer = _writer("GeoLite2-ASN")
    for network, (number, organisation) in ASN_RECORDS.items():
        writer.insert_network(
            IPSet([network]),
            {"autonomous_system_number": number, "autonomous_system_organization": organisation},
        )
    writer.to_db_file(str(path))
    return path
