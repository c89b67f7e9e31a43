"""Count the AWS requests a piece of code makes (what Lambda bills and DynamoDB throttles)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def count_requests(*clients: Any) -> Iterator[Counter[str]]:
    """Within the block, count requests per `service.Operation` sent by these clients."""
    counts: Counter[str] = Counter()

    def record(model: Any = None, **_: Any) -> None:
        counts[f"{model.service_model.service_name}.{model.name}"] += 1

    for client in clients:
        client.meta.events.register("before-call.*.*", record)
    try:
        yield counts
    finally:
        for client in clients:
            client.meta.events.unregister("before-call.*.*", record)
