"""`scripts/replay` as users run it: golden samples (each log holds the decisions it must give), the human and
`--explain` outputs, failure exits, and no AWS import anywhere on its path."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
REPLAY = ROOT / "scripts" / "replay"
SAMPLES = Path(__file__).parent / "samples"
EXPECT = "# expect:"
OPTIONS = "# replay:"
COMPARED = ("ip", "scenario", "action", "at", "events")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # replay must need nothing of AWS
    return subprocess.run(
        [sys.executable, str(REPLAY), *args], capture_output=True, text=True, check=False, env=env, timeout=120
    )


def golden(path: Path) -> tuple[list[str], list[dict]]:
    options: list[str] = []
    expected = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(OPTIONS):
            options = line[len(OPTIONS) :].split()
        elif line.startswith(EXPECT):
            expected.append(json.loads(line[len(EXPECT) :]))
    return options, expected


def ordered(decisions: list[dict]) -> list[tuple]:
    return sorted(tuple(d[k] for k in COMPARED) for d in decisions)


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.log")), ids=lambda p: p.name)
def test_golden_replays(path: Path) -> None:
    options, expected = golden(path)
    assert expected, f"{path.name} expects no decision: give it at least one"
    done = run(str(path), *options, "--json")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    summary = lines.pop()["summary"]
    assert ordered(lines) == ordered(expected)
    assert summary["decisions"] == len(expected)
    assert summary["lines"] == len(path.read_text(encoding="utf-8").splitlines())
    for decision in lines:
        assert decision["sample"] and decision["reason"] and decision["first_seen"] <= decision["at"]


def test_the_human_summary_and_the_decisions() -> None:
    done = run(str(SAMPLES / "sshd-classic.log"), "--year", "2026")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "60 lines, 31 counted events, 5 decisions" in out
    table = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith(("ssh-", "user-"))}
    assert table["ssh-bruteforce"] == ["2", "0", "0"] and table["user-enumeration"] == ["0", "1", "0"]
    assert "2026-11-24T10:02:00Z  ban     203.0.113.7" in out
    assert "    Nov 24 10:00:00 web01 sshd[1001]: Failed password for root from 203.0.113.7 port 40001 ssh2" in out


def test_both_parsing_paths_count_the_same_events_and_decide_the_same() -> None:
    """The bulk path (`sshd.scan`) and `--explain`'s line parser report the same counted events and decisions."""
    sample = str(SAMPLES / "sshd-classic.log")
    bulk = run(sample, "--year", "2026", "--json")
    lines = run(sample, "--year", "2026", "--json", "--explain", "203.0.113.7")
    assert bulk.returncode == lines.returncode == 0, bulk.stderr + lines.stderr
    by_path = []
    for done in (bulk, lines):
        out = done.stdout.split("\nexplain ", 1)[0].splitlines()
        summary = json.loads(out[-1])["summary"]
        by_path.append((summary["events"], summary["decisions"], out[:-1]))
    assert by_path[0] == by_path[1]
    assert by_path[0][0] == 31


