"""GeoIP enrichment: country, city, coordinates and autonomous system of a source address.

Ingest enriches every event, so a lookup must be cheap and the database must not weigh on cold starts:

- geoip2 (and the ~50 ms its import costs) is imported on the first lookup, never at `import app`.
- Each database is opened once per container, memory-mapped through maxminddb's C extension (MODE_AUTO).
  Opening is then a few milliseconds whatever the file's size and pages are read on demand; MODE_MEMORY
  would read the whole file up front (+54 MB, 30-60 ms) and fall back to the pure-Python decoder (115 µs per
  uncached lookup against 45 µs), so it is a setting, not the default.
- Answers are cached in an LRU keyed by the network the database says they hold for (`traits.network`), so
  one entry serves a whole /19 of one provider rather than one address.

The default City database is the GeoLite2 file embedded in the `maxminddb-geolite2` package (built 2018-07-03:
countries are mostly right, cities and networks have drifted). A current MaxMind City (or Country) database and
an ASN database are configured with `VIGIL_GEOIP_CITY_DB` / `VIGIL_GEOIP_ASN_DB`, each a local path or an
`s3://bucket/key` that `GeoDatabaseFiles` copies to the Lambda's /tmp once per container.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import tempfile
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from chalicelib.core.errors import ConfigurationError
from chalicelib.decisions.addresses import ip_to_int
from chalicelib.intel.countries import country_name

OpenMode = Literal["mmap", "memory"]
EMBEDDED = "embedded"
"""The source name of the GeoLite2 City database that ships with the install."""


@dataclass(frozen=True)
class GeoInfo:
    """Where an address is, as far as the databases know. `network` is the CIDR the answer holds for."""

    country_code: str | None
    country_name: str | None
    city: str | None
    latitude: float | None
    longitude: float | None
    asn: int | None
    as_org: str | None
    network: str | None


@dataclass(frozen=True)
class DatabaseInfo:
    """What one opened database is: which file, which type, when MaxMind built it."""

    kind: Literal["city", "asn"]
    source: str
    database_type: str
    built_at: datetime
    ip_version: int


def embedded_city_database() -> str:
    """The path of the GeoLite2 City file inside the `maxminddb-geolite2` package (a path, not an open)."""
    from _maxminddb_geolite2 import geolite2_database  # noqa: PLC0415 - only its path is needed

    return str(geolite2_database())


def is_public(ip: str) -> bool:
    """Is this address globally routable (not private, loopback, documentation, multicast, reserved...)?"""
    return _address(*ip_to_int(ip)).is_global


class GeoDatabaseFiles:
    """Local copies of databases kept in S3, downloaded once per container (the module's only AWS caller)."""

    def __init__(self, s3: Any, directory: str | None = None) -> None:
        self._s3 = s3
        self._directory = Path(directory or tempfile.gettempdir()) / "vigil-geoip"
        self._lock = threading.Lock()

    def local_path(self, source: str) -> str:
        """A readable file for `source`: a local path as it is, an `s3://` object copied to /tmp first."""
        if not source.startswith("s3://"):
            return source
        bucket, _, key = source[len("s3://") :].partition("/")
        if not bucket or not key:
            raise ConfigurationError(f"GeoIP database {source!r} is not of the form s3://bucket/key")
        digest = hashlib.sha256(source.encode()).hexdigest()[:12]
        target = self._directory / f"{digest}-{Path(key).name}"
        with self._lock:
            # A warm container (or a second locator in it) finds the copy a previous download left.
            if target.exists():
                return str(target)
            self._directory.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f"{target.name}.{os.getpid()}.part")
            self._download(bucket, key, partial, source)
            os.replace(partial, target)  # atomic: a reader never sees half a database
        return str(target)

    def _download(self, bucket: str, key: str, path: Path, source: str) -> None:
        from botocore.exceptions import ClientError  # noqa: PLC0415 - botocore is heavy; only S3 sources need it

        try:
            self._s3.download_file(bucket, key, str(path))
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NoSuchBucket", "403", "AccessDenied"):
                raise ConfigurationError(f"GeoIP database {source} cannot be read from S3 ({code})") from exc
            raise


