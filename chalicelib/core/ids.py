"""Identifiers: random, sortable by time where order matters, and safe to show."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime


def new_id() -> str:
    """A random UUID4 as text, for entities whose order does not matter."""
    return str(uuid.uuid4())


def request_id() -> str:
    """An id for one API request, echoed in `X-Request-Id` and in error bodies."""
    return "req_" + secrets.token_hex(12)


def time_ordered_id(when: datetime) -> str:
    """An id that sorts by creation time (ms), then randomly: used as DynamoDB sort keys."""
    millis = int(when.timestamp() * 1000)
    return f"{millis:013d}-{secrets.token_hex(6)}"
