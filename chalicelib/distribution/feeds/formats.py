"""The feed formats and their variants: names only, so that the API edge can list and check them without
loading the renderers at cold start."""

from __future__ import annotations

FORMATS = ("plain", "sophos", "fortigate", "paloalto", "mikrotik", "checkpoint", "json")
VARIANTS: dict[str, tuple[str, ...]] = {f: (f,) for f in FORMATS} | {"plain": ("plain", "plain-v4", "plain-v6")}
VARIANT_NAMES = tuple(v for f in FORMATS for v in VARIANTS[f])
EXTENSIONS = {"mikrotik": "rsc", "checkpoint": "csv", "json": "json"}  # every other variant is .txt
