"""Parser throughput: the sshd parser against a plain single-regex loop, on one generated auth.log, in one run.

Replay must push a million-line auth.log through full parsing (events with time, address, kind, user) at 1.25M
lines/s or better. The baseline is the simplest thing that could work: one anchored regex per line that reads the
stamp, host, user, address and port of `Failed password` lines and builds nothing else. A second reference, one
`re.search` for the literal `sshd[...]: Failed password`, shows the floor a regex engine reaches when it can skip
most of each line. All runners are timed in CPU time, interleaved, best of `--repeat`: this machine is shared.

The log is generated from a seed: about 20% sshd lines (failures, invalid users, preauth probes, logins, session
lines that are not events) among cron, systemd, sudo and kernel noise, a few lines per second so that stamps
repeat as they do in real logs, from a pool of attacker addresses (a few IPv6).

    .venv/bin/python -m bench.parser_bench [--lines 200000] [--seed 7] [--sshd-share 0.2] [--repeat 3] [--iso]
    .venv/bin/python -m bench.parser_bench --lines 1000000 --write /tmp/auth.log
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chalicelib.events.parsers import ParseContext, reset_caches
from chalicelib.events.parsers.sshd import parse, parse_lines

START = datetime(2026, 11, 24, tzinfo=UTC)
TARGET = 1_250_000  # lines/s
BASELINE = re.compile(
    r"(\w{3} [ \d]\d [\d:]{8}|\d{4}-\S+) (\S+) sshd\[\d+\]: "
    r"Failed password for (?:invalid user )?(\S+) from (\S+) port (\d+)"
)
LITERAL = re.compile(r"sshd\[\d+\]: Failed password for (?:invalid user )?(\S+) from (\S+) port (\d+)")

USERS = ["root", "admin", "test", "user", "oracle", "ubuntu", "postgres", "git", "pi", "guest", "ftpuser"]
NOISE = [
    "CRON[{pid}]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
    "CRON[{pid}]: pam_unix(cron:session): session closed for user root",
    "CRON[{pid}]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)",
    "systemd[1]: Started session-{n}.scope - Session {n} of User alice.",
    "systemd-logind[812]: New session {n} of user alice.",
    "systemd-logind[812]: Session {n} logged out. Waiting for processes to exit.",
    "sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl status nginx",
    "sudo: pam_unix(sudo:session): session opened for user root(uid=0) by alice(uid=1000)",
    "sudo: pam_unix(sudo:session): session closed for user root",
    "kernel: [{n}.123456] [UFW BLOCK] IN=eth0 OUT= SRC={ip} DST=192.0.2.10 LEN=40 PROTO=TCP SPT={port} DPT=23",
    "systemd[1]: Starting apt-daily.service - Daily apt download activities...",
    "polkitd[700]: Registered Authentication Agent for unix-session:{n}",
]
SSHD = [  # (weight, template): what a busy internet-facing sshd writes
    (30, "Failed password for {user} from {ip} port {port} ssh2"),
    (15, "Failed password for invalid user {user} from {ip} port {port} ssh2"),
    (15, "Invalid user {user} from {ip} port {port}"),
    (10, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user=root"),
    (10, "Connection closed by authenticating user {user} {ip} port {port} [preauth]"),
    (8, "Received disconnect from {ip} port {port}:11: Bye Bye [preauth]"),
    (8, "Disconnected from invalid user {user} {ip} port {port} [preauth]"),
    (5, "pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)"),
    (5, "pam_unix(sshd:session): session closed for user alice"),
    (4, "error: kex_exchange_identification: Connection closed by remote host"),
    (4, "Connection closed by {ip} port {port}"),
    (3, "Did not receive identification string from {ip} port {port}"),
    (2, "Accepted publickey for alice from 198.51.100.7 port {port} ssh2: ED25519 SHA256:YWxpY2UncyBrZXk"),
    (2, "Received disconnect from 198.51.100.7 port {port}:11: disconnected by user"),
    (2, "Disconnected from user alice 198.51.100.7 port {port}"),
]


def generate(lines: int, seed: int, sshd_share: float, iso: bool) -> list[str]:
    """A reproducible auth.log of `lines` lines, `sshd_share` of them from sshd."""
    rng = random.Random(seed)
    pool = [f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"]
    pool += [
        f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}" for _ in range(2999)
    ]
    pool += [f"2001:db8:{rng.randint(0, 65535):x}::{rng.randint(1, 65535):x}" for _ in range(100)]
    weights = [weight for weight, _ in SSHD]
    templates = [template for _, template in SSHD]
    out = []
    when = START
    for number in range(lines):
        when += timedelta(milliseconds=rng.randint(0, 250))
        stamp = when.isoformat(timespec="microseconds") if iso else when.strftime("%b %e %H:%M:%S")
        values = {
            "pid": rng.randint(1000, 99999),
            "n": number,
            "ip": rng.choice(pool),
            "port": rng.randint(1024, 65535),
            "user": rng.choice(USERS),
        }
        if rng.random() < sshd_share:
            body = f"sshd[{rng.randint(1000, 99999)}]: " + rng.choices(templates, weights)[0].format(**values)
        else:
            body = rng.choice(NOISE).format(**values)
        out.append(f"{stamp} web01 {body}")
    return out


def run_sshd(lines: list[str], context: ParseContext) -> int:
    found = 0
    for line in lines:
        if parse(line, context) is not None:
            found += 1
    return found


def run_sshd_lines(lines: list[str], context: ParseContext) -> int:
    return sum(1 for _ in parse_lines(lines, context))


def run_baseline(lines: list[str], context: ParseContext) -> int:
    return _regex_loop(BASELINE.match, lines)


def run_literal(lines: list[str], context: ParseContext) -> int:
    return _regex_loop(LITERAL.search, lines)


def _regex_loop(find: Callable[[str], re.Match[str] | None], lines: list[str]) -> int:
    found = 0
    for line in lines:
        match = find(line)
        if match is not None:
            match.groups()
            found += 1
    return found


RUNNERS: dict[str, Callable[[list[str], ParseContext], int]] = {
    "sshd parse_lines (full events)": run_sshd_lines,
    "sshd parse() per line (full events)": run_sshd,
    "plain regex loop (header + Failed password)": run_baseline,
    "literal re.search (Failed password only)": run_literal,
}


def measure(lines: list[str], repeat: int) -> list[dict]:
    """Best time of `repeat` rounds for each runner, the runners interleaved so a busy machine slows all alike."""
    best = dict.fromkeys(RUNNERS, float("inf"))
    found = dict.fromkeys(RUNNERS, 0)
    for _ in range(repeat):
        for name, runner in RUNNERS.items():
            reset_caches()  # every run starts cold, as a replay of a new file does
            context = ParseContext(year=2026)
            started = time.process_time()
            found[name] = runner(lines, context)
            best[name] = min(best[name], time.process_time() - started)
    return [
        {
            "name": name,
            "seconds": round(best[name], 4),
            "lines_per_s": round(len(lines) / best[name]),
            "matches": found[name],
        }
        for name in RUNNERS
    ]


def main() -> None:
    """Generate the log, time the runners, print a table and one JSON line."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--lines", type=int, default=200_000)
    options.add_argument("--seed", type=int, default=7)
    options.add_argument("--sshd-share", type=float, default=0.2)
    options.add_argument("--repeat", type=int, default=5)
    options.add_argument("--iso", action="store_true", help="rsyslog ISO 8601 stamps instead of classic ones")
    options.add_argument("--write", type=Path, help="also write the generated log here")
    args = options.parse_args()

    lines = generate(args.lines, args.seed, args.sshd_share, args.iso)
    if args.write:
        args.write.write_text("\n".join(lines) + "\n", encoding="utf-8")
    kinds = Counter(event.kind for line in lines if (event := parse(line, ParseContext(year=2026))) is not None)
    results = measure(lines, args.repeat)
    sshd_lines = sum(" sshd[" in line for line in lines)
    print(f"{len(lines):,} lines, {sshd_lines:,} from sshd, stamps {'ISO 8601' if args.iso else 'classic'}")
    for row in results:
        print(f"  {row['name']:<42} {row['lines_per_s']:>12,} lines/s  {row['matches']:>8,} matches")
    ratio = results[0]["lines_per_s"] / results[2]["lines_per_s"]
    verdict = "meets" if results[0]["lines_per_s"] >= TARGET else "misses"
    print(f"  parse_lines: {ratio:.2f}x the plain loop, {verdict} the {TARGET:,} lines/s target")
    print(f"  events by kind: {dict(sorted(kinds.items()))}")
    print(json.dumps({"lines": len(lines), "iso": args.iso, "results": results, "ratio": round(ratio, 3)}))


if __name__ == "__main__":
    main()
