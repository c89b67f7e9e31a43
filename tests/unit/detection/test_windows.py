"""Window arithmetic: the bucket layout, its documented error bound against the exact window, and the exact
in-memory windows replay uses (threshold at exactly N, sliding, reset, late events, distinct values, sweeps)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.detection.windows import (
    Counted,
    InMemoryWindows,
    WindowSpec,
    bucket_index,
    bucket_seconds,
    bucketed_count,
    exact_count,
    key_text,
    parse_key_text,
    window_buckets,
)
from chalicelib.events.model import AUTH_FAILURE, LOG_AUTH, MEDIUM, Event

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
WINDOWS = st.sampled_from([60, 300, 600, 3600, 86400])


def event(second: float, ip: str = "203.0.113.7", user: str | None = "root") -> Event:
    return Event(T0 + timedelta(seconds=second), ip, AUTH_FAILURE, "sshd", LOG_AUTH, MEDIUM, username=user)


def counts_of(times: list[float], bucket: int) -> dict[int, int]:
    return dict(Counter(bucket_index(t, bucket) for t in times))


def test_ten_buckets_per_window_and_the_oldest_counts_whole() -> None:
    assert bucket_seconds(600) == 60 and bucket_seconds(86400) == 8640
    assert bucket_index(119.9, 60) == 1 and bucket_index(120, 60) == 2 and bucket_index(-0.5, 60) == -1
    assert window_buckets(1000, 600) == range(6, 17)  # (400, 1000]: 400 is bucket 6's start, 1000 is in bucket 16
    assert len(window_buckets(1030, 600)) == 11  # a window not aligned on buckets overlaps eleven


def test_exact_count_is_the_half_open_window() -> None:
    assert exact_count([400, 400.5, 999, 1000, 1000.1], 1000, 600) == 3  # (400, 1000]


@settings(max_examples=300)
@given(
    window=WINDOWS,
    times=st.lists(st.floats(min_value=0, max_value=200_000, allow_nan=False), max_size=60),
    at=st.floats(min_value=0, max_value=200_000, allow_nan=False),
)
def test_the_bucketed_count_is_bounded_by_the_exact_window_and_one_bucket_more(window, times, at) -> None:
    """The documented bound, for the events up to t: exact(t, W) <= bucketed(t) <= exact(t, W + b)."""
    times = [t for t in times if t <= at]
    bucket = bucket_seconds(window)
    bucketed = bucketed_count(counts_of(times, bucket), at, window)
    assert exact_count(times, at, window) <= bucketed <= exact_count(times, at, window + bucket)


@settings(max_examples=300)
@given(
    window=WINDOWS,
    times=st.lists(st.integers(min_value=0, max_value=100_000), min_size=1, max_size=60).map(sorted),
    later=st.floats(min_value=0, max_value=1, allow_nan=False),
)
def test_the_bucketed_window_never_misses_what_the_exact_one_counts(window, times, later) -> None:
    """Evaluated at any later time in the same bucket (the last event of a batch in it), it still counts at
    least what the exact window held at each event: no trigger of the exact window is lost."""
    bucket = bucket_seconds(window)
    counts = counts_of(times, bucket)
    for t in times:
        end_of_bucket = (bucket_index(t, bucket) + 1) * bucket
        evaluated = t + later * (end_of_bucket - t) * 0.999
        assert bucketed_count(counts, evaluated, window) >= exact_count(times, t, window)


def test_keys_as_text_and_back() -> None:
    assert key_text("203.0.113.7") == "203.0.113.7" and parse_key_text("203.0.113.7") == "203.0.113.7"
    key = ("2001:db8::1", "web|01", None)
    assert key_text(key) == '["2001:db8::1","web|01",null]'
    assert parse_key_text(key_text(key)) == key


def count_spec(threshold: int = 5, window: int = 600, scheduled: bool = False) -> WindowSpec:
    return WindowSpec("test", window, threshold, scheduled=scheduled)


def record(windows: InMemoryWindows, spec: WindowSpec, *events: Event):
    keys: dict = {}
    for found in events:
        keys.setdefault(found.source_ip, []).append(found)
    return windows.record([Counted(spec, keys)])


def test_the_threshold_is_reached_by_the_nth_event_exactly_then_the_window_is_emptied() -> None:
    windows, spec = InMemoryWindows(), count_spec()
    assert record(windows, spec, *(event(s) for s in range(4))) == []
    (hit,) = record(windows, spec, event(4), event(5))
    assert (hit.count, hit.at, hit.first_seen, hit.last_seen) == (5, event(4).time, T0, event(4).time)
    assert [e.time for e in hit.sample] == [event(s).time for s in range(5)]
    assert windows.current("test", "203.0.113.7") == (1, None)  # emptied at the 5th, the 6th starts anew


def test_the_window_slides_events_older_than_it_drop_out() -> None:
    windows, spec = InMemoryWindows(), count_spec()
    assert record(windows, spec, *(event(s) for s in (0, 100, 200, 300))) == []
    assert record(windows, spec, event(600)) == []  # (0, 600]: the event at 0 is out, four remain
    (hit,) = record(windows, spec, event(601))
    assert hit.count == 5 and hit.first_seen == event(100).time


def test_keys_are_counted_apart() -> None:
    windows, spec = InMemoryWindows(), count_spec(threshold=2)
    assert record(windows, spec, event(0, "198.51.100.1"), event(1, "198.51.100.2")) == []
    (hit,) = record(windows, spec, event(2, "198.51.100.2"))
    assert hit.key == "198.51.100.2"


def test_late_events_are_counted_in_time_order() -> None:
    windows, spec = InMemoryWindows(), count_spec(threshold=3)
    record(windows, spec, event(700), event(710))
    assert record(windows, spec, event(100)) == []  # late and, at 700, out of the window (100, 700]
    (hit,) = record(windows, spec, event(150))  # late but inside (110, 710]
    assert [e.time for e in hit.sample] == [event(s).time for s in (150, 700, 710)]
    assert hit.at == event(710).time


def test_a_held_key_is_not_counted_until_its_hold_ends() -> None:
    windows, spec = InMemoryWindows(), count_spec(threshold=2)
    (hit,) = record(windows, spec, event(0), event(1))
    assert windows.claim("test", hit.key, hit.at, event(100).time)
    assert not windows.claim("test", hit.key, event(50).time, event(200).time)  # held: refused
    assert record(windows, spec, event(10), event(20), event(99)) == []  # during the hold
    (again,) = record(windows, spec, event(99.5), event(100), event(101))
    assert [e.time for e in again.sample] == [event(100).time, event(101).time]
    assert windows.claim("test", hit.key, event(100).time, event(300).time)  # the old hold has ended


def test_distinct_values_with_repeats_and_events_without_a_value() -> None:
    windows = InMemoryWindows()
    spec = WindowSpec("enum", 600, 3, distinct=lambda e: e.username)
    names = ["root", "root", None, "admin", "root", "admin"]
    assert record(windows, spec, *(event(n, user=u) for n, u in enumerate(names))) == []
    assert windows.current("enum", "203.0.113.7") == (5, 2)
    (hit,) = record(windows, spec, event(10, user="test"))
    assert (hit.distinct, hit.count) == (3, 6)


def test_distinct_values_slide_out_of_the_window() -> None:
    windows = InMemoryWindows()
    spec = WindowSpec("enum", 600, 3, distinct=lambda e: e.username)
    record(windows, spec, event(0, user="a"), event(100, user="b"))
    assert record(windows, spec, event(650, user="c")) == []  # "a" left the window at 600
    assert windows.current("enum", "203.0.113.7") == (2, 2)
    (hit,) = record(windows, spec, event(660, user="a"))
    assert hit.distinct == 3


def test_scheduled_windows_count_at_ingest_and_are_evaluated_by_the_sweep() -> None:
    windows, spec = InMemoryWindows(), count_spec(threshold=3, window=3600, scheduled=True)
    assert record(windows, spec, *(event(s * 60) for s in range(5))) == []
    (hit,) = windows.sweep([spec], event(300).time)
    assert (hit.count, hit.at) == (5, event(300).time)
    assert windows.sweep([spec], event(360).time) == []  # nothing counted since the last sweep
    record(windows, spec, event(400))
    assert windows.sweep([spec], event(4000).time) == []  # emptied at the first sweep; one event since


def test_a_scheduled_window_below_its_threshold_at_sweep_time_does_not_reach() -> None:
    windows, spec = InMemoryWindows(), count_spec(threshold=3, window=600, scheduled=True)
    record(windows, spec, event(0), event(10), event(20))
    assert windows.sweep([spec], event(700).time) == []  # all three are older than the window by then


# Tick mode (replay): scheduled scenarios evaluated by `record` at each minute's end of a key's events.

MINUTE = timedelta(minutes=1)


def distinct_spec(threshold: int = 3, window: int = 3600) -> WindowSpec:
    return WindowSpec("users", window, threshold, distinct=lambda found: found.username, scheduled=True)


def test_with_a_tick_a_batch_of_many_minutes_is_evaluated_at_each_minute_end() -> None:
    windows, spec = InMemoryWindows(tick=MINUTE), count_spec(threshold=3, window=600, scheduled=True)
    # Two events in minute 0, two in minute 1 (the threshold is reached in minute 1), one in minute 30.
    hits = record(windows, spec, event(5), event(50), event(61), event(62), event(1800))
    assert [(hit.at, hit.count) for hit in hits] == [(T0 + timedelta(minutes=2), 4)]
    assert windows.sweep([spec], T0 + timedelta(minutes=30, seconds=59)) == []  # minute 30 has not ended
    assert windows.sweep([spec], T0 + timedelta(minutes=31)) == []  # ended: one event, below the threshold


def test_with_a_tick_the_sweep_evaluates_at_the_minute_end_not_at_its_own_time() -> None:
    windows, spec = InMemoryWindows(tick=MINUTE), count_spec(threshold=3, window=600, scheduled=True)
    assert record(windows, spec, event(0), event(10), event(20)) == []
    (hit,) = windows.sweep([spec], T0 + timedelta(hours=1))
    assert hit.at == T0 + MINUTE and hit.count == 3
    assert windows.sweep([spec], T0 + timedelta(hours=2)) == []  # evaluated once


def test_with_a_tick_a_key_that_reached_is_quiet_for_its_hold_within_the_batch() -> None:
    windows = InMemoryWindows(tick=MINUTE)
    spec = WindowSpec("test", 600, 3, scheduled=True, hold_seconds=3600)
    # Reached at the end of minute 0; minute 5's four events fall in the hold, minute 70's three do not.
    hits = record(windows, spec, *(event(s) for s in (0, 1, 2, 300, 301, 302, 303, 4200, 4201, 4202)))
    assert [hit.at for hit in hits] == [T0 + MINUTE]
    windows.claim("test", "203.0.113.7", T0 + MINUTE, T0 + MINUTE + timedelta(seconds=3600))
    (later,) = windows.sweep([spec], T0 + timedelta(hours=2))
    assert later.at == T0 + timedelta(minutes=71) and later.count == 3


def test_with_a_tick_a_late_event_takes_its_place_and_counts_at_the_next_evaluation() -> None:
    windows, spec = InMemoryWindows(tick=MINUTE), count_spec(threshold=3, window=120, scheduled=True)
    assert record(windows, spec, event(100), event(110)) == []
    assert record(windows, spec, event(90)) == []  # late: minute 1, whose evaluation is still due
    (hit,) = windows.sweep([spec], T0 + timedelta(minutes=5))
    assert hit.at == T0 + timedelta(minutes=2) and hit.first_seen == event(90).time and hit.count == 3


def _claimed(windows: InMemoryWindows, spec: WindowSpec, hit) -> bool:
    """The detector's part: a trigger only when the claim on its key is granted."""
    return windows.claim(spec.name, hit.key, hit.at, hit.at + timedelta(seconds=spec.hold_seconds))


