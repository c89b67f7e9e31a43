"""Benchmark: rendering and publishing feeds from a million decisions, per format, against join + gzip.

Why it exists: the feed publisher re-renders every feed from every ban in force, and the goal (issue 7) is that
render + publish of 1,000,000 decisions in any one format stays within 1.5x of the plainest possible
pipeline, a Python `"\\n".join(values)` of the same list followed by `gzip.compress` (default level 9).

    .venv/bin/python -m bench.feeds_bench                     # 1,000,000 decisions
    .venv/bin/python -m bench.feeds_bench --decisions 20000   # small, for tests

Data (seeded): 75% IPv4 (95% /32, 5% /16-/30, mostly /24 and /28), 25% IPv6 in 2000::/3 (60% /128, 40%
/48-/64); 20% permanent, the rest ending 1 minute to 90 days ahead; five scenarios as comments; UUID ids.
The decisions are real `Decision` objects, as `DecisionQueries.in_force()` returns them.

Measured per format, best of `--repeat` runs, each from the decisions to the objects in S3:
- prepare: `catalog.table_of` (the values read from the decisions and sorted once: shared by every format when
  the publisher renders them all, counted here in full for each format; the ends, ids and comments are read
  from the decisions when a format first needs them, so that time falls under render);
- render: `render.render` for the `all` feed, no entry limit (every ban: the worst case), or the default
  device limits (`catalog.DEFAULT_MAX_ENTRIES`) in the second table;
- publish: SHA-256 and `PutObject` of each object to moto S3 in-process (moto is a functional emulator: its
  put copies the body and computes its MD5, roughly what S3's client side costs; no network).
Then one real `FeedPublisher.publish` of the whole catalogue (every format, default limits) and an unchanged
re-publish, with their S3 request counts.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import hashlib
import os
import platform
import random
import shlex
import socket
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.decisions.model import Decision
from chalicelib.distribution.feeds.catalog import DEFAULT_MAX_ENTRIES, object_key, table_of
from chalicelib.distribution.feeds.render import FORMATS, render

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
V4_PREFIXES = {16: 1, 20: 1, 22: 2, 24: 10, 26: 2, 27: 2, 28: 6, 29: 3, 30: 3}
V6_PREFIXES = {48: 4, 56: 2, 64: 4}
SCENARIOS = ("crowdsecurity/ssh-bf", "http-probing", "port-scan", "blocklist:spamhaus-drop", "manual")
GOAL = 1.5


def generate(count: int, seed: int) -> list[Decision]:
    """The seeded decisions (unique values)."""
    rng = random.Random(seed)
    v4_lengths, v4_weights = list(V4_PREFIXES), list(V4_PREFIXES.values())
    v6_lengths, v6_weights = list(V6_PREFIXES), list(V6_PREFIXES.values())
    seen: set[str] = set()
    out: list[Decision] = []
    while len(out) < count:
        if rng.random() < 0.75:
            prefix = 32 if rng.random() < 0.95 else rng.choices(v4_lengths, v4_weights)[0]
            first = rng.getrandbits(32) >> (32 - prefix) << (32 - prefix)
            value = f"{socket.inet_ntop(socket.AF_INET, first.to_bytes(4, 'big'))}/{prefix}"
        else:
            prefix = 128 if rng.random() < 0.6 else rng.choices(v6_lengths, v6_weights)[0]
            first = ((1 << 125) | rng.getrandbits(125)) >> (128 - prefix) << (128 - prefix)
            value = f"{socket.inet_ntop(socket.AF_INET6, first.to_bytes(16, 'big'))}/{prefix}"
        if value in seen:
            continue
        seen.add(value)
        until = None if rng.random() < 0.2 else NOW + timedelta(seconds=rng.randrange(60, 90 * 86_400))
        uid = f"{rng.getrandbits(128):032x}"
        out.append(
            Decision(
                id=f"{uid[:8]}-{uid[8:12]}-{uid[12:16]}-{uid[16:20]}-{uid[20:]}",
                value=value,
                origin="scenario",
                scenario=rng.choice(SCENARIOS),
                until=until,
                created_at=NOW,
            )
        )
    return out


def best(runs: int, job: Callable[[], Any]) -> tuple[float, Any]:
    """The fastest of `runs` runs of `job` (and its last result)."""
    times, result = [], None
    for _ in range(runs):
        gc.collect()
        started = time.perf_counter()
        result = job()
        times.append(time.perf_counter() - started)
    return min(times), result


def baseline(values: list[str], level: int = 9) -> bytes:
    return gzip.compress("\n".join(values).encode(), compresslevel=level)


def pipeline(decisions: list[Decision], fmt: str, store: Any, limits: bool) -> dict[str, Any]:
    """table_of → render → sha256 + put, timed step by step."""
    t0 = time.perf_counter()
    table = table_of(decisions)
    t1 = time.perf_counter()
    limit = DEFAULT_MAX_ENTRIES.get(fmt) if limits else None
    objects = render(table, fmt, name="all", now=NOW, max_entries=limit)
    t2 = time.perf_counter()
    for rendered in objects:
        sha = hashlib.sha256(rendered.body).hexdigest()
        store.put(object_key("bench", rendered.variant), rendered.body, rendered.content_type, {"sha256": sha})
    t3 = time.perf_counter()
    return {
        "prepare": t1 - t0,
        "render": t2 - t1,
        "publish": t3 - t2,
        "total": t3 - t0,
        "objects": len(objects),
        "bytes": sum(len(o.body) for o in objects),
        "entries": max(o.entries for o in objects),
        "dropped": sum(o.dropped for o in objects),
    }


def measure(decisions: list[Decision], fmt: str, store: Any, limits: bool, runs: int) -> dict[str, Any]:
    """Best total of `runs` pipelines (each from a fresh table, so nothing is cached between runs)."""
    results = []
    for _ in range(runs):
        gc.collect()
        results.append(pipeline(decisions, fmt, store, limits))
    return min(results, key=lambda r: r["total"])


def table(rows: list[dict[str, Any]], base: float) -> list[str]:
    lines = [
        "| format | objects | bytes | entries | dropped | prepare s | render s | publish s | total s | × baseline "
        "| ≤ 1.5× |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in rows:
        ratio = r["total"] / base
        lines.append(
            f"| {r['format']} | {r['objects']} | {r['bytes']:,} | {r['entries']:,} | {r['dropped']:,} | "
            f"{r['prepare']:.2f} | {r['render']:.2f} | {r['publish']:.2f} | {r['total']:.2f} | {ratio:.2f} | "
            f"{'yes' if ratio <= GOAL else 'no'} |"
        )
    return lines


def run(args: argparse.Namespace, command: str) -> str:
    from moto import mock_aws  # noqa: PLC0415 - the benchmark's only moto user

    from chalicelib.core.aws import AwsClients  # noqa: PLC0415
    from chalicelib.core.clock import FixedClock  # noqa: PLC0415
    from chalicelib.core.settings import Settings  # noqa: PLC0415
    from chalicelib.distribution.feeds.publisher import FeedOptions, FeedPublisher  # noqa: PLC0415
    from chalicelib.distribution.feeds.store import FeedState, FeedStore  # noqa: PLC0415
    from devstack.bootstrap import create_all  # noqa: PLC0415

    for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}.items():
        os.environ.setdefault(name, value)
    started = time.perf_counter()
    decisions = generate(args.decisions, args.seed)
    generated = time.perf_counter() - started
    values = [d.value for d in decisions]
    base9, packed = best(args.repeat, lambda: baseline(values))
    base6, _ = best(args.repeat, lambda: baseline(values, 6))
    out = [
        f"Command: `{command}`",
        "",
        f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()} {platform.machine()}."
        f" {len(decisions):,} decisions (generated in {generated:.1f} s), best of {args.repeat} runs.",
        "",
        f"Baseline: `gzip.compress('\\n'.join(values).encode())` = **{base9:.2f} s** "
        f"({len(packed):,} bytes gzipped); at gzip level 6: {base6:.2f} s. Goal: total ≤ {GOAL} × {base9:.2f} s "
        f"= {GOAL * base9:.2f} s per format.",
        "",
    ]
    with mock_aws():
        settings = Settings(jwt_secret="bench-secret-that-is-long-enough-0123456789")
        aws = AwsClients(settings.region)
        create_all(aws, settings)
        store = FeedStore(aws.client("s3"), settings.bucket)
        for limits, title in ((False, "no entry limit (every ban)"), (True, "default device limits")):
            rows = [{"format": f, **measure(decisions, f, store, limits, args.repeat)} for f in FORMATS]
            out += [f"**Per format, {title}:**", "", *table(rows, base9), ""]

        class InForce:
            def in_force(self, type_: str = "ban") -> list[Decision]:
                return decisions

        clock = FixedClock(NOW)
        state = FeedState(_counters(aws, settings))
        publisher = FeedPublisher(store, state, InForce(), clock, FeedOptions(formats=FORMATS))  # type: ignore[arg-type]
        gc.collect()
        t0 = time.perf_counter()
        first = publisher.publish("bench")
        t1 = time.perf_counter()
        clock.advance(60)
        second = publisher.publish("bench")
        t2 = time.perf_counter()
    out += [
        "**One publish of the whole catalogue** (`FeedPublisher.publish`: feed `all`, 7 formats, 9 objects, "
        "default limits, prepare shared):",
        "",
        "| publish | seconds | per format | × baseline per format | objects written | S3 requests |",
        "|---|---:|---:|---:|---:|---:|",
        f"| first (verifying: HEAD + PUT each) | {t1 - t0:.2f} | {(t1 - t0) / len(FORMATS):.2f} | "
        f"{(t1 - t0) / len(FORMATS) / base9:.2f} | {first['written']} | {first['s3_requests']} |",
        f"| unchanged | {t2 - t1:.2f} | {(t2 - t1) / len(FORMATS):.2f} | {(t2 - t1) / len(FORMATS) / base9:.2f} | "
        f"{second['written']} | {second['s3_requests']} |",
        "",
    ]
    return "\n".join(out) + "\n"


def _counters(aws: Any, settings: Any) -> Any:
    from chalicelib.core.dynamo import DynamoTable  # noqa: PLC0415

    return DynamoTable(aws.client("dynamodb"), settings.counters_table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    shown = ["python", "-m", "bench.feeds_bench", *(sys.argv[1:] if argv is None else argv)]
    print(run(args, shlex.join(shown)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
