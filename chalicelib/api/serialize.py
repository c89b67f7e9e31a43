"""Turn handler results into JSON-ready values: pydantic models, dataclasses, times, sets, decimals.

DynamoDB hands numbers back as `Decimal`; contracts want plain numbers. Times are rendered as ISO 8601 in UTC
with a `Z`, the form every seed document shows.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic import BaseModel

from chalicelib.core.clock import iso


def to_jsonable(value: Any) -> Any:
    """A structure of dicts, lists, strings, numbers, booleans and None equal in meaning to `value`."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, BaseModel):
        return to_jsonable(value.model_dump(mode="python", by_alias=True))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(to_jsonable(v) for v in value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Enum):
        return to_jsonable(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    return str(value)
