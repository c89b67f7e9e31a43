"""Vigil's configuration: one pydantic-settings model, read from the environment once per container.

Every resource name comes from here (the CDK stack and `.chalice/config.json` set them), so nothing deeper in
the code reads `os.environ`. A missing or malformed variable stops start-up with a `ConfigurationError` whose
message names the variable, rather than failing on the first request that needs it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal, get_args

from pydantic import AliasChoices, Field, IPvAnyNetwork, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from chalicelib.core.errors import ConfigurationError

ENV_PREFIX = "VIGIL_"
FeedFormat = Literal["plain", "sophos", "fortigate", "paloalto", "mikrotik", "checkpoint", "json"]
FEED_FORMATS: tuple[FeedFormat, ...] = get_args(FeedFormat)  # every format, in the order above


def _csv(value: object) -> object:
    """Lists come from the environment as comma-separated text (`a,b,c`)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Everything configurable. Field `x` is read from `VIGIL_X` unless an alias says otherwise."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    stage: str = "dev"
    version: str = "0.1.0"
    region: str = Field("us-east-1", validation_alias=AliasChoices("VIGIL_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"))
    endpoint_url: str | None = Field(None, validation_alias=AliasChoices("VIGIL_ENDPOINT_URL", "AWS_ENDPOINT_URL"))
    localstack_host: str | None = Field(None, validation_alias=AliasChoices("LOCALSTACK_HOST"))

    # Resources (defined in infra/resources.py; names set per stage by the CDK stack).
    decisions_table: str = "vigil-decisions"
    events_table: str = "vigil-events"
    counters_table: str = "vigil-counters"
    entities_table: str = "vigil-entities"
    idempotency_table: str = "vigil-idempotency"
    bucket: str = "vigil-data"
    decisions_queue: str = "vigil-decisions"
    target_secret_prefix: str = "vigil/local/targets/"  # noqa: S105 - a name prefix, not a secret
    ingest_retry_queue: str = "vigil-ingest-retry"

    # API edge.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(1_048_576, gt=0, le=10 * 1_048_576)
    api_rate_limit_per_minute: int = Field(10_000, gt=0)

    # Identity.
    jwt_secret: SecretStr | None = None
    jwt_secret_parameter: str | None = None
    jwt_issuer: str = "vigil"
    jwt_audience: str = "vigil-api"
    jwt_ttl_seconds: int = Field(1800, gt=0)
    self_registration: bool = False
    password_time_cost: int = Field(1, ge=1, le=10)
    password_memory_kib: int = Field(65_536, ge=8_192, le=1_048_576)
    admin_email: str | None = None
    admin_password: SecretStr | None = None
    mail_sender: str = "vigil@example.com"

    # Decisions.
    max_prefix_v4: int = Field(8, ge=0, le=32)
    max_prefix_v6: int = Field(32, ge=0, le=128)
    platform_addresses: Annotated[list[str], NoDecode] = Field(default_factory=list)
    recidivism_factor: float = Field(2.0, ge=1.0)
    recidivism_max_seconds: int = Field(30 * 86400, gt=0)
    recidivism_memory_days: int = Field(90, gt=0)
    default_ban_seconds: int = Field(4 * 3600, gt=0)
    index_staleness_seconds: float = Field(5.0, ge=0)

    # Distribution. Loopback webhook targets: only for tests and the local platform (on Lambda, loopback is the
    # runtime's own API).
    targets_allow_loopback: bool = False

    # Ingest.
    ingest_trusted_cidrs: Annotated[list[str], NoDecode] = Field(default_factory=list)
    ingest_auto_register: bool = True
    ingest_max_events: int = Field(5000, gt=0, le=50_000)
    events_retention_days: int = Field(30, gt=0, le=3650)
    sensor_active_seconds: int = Field(900, gt=0)
    pending_review_days: int = Field(7, gt=0, le=365)

    # Detection (chalicelib/detection/window_store.py): how many items the scheduled scenarios' touched keys are
    # spread over (a bucket's own counts spill by size, see events/counter_items.py), how many ADD clauses one
    # UpdateItem carries (DynamoDB: 250 fit its 4 KB; the local emulator, moto, parses expressions recursively
    # and needs fewer, or a deeper stack), and how far the minute sweep looks back for the keys ingest counted.
    detection_shards: int = Field(4, ge=1, le=64)
    detection_update_clauses: int = Field(250, ge=10, le=250)
    detection_sweep_lookback_minutes: int = Field(3, ge=1, le=60)

    # Geography: GeoIP databases (a local path or s3://bucket/key; unset = the embedded GeoLite2 City) and how
    # long ingest may use the geo-zone policy and geoblocking rules before reading them again.
    geoip_city_db: str | None = None
    geoip_asn_db: str | None = None
    geoip_mode: Literal["mmap", "memory"] = "mmap"
    geoip_cache_size: int = Field(8192, ge=0, le=1_000_000)
    geo_policy_cache_seconds: float = Field(30.0, ge=0, le=3600)

    # Feeds (docs/FEEDS.md): formats rendered for every feed, per-format entry limits as JSON
    # (`{"paloalto": 50000}`; 0 = no limit; unset formats keep the documented device limits), the widest CIDR
    # the Sophos variant writes out address by address, the wait between two publishes triggered by changes,
    # the period of the full (verifying) publish, which is also the step of MikroTik timeouts, the default access
    # (`api`, `presigned`, `bucket-policy` from the firewalls' source addresses), the lifetime of presigned URLs
    # (SigV4 allows 7 days at most), and the largest feed the API answers itself (bigger ones are redirected to a
    # short presigned S3 URL: Lambda responses stop at 6 MB).
    feed_formats: Annotated[list[FeedFormat], NoDecode] = Field(default_factory=lambda: list(FEED_FORMATS))
    feed_max_entries: dict[FeedFormat, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)
    feed_expand_limit: int = Field(256, ge=1, le=65_536)
    feed_debounce_seconds: float = Field(30.0, ge=0, le=3600)
    feed_refresh_seconds: int = Field(3600, ge=60, le=86_400)
    feed_access: Literal["api", "presigned", "bucket-policy"] = "api"
    feed_source_cidrs: Annotated[list[IPvAnyNetwork], NoDecode] = Field(default_factory=list)  # for bucket-policy
    feed_presign_seconds: int = Field(3600, ge=60, le=604_800)
    feed_api_max_bytes: int = Field(5_000_000, ge=1024, le=5_800_000)

    _split_feed_lists = field_validator("feed_formats", "feed_source_cidrs", mode="before")(_csv)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    _split_lists = field_validator("cors_origins", "platform_addresses", "ingest_trusted_cidrs", mode="before")(_csv)

    @field_validator("geoip_city_db", "geoip_asn_db")
    @classmethod
    def _database_source(cls, value: str | None) -> str | None:
        """A GeoIP database is a path or `s3://bucket/key`; empty means unset."""
        if not value or not value.strip():
            return None
        value = value.strip()
        if value.startswith("s3://"):
            bucket, _, key = value[len("s3://") :].partition("/")
            if not bucket or not key:
                raise ValueError("an S3 database must be written s3://bucket/key")
        return value

    @property
    def tables(self) -> dict[str, str]:
        """Logical table name → physical name."""
        return {
            "decisions": self.decisions_table,
            "events": self.events_table,
            "counters": self.counters_table,
            "entities": self.entities_table,
            "idempotency": self.idempotency_table,
        }


def env_name(field: str) -> str:
    """The environment variable that sets `field` (its first alias if it has several)."""
    info = Settings.model_fields[field]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"{ENV_PREFIX}{field.upper()}"


def load_settings() -> Settings:
    """Read and validate the environment; a bad value raises `ConfigurationError` naming its variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            name = env_name(field) if field in Settings.model_fields else field
            problems.append(f"{name}: {error['msg']}")
        raise ConfigurationError("invalid configuration: " + "; ".join(problems)) from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return load_settings()
