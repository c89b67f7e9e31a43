"""Detection as the platform runs it: the engine switch, the scenarios in force, and the detector built from them.

Scenarios are data: the shipped defaults (`defaults/scenarios.yaml`), overridden or extended by the ones
edited through the API, which live on the entities table as one versioned set (`CONFIG#scenarios`). The
engine switch (seed 000's Detect2Ban enable/disable/toggle) is `CONFIG#detect2ban`. Each container reads
both at most every `cache_seconds` (30 s) and rebuilds its detector when the set's version moved, so an edit
takes effect everywhere within that bound; the container that made it sees it at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from chalicelib.core.clock import Clock, iso
from chalicelib.core.dynamo import DynamoTable
from chalicelib.core.errors import ConflictError, NotFoundError
from chalicelib.detection.engine import Detector, Trigger
from chalicelib.detection.scenarios import Scenario, load_defaults, parse_scenario
from chalicelib.detection.windows import Windows
from chalicelib.events.model import Event

# DynamoDB keeps no nulls inside a map (`core.dynamo` drops them), so a removed shipped scenario is stored as this
# marker; stored as None it would vanish on write and the scenario would quietly come back.
REMOVED: dict[str, Any] = {"removed": True}


class DetectionConfig:
    def __init__(self, table: DynamoTable, clock: Clock) -> None:
        self._t = table
        self._clock = clock

    def _read(self, key: str) -> dict[str, Any]:
        return self._t.get({"pk": key, "sk": "CONFIG"}, consistent=True) or {}

    def enabled(self) -> bool:
        return bool(self._read("CONFIG#detect2ban").get("enabled", True))

    def set_enabled(self, enabled: bool, actor: str | None) -> dict[str, Any]:
        item = {
            "pk": "CONFIG#detect2ban",
            "sk": "CONFIG",
            "enabled": enabled,
            "changed_at": iso(self._clock.now()),
            "changed_by": actor,
        }
        self._t.put(item)
        return {"enabled": enabled, "changed_at": item["changed_at"], "changed_by": actor}

    def state(self) -> dict[str, Any]:
        found = self._read("CONFIG#detect2ban")
        return {
            "enabled": bool(found.get("enabled", True)),
            "changed_at": found.get("changed_at"),
            "changed_by": found.get("changed_by"),
        }

    def overrides(self) -> tuple[int, dict[str, dict[str, Any] | None]]:
        """(version, name → scenario data, or None for a shipped scenario that was removed)."""
        found = self._read("CONFIG#scenarios")
        stored = dict(found.get("scenarios") or {})
        return int(found.get("version", 0)), {name: None if data == REMOVED else data for name, data in stored.items()}

    @staticmethod
    def _stored(overrides: dict[str, dict[str, Any] | None]) -> dict[str, dict[str, Any]]:
        return {name: REMOVED if data is None else data for name, data in overrides.items()}

    def save(self, name: str, data: dict[str, Any] | None, expected_version: int) -> int:
        """Set one override (None removes a scenario) on top of the version read; returns the new version."""
        version, overrides = self.overrides()
        if version != expected_version:
            raise ConflictError("The scenarios changed meanwhile; read them again")
        overrides[name] = data
        item = {
            "pk": "CONFIG#scenarios",
            "sk": "CONFIG",
            "version": version + 1,
            "scenarios": self._stored(overrides),
            "changed_at": iso(self._clock.now()),
        }
        condition = "attribute_not_exists(pk)" if version == 0 else "version = :v"
        self._t.put(item, condition=condition, values=None if version == 0 else {":v": version})
        return version + 1

    def revert(self, name: str, expected_version: int) -> int:
        version, overrides = self.overrides()
        if version != expected_version:
            raise ConflictError("The scenarios changed meanwhile; read them again")
        overrides.pop(name, None)
        self._t.put(
            {
                "pk": "CONFIG#scenarios",
                "sk": "CONFIG",
                "version": version + 1,
                "scenarios": self._stored(overrides),
                "changed_at": iso(self._clock.now()),
            },
            condition="version = :v",
            values={":v": version},
        )
        return version + 1


def effective(defaults: Sequence[Scenario], overrides: dict[str, dict[str, Any] | None]) -> list[Scenario]:
    """The defaults with the overrides applied: replaced, removed (None), or added."""
    by_name = {s.name: s for s in defaults}
    for name, data in overrides.items():
        if data is None:
            by_name.pop(name, None)
        else:
            by_name[name] = parse_scenario(data)
    return list(by_name.values())


class Detection:
    """The detector of this container, kept in step with the stored scenarios and the engine switch."""

    def __init__(self, config: DetectionConfig, windows: Windows, clock: Clock, cache_seconds: float = 30.0) -> None:
        self.config = config
        self._windows = windows
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._defaults = load_defaults()
        self._lock = threading.Lock()
        self._detector: Detector | None = None
        self._version = -1
        self._enabled = True
        self._checked = 0.0

    def _current(self) -> tuple[Detector, bool]:
        with self._lock:
            if self._detector is None or time.monotonic() - self._checked > self._cache_seconds:
                version, overrides = self.config.overrides()
                if self._detector is None or version != self._version:
                    self._detector = Detector(effective(self._defaults, overrides), self._windows, self._clock)
                    self._version = version
                self._enabled = self.config.enabled()
                self._checked = time.monotonic()
            return self._detector, self._enabled

    def refresh(self) -> None:
        """Forget the cache (after this container changed the scenarios or the switch)."""
        with self._lock:
            self._checked = 0.0
            self._detector = None

    def observe(self, events: Sequence[Event]) -> list[Trigger]:
        detector, enabled = self._current()
        return detector.observe(events) if enabled else []

    def sweep(self) -> list[Trigger]:
        detector, enabled = self._current()
        return detector.sweep() if enabled else []

    def scenarios(self) -> list[dict[str, Any]]:
        """Every scenario (enabled or not), with where it comes from."""
        _, overrides = self.config.overrides()
        shipped = {s.name for s in self._defaults}
        found = []
        for scenario in effective(self._defaults, overrides):
            origin = (
                "custom" if scenario.name not in shipped else ("edited" if scenario.name in overrides else "default")
            )
            found.append({**scenario.to_dict(), "origin": origin})
        return found

    def scenario(self, name: str) -> dict[str, Any]:
        for found in self.scenarios():
            if found["name"] == name:
                return found
        raise NotFoundError(f"No scenario named {name!r}")

    def put(self, name: str, data: dict[str, Any]) -> dict[str, Any]:
        # `origin` is what reading a scenario adds (default, edited, custom), not part of it: what GET answered
        # must be accepted back by PUT, so that a client can read, change one number and write.
        fields = {key: value for key, value in data.items() if key != "origin"}
        scenario = parse_scenario({**fields, "name": name})
        version, _ = self.config.overrides()
        self.config.save(name, scenario.to_dict(), version)
        self.refresh()
        return self.scenario(name)

    def remove(self, name: str) -> dict[str, Any]:
        """Custom scenarios are deleted; a shipped one is switched back to its default (or, if it was already,
        removed until someone puts it back)."""
        current = self.scenario(name)
        version, overrides = self.config.overrides()
        if name in overrides and current["origin"] == "edited":
            self.config.revert(name, version)
            self.refresh()
            return {"name": name, "result": "reverted to the shipped default"}
        self.config.save(name, None, version)
        self.refresh()
        return {"name": name, "result": "removed"}
