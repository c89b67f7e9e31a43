"""`scripts/bench`: run every benchmark and write docs/BENCHMARKS.md, each section under the command that
produced it, so any figure can be reproduced.

    scripts/bench                  # everything (about 15 minutes on 2 cores)
    scripts/bench --only platform  # one group: platform, index, parsers
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "BENCHMARKS.md"

GROUPS: dict[str, list[tuple[str, list[str]]]] = {
    "platform": [
        (
            "Platform: cold start, package, API edge, authentication, IOC import",
            ["-m", "bench.platform_bench", "--iocs", "10000"],
        )
    ],
    "index": [
        (
            "Decisions: the in-memory IP index against pytricia (1,000,000 decisions)",
            ["-m", "bench.index_bench", "--repeat", "5"],
        )
    ],
    "parsers": [("Events: sshd parser throughput", ["-m", "bench.parser_bench", "--lines", "1000000"])],
    "detection": [
        (
            "Detection: replay of a 1,000,000-line auth.log against fail2ban and CrowdSec",
            ["-m", "bench.detection_bench"],
        )
    ],
    "feeds": [("Feeds: render + publish of 1,000,000 decisions per format", ["-m", "bench.feeds_bench"])],
    "push": [("Push: 10,000 new bans to each loopback peer", ["-m", "bench.push_bench"])],
    "ingest": [
        (
            "Ingest: AWS requests per 1,000 events (moto) and events/s through POST /api/v1/ingest (local stack)",
            ["-m", "bench.ingest_bench", "--events", "20000", "--seconds", "30"],
        )
    ],
}


def run(args: list[str]) -> str:
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if done.returncode != 0:
        return f"**failed** (exit {done.returncode}):\n\n```\n{done.stderr[-3000:]}\n```"
    return "\n".join(line for line in done.stdout.splitlines() if not line.startswith('{"level"'))


def machine() -> str:
    cpu = "unknown"
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {platform.system()} {platform.machine()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(GROUPS), action="append")
    args = parser.parse_args(argv)
    chosen = args.only or list(GROUPS)
    existing = OUT.read_text() if OUT.exists() else ""
    sections = _split(existing)
    for group in chosen:
        for title, command in GROUPS[group]:
            print(f"running {group}: {' '.join(command)}", file=sys.stderr, flush=True)
            body = run(command)
            stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
            sections[group] = (
                f"## {title}\n\nCommand: `.venv/bin/python {' '.join(command)}` "
                f"(run by `scripts/bench --only {group}`, {stamp})\n\n{body}\n"
            )
    header = (
        "# Benchmarks\n\nProduced by `scripts/bench` (see `bench/`). Machine: " + machine() + ". "
        "Speed is measured here, never asserted in tests. AWS work is counted in requests: moto is a "
        "functional emulator, not a performance model.\n"
    )
    order = [g for g in GROUPS if g in sections] + [g for g in sections if g not in GROUPS]
    # Sections are stripped and joined by one blank line, so rewriting a report leaves the others as they were.
    body = "\n".join(f"<!-- group:{g} -->\n{sections[g].strip()}\n" for g in order)
    OUT.write_text(header + "\n" + body)
    print(f"wrote {OUT}", file=sys.stderr)
    return 0


def _split(text: str) -> dict[str, str]:
    """The sections of an earlier report, so running one group keeps the others."""
    sections: dict[str, str] = {}
    current = None
    for line in text.splitlines(keepends=True):
        if line.startswith("<!-- group:") and line.rstrip().endswith("-->"):
            current = line.strip()[len("<!-- group:") : -len("-->")].strip()
            sections[current] = ""
        elif current:
            sections[current] += line
    return sections


if __name__ == "__main__":
    sys.exit(main())
