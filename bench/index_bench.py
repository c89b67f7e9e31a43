"""Benchmark: Vigil's in-memory IP index against pytricia on the same seeded data.

Why it exists: `chalicelib.decisions.index.IpIndex` answers "is this address banned?" on every request, and it
promises at least pytricia's lookup rate (a C patricia trie) within 1.2x its memory. This script checks that
promise on a reproducible data set and prints a markdown table.

    .venv/bin/python -m bench.index_bench                 # 1,000,000 entries, 1,000,000 lookups
    .venv/bin/python -m bench.index_bench --entries 5000  # small, for tests

Data: entries are 75% IPv4 (60% /32, 40% /16-/28 weighted towards /24 and /28) and 25% IPv6 in 2000::/3
(half /128, half /48-/64); 90% bans, 10% allow entries, and 2% reuse an earlier entry's network (several
decisions on one network). Queries are address strings, half inside a random entry, half outside every
entry (checked by an independent merged-interval search), shuffled.

Measures, each structure in its own fresh process so that one cannot disturb the other:
- build: wall time to load every entry from its text form, one build at a time;
- memory: growth of the process's resident set (RSS from /proc/self/statm, after gc) across the build.
  RSS rather than tracemalloc because pytricia allocates with C malloc, which tracemalloc cannot see;
  the entry ids and network texts exist before the build and are not counted for either structure;
- lookups/s: every query once per pass, `--repeat` passes per structure interleaved in rounds (so that load
  from elsewhere on the machine hits every structure alike), best and median pass reported.
  `lookup_kind(ip, "ban")` for Vigil against `.get(ip)` on the IPv4 or IPv6 trie of bans for pytricia (its
  per-family dispatch inlined in the loop); Vigil's all-matches `lookup(ip)` has no pytricia equivalent.
  A frozen pytricia (read-only after `freeze()`) is measured too: it is a fair rival for an index that is
  rebuilt rather than updated;
- agreement: for the first `--sample` queries every structure must name the same most specific ban network
  and entry.
"""

from __future__ import annotations

import argparse
import bisect
import gc
import json
import os
import platform
import random
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

# Both imported here, before any baseline, so that neither module counts as index memory.
import pytricia

from chalicelib.decisions.index import IpIndex

V4_PREFIXES = {16: 1, 17: 1, 18: 1, 19: 1, 20: 2, 21: 2, 22: 4, 23: 4, 24: 40, 25: 6, 26: 8, 27: 10, 28: 20}
V6_PREFIXES = {48: 3, 52: 1, 56: 3, 60: 1, 64: 6}
STRUCTURES = ("vigil", "pytricia", "pytricia-frozen")
LABELS = {"vigil": "Vigil `IpIndex`", "pytricia": "pytricia 1.3.0", "pytricia-frozen": "pytricia 1.3.0, frozen"}
_V6_UNICAST = 0b001 << 125  # 2000::/3


def generate(entries: int, queries: int, seed: int) -> tuple[list[tuple[str, str, str]], list[str]]:
    """The seeded data set: `(entry_id, network, kind)` rows and query address strings."""
    rng = random.Random(seed)
    rows: list[tuple[str, str, str]] = []
    spans: list[tuple[int, int, int]] = []  # (version, first, last) per row, for hits and the miss check
    v4_lengths, v4_weights = list(V4_PREFIXES), list(V4_PREFIXES.values())
    v6_lengths, v6_weights = list(V6_PREFIXES), list(V6_PREFIXES.values())
    for number in range(entries):
        kind = "allow" if rng.random() < 0.10 else "ban"
        if spans and rng.random() < 0.02:
            pick = rng.randrange(len(rows))
            rows.append((f"dec-{number:07d}", rows[pick][1], kind))
            spans.append(spans[pick])
            continue
        if rng.random() < 0.75:
            version, bits = 4, 32
            prefixlen = 32 if rng.random() < 0.6 else rng.choices(v4_lengths, v4_weights)[0]
            value = rng.getrandbits(32)
        else:
            version, bits = 6, 128
            prefixlen = 128 if rng.random() < 0.5 else rng.choices(v6_lengths, v6_weights)[0]
            value = _V6_UNICAST | rng.getrandbits(125)
        host_bits = bits - prefixlen
        first = value >> host_bits << host_bits
        text = _text(version, first) if host_bits == 0 else f"{_text(version, first)}/{prefixlen}"
        rows.append((f"dec-{number:07d}", text, kind))
        spans.append((version, first, first + (1 << host_bits) - 1))
    return rows, _queries(rng, spans, queries)


