"""Where each CrowdSec bouncer is in the decision stream: the time of its last pull, per API key."""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.core.clock import epoch, iso, parse_time
from chalicelib.core.dynamo import DynamoTable

KEEP = timedelta(days=30)


class BouncerCursors:
    def __init__(self, table: DynamoTable) -> None:
        self._t = table

    def get(self, key_id: str) -> datetime | None:
        item = self._t.get({"pk": f"BOUNCER#{key_id}", "sk": "CURSOR"}, consistent=True)
        return parse_time(item["last_pull"]) if item else None

    def set(self, key_id: str, when: datetime) -> None:
        self._t.put({"pk": f"BOUNCER#{key_id}", "sk": "CURSOR", "last_pull": iso(when), "ttl": epoch(when + KEEP)})
