"""Detection windows: how many events (or distinct values) a group key had within a scenario's window.

Two constraints decide the semantics.

1. Replay must ban what fail2ban bans: its sshd jail counts failures per address within `findtime` and bans
   at `maxretry`, then forgets the address's failures. So in memory (replay, unit tests) the window is an
   **exact sliding window**: at each event time t it holds the key's events in (t - W, t]; the threshold is
   reached by the Nth event exactly; reaching it empties the key's window (as fail2ban's ban does). A leaky
   bucket (CrowdSec's model) would not agree with fail2ban on the same file: it leaks continuously, so five
   failures spread over nine minutes never fill a bucket of capacity 5 that leaks one per two minutes.
   (fail2ban itself is not exact either: past `findtime` it scales its count by findtime / elapsed instead of
   dropping old failures; the benchmark reports where that makes the two differ.)
2. In DynamoDB, counting must be one atomic update per key per batch, shared by every Lambda container. Per-event
   timestamps would be one item write per event, so the window is **bucketed**: W is cut into ten buckets of
   b = W/10 (windows are whole multiples of ten seconds), each bucket a counter (`ADD`) or a string set of
   distinct values. The count at time t is the sum of the buckets that overlap (t - W, t], the bucket holding
   t - W included whole.

Error bound of the bucketed window, for every t and the events up to t: exact(t, W) <= bucketed(t) <=
exact(t, W + b), where exact(t, w) counts the events in (t - w, t]. So it never misses what the exact window
catches (DynamoWindows evaluates a batch at the last event of each bucket it touched, and any later time in a
bucket still holds every event the window held at an earlier one), and it may count events at most b older
than the window: a 10-minute window behaves at worst as an 11-minute one. `tests/unit/detection/
test_windows.py` checks both with hypothesis.

Batches and cooldown: a batch's events of one key are counted together. A key that reached its threshold is
claimed for a cooldown (`claim`) so that it triggers once, in one container, until its ban would have ended or
its window passed. `InMemoryWindows` is exact and single-process; `window_store.DynamoWindows` is the bucketed,
shared one. Both implement `Windows`.
"""

from __future__ import annotations

import math
from bisect import insort
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import NamedTuple, Protocol

from chalicelib.core.clock import EPOCH
from chalicelib.events.model import Event

BUCKETS = 10  # per window, in DynamoDB
SAMPLE_SIZE = 5

Key = str | tuple[str | None, ...]  # the source address alone, or (address, sensor, user name) parts


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """What a window counts for one scenario: `threshold` events, or distinct `distinct(event)` values."""

    name: str
    window_seconds: int
    threshold: int
    distinct: Callable[[Event], str | None] | None = None
    scheduled: bool = False  # counted at ingest, evaluated by `sweep`
    hold_seconds: int = 0  # how long a key that reached stays quiet (the scenario's cooldown); 0: unknown

    @property
    def bucket_seconds(self) -> int:
        return bucket_seconds(self.window_seconds)


@dataclass(frozen=True, slots=True)
class Counted:
    """One batch's events for one scenario, per group key, in arrival order."""

    spec: WindowSpec
    events: Mapping[Key, Sequence[Event]]


@dataclass(frozen=True, slots=True)
class Reached:
    """A key whose window reached its scenario's threshold."""

    scenario: str
    key: Key
    count: int  # events in the window (DynamoDB, distinct scenarios: events of the key in the batch)
    distinct: int | None
    first_seen: datetime
    last_seen: datetime
    at: datetime  # when it was reached: the Nth event's time, or the sweep's
    sample: tuple[Event, ...] = ()  # the first events of the window (up to SAMPLE_SIZE)


class Claim(NamedTuple):
    """A trigger's hold on its key: `key` of `scenario` quiet from `at` until `until`."""

    scenario: str
    key: Key
    at: datetime
    until: datetime