def _queries(rng: random.Random, spans: list[tuple[int, int, int]], count: int) -> list[str]:
    covered = {4: _merge([s for s in spans if s[0] == 4]), 6: _merge([s for s in spans if s[0] == 6])}
    out = [_text(v, rng.randint(first, last)) for v, first, last in rng.choices(spans, k=count // 2)]
    while len(out) < count:
        version = 4 if rng.random() < 0.75 else 6
        value = rng.getrandbits(32) if version == 4 else _V6_UNICAST | rng.getrandbits(125)
        starts, ends = covered[version]
        slot = bisect.bisect_right(starts, value) - 1
        if slot < 0 or ends[slot] < value:  # outside every entry
            out.append(_text(version, value))
    rng.shuffle(out)
    return out


def _merge(spans: list[tuple[int, int, int]]) -> tuple[list[int], list[int]]:
    starts: list[int] = []
    ends: list[int] = []
    for _, first, last in sorted(spans):
        if ends and first <= ends[-1] + 1:
            ends[-1] = max(ends[-1], last)
        else:
            starts.append(first)
            ends.append(last)
    return starts, ends


def _text(version: int, value: int) -> str:
    if version == 4:
        return socket.inet_ntop(socket.AF_INET, value.to_bytes(4, "big"))
    return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big"))


# --- worker: one structure, one fresh process ------------------------------------------------------------


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _vigil(rows: list[tuple[str, str, str]]) -> tuple[Callable[[str], object], dict[str, Callable], object]:
    index = IpIndex.build(rows)

    def answer(ip: str) -> object:
        match = index.lookup_kind(ip, "ban")
        return None if match is None else [str(match.network), match.entry_id]

    def longest(queries: list[str]) -> None:
        lookup_kind = index.lookup_kind
        for ip in queries:
            lookup_kind(ip, "ban")

    def every(queries: list[str]) -> None:
        lookup = index.lookup
        for ip in queries:
            lookup(ip)

    return answer, {"longest": longest, "all": every}, index


def _pytricia(
    rows: list[tuple[str, str, str]], frozen: bool = False
) -> tuple[Callable[[str], object], dict[str, Callable], object]:
    kinds = {row[2] for row in rows} | {"ban"}
    tries = {(4, kind): pytricia.PyTricia(32, socket.AF_INET) for kind in kinds}
    tries |= {(6, kind): pytricia.PyTricia(128, socket.AF_INET6) for kind in kinds}
    for entry_id, network, kind in rows:
        trie = tries[6 if ":" in network else 4, kind]
        if trie.has_key(network):  # several decisions on one network: keep them all, first one first
            held = trie.get(network)
            trie.insert(network, (*held, entry_id) if isinstance(held, tuple) else (held, entry_id))
        else:
            trie.insert(network, entry_id)
    if frozen:  # read-only and faster to search: a fair rival for an index rebuilt on each refresh
        for trie in tries.values():
            trie.freeze()
    bans4, bans6 = tries[4, "ban"], tries[6, "ban"]

    def answer(ip: str) -> object:
        trie = bans6 if ":" in ip else bans4
        held = trie.get(ip)
        if held is None:
            return None
        return [trie.get_key(ip), held if isinstance(held, str) else held[0]]

    def longest(queries: list[str]) -> None:
        get4, get6 = bans4.get, bans6.get
        for ip in queries:
            (get6 if ":" in ip else get4)(ip)

    return answer, {"longest": longest}, tries


def worker(structure: str, data: Path, sample: int) -> None:
    """Build one structure from the files in `data`, report its cost, then time passes when the driver asks.

    Protocol, one JSON line per request on stdout: the build report first, then `time <loop>` gives
    `{"seconds": ...}`, `answers` gives the sampled answers, `quit` (or end of input) ends the process.
    """
    rows = [tuple(line.split("\t")) for line in (data / "entries.tsv").read_text().splitlines()]
    queries = (data / "queries.txt").read_text().splitlines()
    builders = {"vigil": _vigil, "pytricia": _pytricia, "pytricia-frozen": partial(_pytricia, frozen=True)}
    gc.collect()
    before = _rss()
    started = time.perf_counter()
    answer, loops, keep = builders[structure](rows)  # type: ignore[arg-type]
    built = time.perf_counter() - started
    gc.collect()
    _reply({"build_s": built, "rss_bytes": _rss() - before, "loops": sorted(loops)})
    for request in sys.stdin:
        verb, _, loop = request.strip().partition(" ")
        if verb == "time":
            started = time.perf_counter()
            loops[loop](queries)
            _reply({"seconds": time.perf_counter() - started})
        elif verb == "answers":
            _reply({"answers": [answer(ip) for ip in queries[:sample]]})
        else:
            break
    del keep


def _reply(message: dict[str, object]) -> None:
    print(json.dumps(message), flush=True)


# --- driver -----------------------------------------------------------------------------------------------


def run(args: argparse.Namespace, command: str) -> tuple[str, bool]:
    """Generate the data, measure every structure in its own process; the markdown report and agreement."""
    rows, queries = generate(args.entries, args.queries, args.seed)
    with tempfile.TemporaryDirectory(prefix="vigil-index-bench-") as tmp:
        data = Path(tmp)
        (data / "entries.tsv").write_text("".join(f"{e}\t{n}\t{k}\n" for e, n, k in rows))
        (data / "queries.txt").write_text("".join(f"{q}\n" for q in queries))
        results = _measure(data, args)
    base = results["pytricia"]
    answers = {name: result["answers"] for name, result in results.items()}
    agree = sum(len({json.dumps(a) for a in same}) == 1 for same in zip(*answers.values(), strict=True))
    hits = sum(a is not None for a in base["answers"])
    sampled = len(base["answers"])
    v6 = sum(":" in n for _, n, _ in rows)
    distinct = len({n for _, n, _ in rows})
    lines = [
        f"# IP index benchmark: {args.entries:,} entries, {len(queries):,} lookups",
        "",
        f"Command: `{command}`  ",
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
        f"seed {args.seed}; {args.repeat} interleaved passes of every lookup per structure.  ",
        f"Entries: {args.entries - v6:,} IPv4, {v6:,} IPv6, {distinct:,} distinct networks. "
        "Memory: RSS growth of a fresh process across the build.",
        "",
        "| structure | build (s) | memory (MiB) | memory vs pytricia | is-banned lookups/s, best (median) "
        "| best vs pytricia | all-matches lookups/s, best |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, result in results.items():
        best, median = result["best"], result["median"]
        every = f"{best['all']:,.0f}" if "all" in best else "n/a"
        lines.append(
            f"| {LABELS[name]} | {result['build_s']:.2f} | {result['rss_bytes'] / 2**20:.1f} | "
            f"{result['rss_bytes'] / max(base['rss_bytes'], 1):.2f}x | "
            f"{best['longest']:,.0f} ({median['longest']:,.0f}) | "
            f"{best['longest'] / base['best']['longest']:.2f}x | {every} |"
        )
    lines += [
        "",
        f"Agreement: {agree:,} of {sampled:,} sampled lookups give the same most specific ban network and "
        f"entry in every structure ({hits:,} of them banned).",
    ]
    return "\n".join(lines) + "\n", agree == sampled


def _measure(data: Path, args: argparse.Namespace) -> dict[str, dict]:
    """Build each structure in its own process, one at a time, then time them in interleaved rounds.

    Interleaving matters on a shared machine: a burst of load from elsewhere then slows one round of every
    structure instead of all the passes of one.
    """
    root = Path(__file__).resolve().parent.parent
    workers: dict[str, subprocess.Popen[str]] = {}
    results: dict[str, dict] = {}
    try:
        for name in STRUCTURES:
            command = [sys.executable, "-m", "bench.index_bench", "--worker", name]
            command += ["--data", str(data), "--sample", str(args.sample)]
            workers[name] = subprocess.Popen(
                command, cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            results[name] = _ask(workers[name], None) | {"seconds": {}}
        for _ in range(args.repeat):
            for name, process in workers.items():
                for loop in results[name]["loops"]:
                    seconds = _ask(process, f"time {loop}")["seconds"]
                    results[name]["seconds"].setdefault(loop, []).append(seconds)
        for name, process in workers.items():
            results[name]["answers"] = _ask(process, "answers")["answers"]
            process.communicate("quit\n")
    finally:
        for process in workers.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    for result in results.values():
        result["best"] = {loop: args.queries / min(times) for loop, times in result["seconds"].items()}
        result["median"] = {loop: args.queries / statistics.median(times) for loop, times in result["seconds"].items()}
    return results


def _ask(process: subprocess.Popen[str], request: str | None) -> dict:
    assert process.stdin is not None and process.stdout is not None
    if request is not None:
        process.stdin.write(request + "\n")
        process.stdin.flush()
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"benchmark worker {process.args!r} stopped (exit {process.wait()})")
    return json.loads(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("--repeat", type=int, default=5, help="interleaved timed passes per structure")
    parser.add_argument("--sample", type=int, default=20_000, help="lookups compared between structures")
    parser.add_argument("--out", type=Path, default=None, help="also write the report here")
    parser.add_argument("--worker", choices=STRUCTURES, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.data, args.sample)
        return 0
    shown = ["python", "-m", "bench.index_bench", *(sys.argv[1:] if argv is None else argv)]
    report, agreed = run(args, shlex.join(shown))
    print(report, end="")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)
    if not agreed:
        print("Vigil and pytricia disagree on some lookups", file=sys.stderr)
    return 0 if agreed else 1


if __name__ == "__main__":
    sys.exit(main())