_MISSING = object()


class NetworkCache:
    """An LRU of answers keyed by the network each holds for: one entry answers every address inside it.

    Networks from one database never overlap (they are the leaves of its search tree), and the network of an
    answer merged from two databases is the smaller of their two, a leaf of both, so whichever cached network
    contains an address is the answer for it. A lookup probes each prefix length present, longest first.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[int, int, int], GeoInfo | None] = OrderedDict()
        self._lengths: dict[int, Counter[int]] = {4: Counter(), 6: Counter()}
        self._probe: dict[int, tuple[int, ...]] = {4: (), 6: ()}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, version: int, value: int) -> Any:
        """The cached answer for an address, or `_MISSING`."""
        bits = 32 if version == 4 else 128
        with self._lock:
            for length in self._probe[version]:
                key = (version, length, value >> (bits - length))
                found = self._entries.get(key, _MISSING)
                if found is not _MISSING:
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return found
            self.misses += 1
            return _MISSING

    def put(self, version: int, value: int, length: int, info: GeoInfo | None) -> None:
        """Remember the answer for the /`length` network around an address."""
        if self._size <= 0:
            return
        bits = 32 if version == 4 else 128
        key = (version, length, value >> (bits - length))
        with self._lock:
            if key in self._entries:
                self._entries[key] = info
                return
            self._entries[key] = info
            self._count(version, length, +1)
            while len(self._entries) > self._size:
                (old_version, old_length, _), _ = self._entries.popitem(last=False)
                self._count(old_version, old_length, -1)

    def _count(self, version: int, length: int, delta: int) -> None:
        lengths = self._lengths[version]
        present = length in lengths
        lengths[length] += delta
        if lengths[length] <= 0:
            del lengths[length]
        if (length in lengths) != present:
            self._probe[version] = tuple(sorted(lengths, reverse=True))


class GeoLocator:
    """Looks addresses up in a City (or Country) database and an optional ASN database."""

    def __init__(
        self,
        city_db: str | None = None,
        asn_db: str | None = None,
        *,
        files: Callable[[str], str] | None = None,
        cache_size: int = 8192,
        mode: OpenMode = "mmap",
    ) -> None:
        self.city_source = city_db or EMBEDDED
        self.asn_source = asn_db
        self._files = files
        self._mode = mode
        self.cache = NetworkCache(cache_size)
        self._lock = threading.Lock()
        self._opened: tuple[Any, Any] | None = None

    def lookup(self, ip: str) -> GeoInfo | None:
        """Where `ip` is; None for private and reserved space and for addresses neither database knows."""
        version, value = ip_to_int(ip)
        cached = self.cache.get(version, value)
        if cached is not _MISSING:
            return cached
        address = _address(version, value)
        if not address.is_global:
            return None
        info, length = self._read(str(address), version)
        self.cache.put(version, value, length, info)
        return info

    def databases(self) -> list[DatabaseInfo]:
        """The opened databases (opening them if need be)."""
        city, asn = self._readers()
        found = [_describe("city", self.city_source, city)]
        if asn is not None:
            found.append(_describe("asn", self.asn_source or "", asn))
        return found

    def close(self) -> None:
        with self._lock:
            if self._opened is not None:
                for reader in self._opened:
                    if reader is not None:
                        reader.close()
                self._opened = None

    def _read(self, ip: str, version: int) -> tuple[GeoInfo | None, int]:
        city_reader, asn_reader = self._readers()
        bits = 32 if version == 4 else 128
        place, place_length = _query(city_reader, ip, version, bits)
        system, system_length = _query(asn_reader, ip, version, bits) if asn_reader is not None else (None, 0)
        # The answer holds for the intersection of both networks, which is the longer prefix of the two.
        length = max(place_length, system_length)
        if place is None and system is None:
            return None, length
        info = _merge(place, system, ip, length)
        return info, length

    def _readers(self) -> tuple[Any, Any]:
        opened = self._opened
        if opened is not None:
            return opened
        with self._lock:
            if self._opened is None:
                city = self._open("city", self.city_source)
                asn = self._open("asn", self.asn_source) if self.asn_source else None
                self._opened = (city, asn)
            return self._opened

    def _open(self, kind: str, source: str) -> Any:
        import geoip2.database  # noqa: PLC0415 - ~50 ms of imports, paid by the first lookup only
        import maxminddb  # noqa: PLC0415
        from maxminddb import InvalidDatabaseError  # noqa: PLC0415

        path = embedded_city_database() if source == EMBEDDED else self._local(source)
        mode = maxminddb.MODE_MEMORY if self._mode == "memory" else maxminddb.MODE_AUTO
        try:
            reader = geoip2.database.Reader(path, mode=mode)
        except (OSError, ValueError, InvalidDatabaseError) as exc:
            raise ConfigurationError(f"GeoIP {kind} database {source} cannot be opened: {exc}") from exc
        database_type = reader.metadata().database_type
        wanted = ("City", "Country") if kind == "city" else ("ASN", "ISP")
        if not any(word in database_type for word in wanted):
            reader.close()
            raise ConfigurationError(
                f"GeoIP {kind} database {source} is a {database_type} database, not {' or '.join(wanted)}"
            )
        return reader

    def _local(self, source: str) -> str:
        if source.startswith("s3://"):
            if self._files is None:
                raise ConfigurationError(f"GeoIP database {source} is in S3 but no S3 access was configured")
            return self._files(source)
        return source


def _address(version: int, value: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    # Explicit classes: ip_address(1) would be 0.0.0.1 where ::1 is meant.
    return ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value)


def _query(reader: Any, ip: str, version: int, bits: int) -> tuple[Any, int]:
    """(model or None, prefix length) from one database; a miss still says how large the empty network is."""
    from geoip2.errors import AddressNotFoundError  # noqa: PLC0415

    metadata = reader.metadata()
    if version == 6 and metadata.ip_version == 4:
        return None, bits  # an IPv4-only database knows nothing of IPv6; cache per address
    database_type = metadata.database_type
    try:
        if "City" in database_type:
            model = reader.city(ip)
        elif "Country" in database_type:
            model = reader.country(ip)
        elif "ISP" in database_type:
            model = reader.isp(ip)
        else:
            model = reader.asn(ip)
    except AddressNotFoundError as exc:
        network = exc.network
        return None, network.prefixlen if network is not None else bits
    network = model.traits.network if hasattr(model, "traits") else model.network
    return model, network.prefixlen if network is not None else bits


def _merge(place: Any, system: Any, ip: str, length: int) -> GeoInfo:
    code = name = city = latitude = longitude = None
    if place is not None:
        # Anycast and satellite networks have no located country; the registered one is the next best.
        country = place.country if place.country.iso_code else place.registered_country
        code = country.iso_code
        name = country_name(code) or country.name
        city_record = getattr(place, "city", None)
        city = city_record.name if city_record is not None else None
        location = getattr(place, "location", None)
        if location is not None:
            latitude, longitude = location.latitude, location.longitude
    asn = as_org = None
    if system is not None:
        asn, as_org = system.autonomous_system_number, system.autonomous_system_organization
    network = ipaddress.ip_network(f"{ip}/{length}", strict=False)
    return GeoInfo(code, name, city, latitude, longitude, asn, as_org, str(network))


def _describe(kind: Literal["city", "asn"], source: str, reader: Any) -> DatabaseInfo:
    metadata = reader.metadata()
    return DatabaseInfo(
        kind=kind,
        source=source,
        database_type=metadata.database_type,
        built_at=datetime.fromtimestamp(metadata.build_epoch, UTC),
        ip_version=metadata.ip_version,
    )
