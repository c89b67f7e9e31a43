"""Vigil's tables, bucket and queues as plain data.

The CDK stack (`infra/stack.py`) and the local bootstrap (`devstack/bootstrap.py`) both build from these
definitions, so the local platform has exactly the keys, indexes, TTL attributes and redrive rules of AWS.
Names: `vigil-<logical>` locally (the defaults in `chalicelib.core.settings`), `vigil-<stage>-<logical>` in AWS.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PREFIX = "vigil"


@dataclass(frozen=True)
class Index:
    """A global secondary index projecting all attributes."""

    name: str
    partition_key: str
    sort_key: str | None = None


@dataclass(frozen=True)
class TableSpec:
    logical: str
    partition_key: str
    sort_key: str | None = None
    indexes: tuple[Index, ...] = ()
    ttl_attribute: str | None = None
    setting: str = ""  # the Settings field (and VIGIL_* variable) that carries the physical name
    purpose: str = ""


@dataclass(frozen=True)
class QueueSpec:
    logical: str
    setting: str
    visibility_timeout_seconds: int
    max_receive_count: int = 5
    retention_days: int = 14
    purpose: str = ""

    @property
    def dlq_logical(self) -> str:
        return f"{self.logical}-dlq"


@dataclass(frozen=True)
class BucketSpec:
    logical: str
    setting: str
    archive_prefix: str = "archive/"
    archive_transition_days: int = 30
    archive_expiry_days: int = 400
    prefixes: tuple[str, ...] = field(default=("feeds/", "archive/", "reports/", "blocklists/"))


TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        logical="decisions",
        partition_key="pk",
        sort_key="sk",
        indexes=(Index("gsi1", "gsi1pk", "gsi1sk"), Index("gsi2", "gsi2pk", "gsi2sk")),
        ttl_attribute="ttl",
        setting="decisions_table",
        purpose="bans, whitelist entries, IOCs, pending bans and their history; change log",
    ),
    TableSpec(
        logical="events",
        partition_key="pk",
        sort_key="sk",
        indexes=(Index("gsi1", "gsi1pk", "gsi1sk"), Index("gsi2", "gsi2pk", "gsi2sk")),
        ttl_attribute="ttl",
        setting="events_table",
        purpose="security events by source IP, by arrival hour and by event hour (TTL = retention)",
    ),
    TableSpec(
        logical="counters",
        partition_key="pk",
        sort_key="sk",
        ttl_attribute="ttl",
        setting="counters_table",
        purpose="detection windows, rate limits, lockouts, statistics counters",
    ),
    TableSpec(
        logical="entities",
        partition_key="pk",
        sort_key="sk",
        indexes=(Index("gsi1", "gsi1pk", "gsi1sk"),),
        ttl_attribute="ttl",
        setting="entities_table",
        purpose="users, roles, API keys, sensors, targets, scenarios, settings, security log (single-table)",
    ),
    TableSpec(
        logical="idempotency",
        partition_key="id",
        ttl_attribute="expiration",
        setting="idempotency_table",
        purpose="Powertools idempotency records (Idempotency-Key replays, queue consumers)",
    ),
)

QUEUES: tuple[QueueSpec, ...] = (
    QueueSpec(
        logical="decisions",
        setting="decisions_queue",
        # AWS advises a visibility timeout of at least six times the consumer's timeout (60 s).
        visibility_timeout_seconds=360,
        purpose="change stream of decisions, consumed by the push function",
    ),
    QueueSpec(
        logical="ingest-retry",
        setting="ingest_retry_queue",
        visibility_timeout_seconds=360,
        purpose="accepted event batches whose store write failed, retried until stored",
    ),
)

BUCKET = BucketSpec(logical="data", setting="bucket")


def physical_name(logical: str, stage: str | None = None) -> str:
    """`vigil-decisions` locally, `vigil-prod-decisions` for stage `prod`."""
    return f"{PREFIX}-{stage}-{logical}" if stage else f"{PREFIX}-{logical}"


def local_environment() -> dict[str, str]:
    """The VIGIL_* variables naming every resource on the local platform."""
    env = {f"VIGIL_{t.setting.upper()}": physical_name(t.logical) for t in TABLES}
    env.update({f"VIGIL_{q.setting.upper()}": physical_name(q.logical) for q in QUEUES})
    env[f"VIGIL_{BUCKET.setting.upper()}"] = physical_name(BUCKET.logical)
    return env