class Windows(Protocol):
    """Where windows live: in memory (exact) or in DynamoDB (bucketed, shared by containers)."""

    def record(self, batch: Sequence[Counted]) -> list[Reached]:
        """Count one batch; the keys of ingest-evaluated scenarios that reached their threshold."""
        ...

    def sweep(self, specs: Sequence[WindowSpec], now: datetime) -> list[Reached]:
        """Evaluate at `now` the keys of these scheduled scenarios that were counted since the last sweep."""
        ...

    def claim(self, scenario: str, key: Key, at: datetime, until: datetime) -> bool:
        """Hold `key` of `scenario` from `at` until `until`; False while an earlier claim still holds it."""
        ...

    def claim_all(self, claims: Sequence[Claim]) -> list[bool]:
        """`claim` each, in order (a key may come twice): which were granted. One batch's triggers at once."""
        ...


# Window arithmetic, pure: the bucket layout DynamoWindows uses, and the exact count it approximates.


def bucket_seconds(window_seconds: int) -> int:
    """The length of one of a window's ten buckets."""
    return max(1, window_seconds // BUCKETS)


def bucket_index(epoch: float, bucket: int) -> int:
    """The bucket holding time `epoch` (seconds since the epoch)."""
    return math.floor(epoch / bucket)


def window_buckets(epoch: float, window_seconds: int) -> range:
    """The buckets overlapping (epoch - W, epoch]: the one holding epoch - W counts whole."""
    bucket = bucket_seconds(window_seconds)
    return range(bucket_index(epoch - window_seconds, bucket), bucket_index(epoch, bucket) + 1)


def exact_count(times: Iterable[float], at: float, window_seconds: float) -> int:
    """How many of `times` fall in the sliding window (at - W, at]."""
    start = at - window_seconds
    return sum(1 for t in times if start < t <= at)


def bucketed_count(counts: Mapping[int, int], at: float, window_seconds: int) -> int:
    """The window's count from per-bucket counts, as DynamoWindows evaluates it."""
    return sum(counts.get(index, 0) for index in window_buckets(at, window_seconds))


def key_text(key: Key) -> str:
    """A key as one string (DynamoDB attribute names, sets): the address, or a JSON list of the parts."""
    if isinstance(key, str):
        return key
    import json  # noqa: PLC0415 - rare path (multi-part keys)

    return json.dumps(list(key), separators=(",", ":"))


def parse_key_text(text: str) -> Key:
    """The key `key_text` wrote (an address never starts with `[`)."""
    if not text.startswith("["):
        return text
    import json  # noqa: PLC0415

    return tuple(json.loads(text))


class _State:
    """One key's exact window: its events in time order and, for distinct scenarios, the values' counts.

    Eviction is lazy: a window holding fewer than `threshold` events (or values) cannot have reached it, so old
    events are dropped only when the count could matter, which also bounds an ingest window's memory by its
    threshold. `check` is the size at which the window is next trimmed: the threshold for ingest scenarios,
    twice the last trimmed size for scheduled ones (evaluated by `sweep`) and distinct ones (values repeat).
    """

    __slots__ = ("check", "due", "events", "values")

    def __init__(self, check: int) -> None:
        self.events: deque[Event] = deque()
        self.values: dict[str, int] = {}  # distinct scenarios only
        self.check = check
        self.due: datetime | None = None  # scheduled scenarios with a tick: when the key is next evaluated


class InMemoryWindows:
    """Exact sliding windows for one process: replay and unit tests.

    While a claim holds a key (its ban or alert cooldown), the key's events are not counted and its window
    starts empty when the hold ends. In production the ban stops those events at the firewall; a replayed log
    was written without the ban, and counting its banned attacker's lines would only re-reach a threshold
    whose trigger the claim refuses anyway.

    Scheduled scenarios, two ways. Without a `tick`, as the minute schedule runs them: `sweep(specs, now)`
    evaluates at `now` the keys counted since the last sweep, so a caller that wants an evaluation every minute
    records a minute at a time. With a `tick` (replay: a minute), `record` evaluates each key itself at the end
    of every tick that holds its events, before it counts a later tick's, and `sweep(specs, now)` evaluates the
    keys whose tick has ended by `now`: the same evaluations, at the same times, as a sweep after every tick, but
    a batch may span hours, which spares replay a batch (and its overhead) per minute of log. A late event (older
    than the key's newest) takes its place in the window and counts from the key's next evaluation.
    """

    def __init__(self, tick: timedelta | None = None) -> None:
        self._states: dict[str, dict[Key, _State]] = {}
        self._touched: dict[str, set[Key]] = {}  # without a tick: counted since the last sweep; with: due
        self._claims: dict[str, dict[Key, datetime]] = {}
        self._specs: dict[str, WindowSpec] = {}
        self._tick = tick

    def record(self, batch: Sequence[Counted]) -> list[Reached]:
        reached: list[Reached] = []
        for counted in batch:
            spec = counted.spec
            states = self._states.get(spec.name)
            if states is None:
                states = self._states[spec.name] = {}
                self._claims[spec.name] = {}
                self._specs[spec.name] = spec
            if spec.scheduled and self._tick is not None:
                self._count_ticks(spec, self._tick, states, counted.events, reached)
            elif spec.scheduled:
                self._touched.setdefault(spec.name, set()).update(counted.events)
                self._count_only(spec, states, counted.events)
            elif spec.distinct is None:
                self._count(spec, states, counted.events, reached)
            else:
                self._count_distinct(spec, spec.distinct, states, counted.events, reached)
        return reached

    def _unheld(
        self,
        spec: WindowSpec,
        states: dict[Key, _State],
        batch: Mapping[Key, Sequence[Event]],
        check: int,
        *,
        merge: bool = True,
    ) -> Iterator[tuple[Key, _State, Sequence[Event]]]:
        """Each key of the batch with its window (a new one trimmed at `check`) and the events to count: those
        its claim, if any, lets count (from the end of its hold; a key with none is left out). With `merge`, late
        events (older than the window's newest) come with the window's own, which is emptied, to count again."""
        claims = self._claims[spec.name]
        for key, listed in batch.items():
            events = listed
            if claims and key in claims:
                events = _after(claims, key, listed)
                if not events:
                    continue
            state = states.get(key)
            if state is None:
                state = states[key] = _State(check)
            elif merge and state.events and events[0].time < state.events[-1].time:
                events = _merge(state.events, state.values, events)
            yield key, state, events

    def _count(
        self, spec: WindowSpec, states: dict[Key, _State], batch: Mapping[Key, Sequence[Event]], out: list[Reached]
    ) -> None:
        # The hot loop of replay: a million-line log sends every counted event through here. A key whose
        # window cannot reach the threshold with this batch takes the batch in one `extend`; otherwise each
        # event is an append and a length test until the threshold is in reach.
        window = timedelta(seconds=spec.window_seconds)
        hold = timedelta(seconds=spec.hold_seconds)
        threshold = spec.threshold
        name = spec.name
        for key, state, events in self._unheld(spec, states, batch, threshold):
            queue = state.events
            if len(queue) + len(events) < threshold:
                queue.extend(events)
                continue
            quiet: datetime | None = None
            for event in events:
                if quiet is not None and event.time < quiet:
                    continue  # reached in this batch: the rest falls in the hold its claim will take
                queue.append(event)
                if len(queue) < threshold:
                    continue
                time = event.time
                start = time - window
                while queue[0].time <= start:
                    queue.popleft()
                if len(queue) >= threshold:
                    out.append(_reached(name, key, queue, None, time))
                    queue.clear()  # as fail2ban forgets a banned address's failures
                    quiet = time + hold

    def _count_only(self, spec: WindowSpec, states: dict[Key, _State], batch: Mapping[Key, Sequence[Event]]) -> None:
        """Scheduled scenarios: keep the window (trimmed when it doubles); `sweep` evaluates it."""
        window = timedelta(seconds=spec.window_seconds)
        value_of = spec.distinct
        for _, state, events in self._unheld(spec, states, batch, 2 * spec.threshold):
            queue, values = state.events, state.values
            if value_of is None:
                queue.extend(events)
            else:
                for event in events:
                    value = value_of(event)
                    if value is not None:
                        values[value] = values.get(value, 0) + 1
                        queue.append(event)
            if queue and len(queue) >= state.check:
                _evict(queue, values, value_of, queue[-1].time - window)
                state.check = max(2 * len(queue), 2 * spec.threshold)

    def _count_ticks(
        self,
        spec: WindowSpec,
        tick: timedelta,
        states: dict[Key, _State],
        batch: Mapping[Key, Sequence[Event]],
        out: list[Reached],
    ) -> None:
        """Scheduled scenarios with a tick: count, and evaluate each key at the end of each tick of its events."""
        window = timedelta(seconds=spec.window_seconds)
        due_keys = self._touched.setdefault(spec.name, set())
        for key, state, events in self._unheld(spec, states, batch, 2 * spec.threshold, merge=False):
            self._tick_through(spec, tick, key, state, events, out)
            if len(state.events) >= state.check:
                _evict(state.events, state.values, spec.distinct, state.events[-1].time - window)
                state.check = max(2 * len(state.events), 2 * spec.threshold)
            if state.due is not None:
                due_keys.add(key)
            else:
                due_keys.discard(key)

    def _tick_through(
        self, spec: WindowSpec, tick: timedelta, key: Key, state: _State, events: Sequence[Event], out: list[Reached]
    ) -> None:
        """One key's events of a batch, in order: each appended, after the evaluation of any tick it closes."""
        hold = timedelta(seconds=spec.hold_seconds)
        value_of = spec.distinct
        queue, values = state.events, state.values
        quiet: datetime | None = None
        for event in events:
            time = event.time
            if quiet is not None and time < quiet:
                continue  # reached in this batch: the rest falls in the hold its claim will take
            due = state.due
            if due is not None and time >= due:  # the key's tick is over: evaluate it first
                state.due = None
                if self._evaluate(spec, key, state, due, out):
                    quiet = due + hold
                    if time < quiet:
                        continue
            if value_of is not None:
                value = value_of(event)
                if value is None:
                    continue
                values[value] = values.get(value, 0) + 1
            if queue and time < queue[-1].time:
                insort(queue, event, key=_time)  # late: in its place, so that eviction stays in order
            else:
                queue.append(event)
            if state.due is None:
                state.due = _tick_end(time, tick)

    def _count_distinct(
        self,
        spec: WindowSpec,
        value_of: Callable[[Event], str | None],
        states: dict[Key, _State],
        batch: Mapping[Key, Sequence[Event]],
        out: list[Reached],
    ) -> None:
        window = timedelta(seconds=spec.window_seconds)
        hold = timedelta(seconds=spec.hold_seconds)
        threshold = spec.threshold
        name = spec.name
        for key, state, events in self._unheld(spec, states, batch, 2 * threshold):
            queue, values = state.events, state.values
            quiet: datetime | None = None
            for event in events:
                if quiet is not None and event.time < quiet:
                    continue
                value = value_of(event)
                if value is None:
                    continue  # nothing to tell apart (a failure without a user name)
                queue.append(event)
                values[value] = values.get(value, 0) + 1
                if len(values) < threshold and len(queue) < state.check:
                    continue
                time = event.time
                _evict(queue, values, value_of, time - window)
                state.check = max(2 * len(queue), 2 * threshold)  # trimmed again when it doubles
                if len(values) >= threshold:
                    out.append(_reached(name, key, queue, len(values), time))
                    queue.clear()
                    values.clear()
                    quiet = time + hold

    def sweep(self, specs: Sequence[WindowSpec], now: datetime) -> list[Reached]:
        reached: list[Reached] = []
        for spec in specs:
            states = self._states.get(spec.name, {})
            if self._tick is None:  # the keys counted since the last sweep, at `now`
                for key in self._touched.pop(spec.name, set()):
                    state = states.get(key)
                    if state is not None:
                        self._evaluate(spec, key, state, now, reached)
                continue
            due_keys = self._touched.get(spec.name, set())
            for key in list(due_keys):
                state = states[key]
                due = state.due
                if due is None or due <= now:  # (None: evaluated since, by `record`)
                    due_keys.discard(key)
                    state.due = None
                if due is not None and due <= now:
                    self._evaluate(spec, key, state, due, reached)
        return reached

    def _evaluate(self, spec: WindowSpec, key: Key, state: _State, at: datetime, out: list[Reached]) -> bool:
        """A scheduled scenario's evaluation of one key at `at`: whether it reached (its window is then emptied)."""
        distinct = spec.distinct is not None
        # Fewer events (or values) than the threshold cannot have reached it: skip the trimming.
        if len(state.values if distinct else state.events) < spec.threshold:
            return False
        _evict(state.events, state.values, spec.distinct, at - timedelta(seconds=spec.window_seconds))
        if len(state.values if distinct else state.events) < spec.threshold:
            return False
        held = self._claims[spec.name].get(key)
        reached = held is None or held <= at
        if reached:
            out.append(_reached(spec.name, key, state.events, len(state.values) if distinct else None, at))
        state.events.clear()
        state.values.clear()
        return reached

    def claim_all(self, claims: Sequence[Claim]) -> list[bool]:
        return [self.claim(*claim) for claim in claims]

    def claim(self, scenario: str, key: Key, at: datetime, until: datetime) -> bool:
        claims = self._claims.setdefault(scenario, {})
        held = claims.get(key)
        if held is not None and held > at:
            return False
        claims[key] = until
        return True

    def held_until(self, scenario: str, key: Key) -> datetime | None:
        """Until when a claim holds `key` of `scenario` (None: never claimed, or forgotten once over)."""
        return self._claims.get(scenario, {}).get(key)

    def current(self, scenario: str, key: Key) -> tuple[int, int | None]:
        """Events and distinct values in `key`'s window at its newest event (replay's `--explain`)."""
        spec = self._specs.get(scenario)
        state = self._states.get(scenario, {}).get(key)
        if spec is None or state is None or not state.events:
            return 0, (None if spec is None or spec.distinct is None else 0)
        start = state.events[-1].time - timedelta(seconds=spec.window_seconds)
        _evict(state.events, state.values, spec.distinct, start)
        return len(state.events), (None if spec.distinct is None else len(state.values))


def _time(event: Event) -> datetime:
    return event.time


def _tick_end(time: datetime, tick: timedelta) -> datetime:
    """The end of the tick holding `time` (ticks start at the epoch: a minute's end is its next minute)."""
    return time - (time - EPOCH) % tick + tick


def _after(claims: dict[Key, datetime], key: Key, events: Sequence[Event]) -> Sequence[Event]:
    """The events of a held key at or after the end of its hold."""
    held = claims[key]
    if events[0].time >= held:
        del claims[key]  # the hold is over: forget it, so the claims stay as few as the keys held
        return events
    if events[-1].time < held:
        return ()
    return [event for event in events if event.time >= held]


def _merge(queue: deque[Event], values: dict[str, int], events: Sequence[Event]) -> list[Event]:
    """Late events (older than the window's newest): the window and the new events, to count again in order."""
    merged = sorted([*queue, *events], key=_time)
    queue.clear()
    values.clear()
    return merged


def _evict(
    queue: deque[Event], values: dict[str, int] | None, value_of: Callable[[Event], str | None] | None, start: datetime
) -> None:
    """Drop the events at or before `start` (the window is (start, now])."""
    while queue and queue[0].time <= start:
        old = queue.popleft()
        if values is not None and value_of is not None:
            value = value_of(old)
            if value is not None:
                left = values[value] - 1
                if left > 0:
                    values[value] = left
                else:
                    del values[value]


def _reached(scenario: str, key: Key, queue: deque[Event], distinct: int | None, at: datetime) -> Reached:
    return Reached(
        scenario=scenario,
        key=key,
        count=len(queue),
        distinct=distinct,
        first_seen=queue[0].time,
        last_seen=queue[-1].time,
        at=at,
        sample=tuple(islice(queue, SAMPLE_SIZE)),
    )