def _decisions(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[:-1]  # the summary names the file


def test_a_gzip_file_and_standard_input_replay_as_the_plain_file(tmp_path: Path) -> None:
    sample = SAMPLES / "sshd-classic.log"
    packed = tmp_path / "auth.log.2.gz"
    packed.write_bytes(gzip.compress(sample.read_bytes()))
    expected = _decisions(run(str(sample), "--year", "2026", "--json"))
    assert len(expected) == 5
    assert _decisions(run(str(packed), "--year", "2026", "--json")) == expected
    piped = subprocess.run(
        [sys.executable, str(REPLAY), "-", "--year", "2026", "--json"],
        input=sample.read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert _decisions(piped) == expected


def test_a_gzip_file_cut_short_is_a_clear_error(tmp_path: Path) -> None:
    packed = gzip.compress((SAMPLES / "sshd-classic.log").read_bytes())
    cut = tmp_path / "auth.log.gz"
    cut.write_bytes(packed[: len(packed) // 2])
    done = run(str(cut), "--year", "2026", "--json")
    assert done.returncode == 2
    assert done.stderr.startswith(f"replay: cannot read {cut}: ") and "Traceback" not in done.stderr


def test_a_log_across_new_year_takes_decembers_year_from_the_file_time(tmp_path: Path) -> None:
    stamps = ["Dec 31 23:59:30", "Dec 31 23:59:45", "Jan  1 00:00:00", "Jan  1 00:00:15", "Jan  1 00:00:30"]
    log = tmp_path / "auth.log"
    log.write_text(
        "".join(
            f"{stamp} web01 sshd[9]: Failed password for root from 203.0.113.7 port 4{n} ssh2\n"
            for n, stamp in enumerate(stamps)
        ),
        encoding="utf-8",
    )
    written = datetime(2027, 1, 1, 0, 5, tzinfo=UTC).timestamp()
    os.utime(log, (written, written))
    decisions = [json.loads(line) for line in _decisions(run(str(log), "--json"))]
    ssh = [d for d in decisions if d["scenario"] == "ssh-bruteforce"]
    assert [(d["at"], d["first_seen"], d["events"]) for d in ssh] == [
        ("2027-01-01T00:00:30Z", "2026-12-31T23:59:30Z", 5)
    ]


def test_stamps_in_local_time_take_the_timezone_given(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text((SAMPLES / "sshd-classic.log").read_text())
    first = json.loads(_decisions(run(str(log), "--year", "2026", "--timezone", "Europe/Paris", "--json"))[0])
    assert first["at"] == "2026-11-24T09:02:00Z"  # 10:02 in Paris
    done = run(str(log), "--year", "2026", "--timezone", "Mars/Olympus")
    assert done.returncode == 2 and "Unknown timezone 'Mars/Olympus'" in done.stderr


def test_a_reader_that_stops_early_gets_no_traceback() -> None:
    """`scripts/replay auth.log | head -1`: the pipe closes before replay writes; it stops quietly."""
    reader, writer = os.pipe()
    os.close(reader)  # closed before replay's first write, which then fails with EPIPE
    try:
        done = subprocess.run(
            [sys.executable, str(REPLAY), str(SAMPLES / "sshd-classic.log"), "--year", "2026"],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            timeout=120,
        )
    finally:
        os.close(writer)
    assert done.returncode == 1
    assert done.stderr == ""


def test_explain_shows_every_event_of_the_address_and_where_it_triggered() -> None:
    done = run(str(SAMPLES / "sshd-classic.log"), "--year", "2026", "--explain", "203.0.113.7")
    assert done.returncode == 0, done.stderr
    explained = done.stdout.split("explain 203.0.113.7:", 1)[1]
    assert explained.startswith(" 11 events")
    assert "    counted by no scenario" in explained  # the pam echoes and the disconnect
    assert "    ssh-bruteforce: 4/5 in 10m" in explained
    assert "    ssh-bruteforce: 5/5 in 10m" in explained
    assert (
        "=> ban by ssh-bruteforce at 2026-11-24T10:02:00Z: 5 failed logins in 10m from 203.0.113.7 (sshd)" in explained
    )
    assert "auth-low-and-slow: 5/20 in 24h (evaluated by the minute schedule)" in explained
    assert "198.51.100.23" not in explained
    done = run(str(SAMPLES / "sshd-classic.log"), "--year", "2026", "--explain", "192.0.2.44")
    assert "    ssh-bruteforce: not counted, held until 2026-11-24T11:10:20Z by its last trigger" in done.stdout


def test_the_year_of_classic_stamps_comes_from_the_option(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text((SAMPLES / "sshd-classic.log").read_text())
    done = run(str(log), "--year", "2024", "--json")
    first = json.loads(done.stdout.splitlines()[0])
    assert first["at"] == "2024-11-24T10:02:00Z"
    os.utime(log, (1_700_870_400, 1_700_870_400))  # written 25 November 2023: the default is the file's year
    done = run(str(log), "--json")
    assert json.loads(done.stdout.splitlines()[0])["at"] == "2023-11-24T10:02:00Z"


def test_other_scenarios_from_a_file(tmp_path: Path) -> None:
    scenarios = tmp_path / "s.yaml"
    scenarios.write_text(
        "- {name: any-two, description: d, filter: {kinds: [auth_failure]}, threshold: {count: 2}, window: 1m, "
        "action: alert}\n"
    )
    done = run(str(SAMPLES / "sshd-classic.log"), "--year", "2026", "--json", "--scenarios", str(scenarios))
    decisions = [json.loads(line) for line in done.stdout.splitlines()][:-1]
    assert {d["scenario"] for d in decisions} == {"any-two"}
    assert {d["ip"] for d in decisions} == {"203.0.113.7", "192.0.2.44"}


def test_failures_exit_2_with_a_message(tmp_path: Path) -> None:
    done = run(str(tmp_path / "missing.log"))
    assert done.returncode == 2 and "cannot read" in done.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {name: x, description: d, filter: {kinds: [nope]}, threshold: {count: 1}, window: 1m}")
    done = run(str(SAMPLES / "sshd-classic.log"), "--scenarios", str(bad))
    assert done.returncode == 2 and "invalid scenarios" in done.stderr and "filter.kinds" in done.stderr
    done = run(str(SAMPLES / "sshd-classic.log"), "--format", "nope")
    assert done.returncode == 2 and "invalid choice" in done.stderr


def test_an_empty_file_and_crlf_lines(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_text("")
    done = run(str(empty), "--json")
    assert json.loads(done.stdout)["summary"]["decisions"] == 0
    crlf = tmp_path / "crlf.log"
    crlf.write_bytes((SAMPLES / "sshd-classic.log").read_bytes().replace(b"\n", b"\r\n"))
    done = run(str(crlf), "--year", "2026", "--json")
    assert json.loads(done.stdout.splitlines()[-1])["summary"]["decisions"] == 5


def test_replay_imports_nothing_of_aws() -> None:
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['replay', {str(SAMPLES / 'sshd-classic.log')!r}, '--year', '2026', '--json']\n"
        "try:\n"
        f"    runpy.run_path({str(REPLAY)!r}, run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'moto'))\n"
        "print('AWS:', loaded, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False, cwd=ROOT)
    assert "AWS: []" in done.stderr, done.stderr