def _sweep_every_minute(spec: WindowSpec, events: list[Event]) -> list[tuple]:
    """The minute schedule's way: one batch per minute, a sweep at each minute's end."""
    windows = InMemoryWindows()
    hits = []
    by_minute: dict[int, list[Event]] = {}
    for found in events:
        by_minute.setdefault(int((found.time - T0).total_seconds()) // 60, []).append(found)
    for minute, batch in sorted(by_minute.items()):
        record(windows, spec, *batch)
        swept = windows.sweep([spec], T0 + timedelta(minutes=minute + 1))
        hits += [hit for hit in swept if _claimed(windows, spec, hit)]
    return sorted((hit.key, hit.at, hit.count, hit.distinct, hit.first_seen, hit.last_seen) for hit in hits)


def _with_a_tick(spec: WindowSpec, events: list[Event], cuts: list[int]) -> list[tuple]:
    """Replay's way: batches cut anywhere, a sweep at each cut (at the next batch's first event)."""
    windows = InMemoryWindows(tick=MINUTE)
    hits = []
    bounds = sorted({0, *(cut % (len(events) + 1) for cut in cuts), len(events)})
    for start, end in pairwise(bounds):
        found = record(windows, spec, *events[start:end])
        now = events[end].time if end < len(events) else T0 + timedelta(days=30)
        found += windows.sweep([spec], now)
        hits += [hit for hit in sorted(found, key=lambda hit: hit.at) if _claimed(windows, spec, hit)]
    return sorted((hit.key, hit.at, hit.count, hit.distinct, hit.first_seen, hit.last_seen) for hit in hits)


@settings(max_examples=200, deadline=None)
@given(
    seconds=st.lists(st.integers(min_value=0, max_value=3 * 3600), min_size=1, max_size=80).map(sorted),
    who=st.lists(st.tuples(st.sampled_from(["198.51.100.1", "198.51.100.2"]), st.sampled_from(["a", "b", "c", None]))),
    cuts=st.lists(st.integers(min_value=0, max_value=80), max_size=6),
    distinct=st.booleans(),
    hold=st.sampled_from([0, 300, 3600]),
)
def test_a_tick_gives_the_evaluations_of_a_sweep_every_minute(seconds, who, cuts, distinct, hold) -> None:
    base = distinct_spec(threshold=3, window=600) if distinct else count_spec(threshold=4, window=600, scheduled=True)
    spec = WindowSpec(base.name, base.window_seconds, base.threshold, base.distinct, True, hold)
    parts = who or [("198.51.100.1", "a")]
    events = [event(second, *parts[index % len(parts)]) for index, second in enumerate(seconds)]
    assert _with_a_tick(spec, events, cuts) == _sweep_every_minute(spec, events)
