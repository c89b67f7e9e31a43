"""Structured logging and metrics, one of each per process.

Powertools `Logger` writes JSON lines with the request id as correlation id; `Metrics` writes CloudWatch
embedded-metric-format records, which cost no API call. Both are created on first use so that importing a
module never configures logging as a side effect.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics

SERVICE = "vigil"
NAMESPACE = "Vigil"


@lru_cache(maxsize=1)
def get_logger() -> Logger:
    """The process-wide structured logger."""
    from aws_lambda_powertools import Logger  # noqa: PLC0415

    return Logger(service=SERVICE)


@lru_cache(maxsize=1)
def get_metrics() -> Metrics:
    """The process-wide EMF metrics writer; flush with `flush_metrics()` at the end of a handler."""
    from aws_lambda_powertools import Metrics  # noqa: PLC0415

    return Metrics(namespace=NAMESPACE, service=SERVICE)


def count(name: str, value: float = 1) -> None:
    """Add to a count metric (unit Count)."""
    from aws_lambda_powertools.metrics import MetricUnit  # noqa: PLC0415

    get_metrics().add_metric(name=name, unit=MetricUnit.Count, value=value)


def flush_metrics() -> None:
    """Write out the metrics gathered so far (no-op when none were added)."""
    metrics = get_metrics()
    if metrics.metric_set:
        metrics.flush_metrics()
