"""Tests for the log-shipping agent (scripts/agent) against a real HTTP server on loopback.

The agent is a suffix-less script, so it is loaded with importlib from its path. Time is a fake clock
wherever the agent would wait, so retry and Retry-After behaviour is checked without real sleeping.
"""

from __future__ import annotations

import dataclasses
import importlib.machinery
import importlib.util
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

AGENT_PATH = Path(__file__).resolve().parents[3] / "scripts" / "agent"
KEY = "vk_live_s3cr3t-key-0123456789"


def _load_agent() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("vigil_agent", str(AGENT_PATH))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module  # dataclasses look their module up by name
    loader.exec_module(module)
    return module


agent = _load_agent()


class FakeClock:
    """Time that moves only when the agent sleeps; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_700_000_000.0 + self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Recorded:
    method: str
    path: str
    headers: Message  # case-insensitive, as HTTP header names are
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class IngestServer:
    """A real HTTP server on 127.0.0.1 that records requests and answers from a script (default 200)."""

    def __init__(self) -> None:
        self.port = 0
        self.requests: list[Recorded] = []
        self.replies: deque[tuple[int, dict[str, str], bytes]] = deque()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, status: int, body: bytes = b"{}", headers: dict[str, str] | None = None) -> None:
        self.replies.append((status, headers or {}, body))

    def posts(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST"]

    def start(self) -> None:
        ingest = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                ingest.requests.append(Recorded(self.command, self.path, self.headers, body))
                status, headers, reply = ingest.replies.popleft() if ingest.replies else (200, {}, b"{}")
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST = _handle

            def log_message(self, *args: Any) -> None:
                pass

        # Rebinding the same port is what "Vigil is back" looks like to the agent.
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


@pytest.fixture
def server() -> Any:
    ingest = IngestServer()
    ingest.start()
    yield ingest
    ingest.stop()


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "auth.log"


@pytest.fixture
def agent_stderr(capsys: pytest.CaptureFixture[str]) -> pytest.CaptureFixture[str]:
    """The agent's log events at debug level, on the stderr that capsys captures."""
    agent.setup_logging(True, KEY)
    return capsys


def sshd(n: int, tag: str = "a") -> list[str]:
    """Lines in the shape of Debian's auth.log, written from sshd's documented messages."""
    return [
        f"Nov 24 10:{i:02d}:00 web-1 sshd[{4000 + i}]: Failed password for invalid user {tag}{i} "
        f"from 203.0.113.{i + 1} port {50000 + i} ssh2"
        for i in range(n)
    ]


def append(path: Path, lines: list[str]) -> None:
    with path.open("a") as fh:
        fh.writelines(line + "\n" for line in lines)


def make_config(server: IngestServer, tmp_path: Path, log_path: Path, *extra: str) -> Any:
    where = [] if "--journald" in extra else ["--path", str(log_path)]
    argv = [
        "--url", server.url, "--sensor", "web-1", *where,
        "--state-file", str(tmp_path / "state" / "state.json"), "--spool-dir", str(tmp_path / "spool"),
        "--once", *extra,
    ]  # fmt: skip
    return agent.parse_args(argv, {"VIGIL_API_KEY": KEY})


def run_once(config: Any, clock: FakeClock | None = None) -> int:
    return agent.build_agent(config, clock or FakeClock(), threading.Event(), random.Random(7)).run()


def spooled(tmp_path: Path, sub: str = "") -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((tmp_path / "spool" / sub).glob("*.json"))]


def test_batches_lines_and_posts_the_documented_body(server: IngestServer, tmp_path: Path, log_path: Path):
    append(log_path, sshd(7))
    config = make_config(server, tmp_path, log_path, "--from-start", "--batch-size", "3", "--format", "sshd")

    assert run_once(config) == 0

    posts = server.posts()
    assert [p.path for p in posts] == ["/api/v1/ingest"] * 3
    bodies = [p.json() for p in posts]
    assert all(set(b) == {"sensor", "format", "batch_id", "lines", "timezone"} for b in bodies)
    assert {b["timezone"] for b in bodies} == {agent.local_zone()}  # the host's, by default
    assert [len(b["lines"]) for b in bodies] == [3, 3, 1]
    assert [line for b in bodies for line in b["lines"]] == sshd(7)
    assert {b["sensor"] for b in bodies} == {"web-1"} and {b["format"] for b in bodies} == {"sshd"}
    assert len({b["batch_id"] for b in bodies}) == 3
    headers = posts[0].headers
    assert headers["X-API-Key"] == KEY
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == f"vigil-agent/{agent.VERSION}"
    assert spooled(tmp_path) == []


def test_the_stamps_timezone_is_sent_as_configured(server: IngestServer, tmp_path: Path, log_path: Path):
    append(log_path, sshd(2))
    assert run_once(make_config(server, tmp_path, log_path, "--from-start", "--timezone", "Europe/Paris")) == 0
    assert [p.json()["timezone"] for p in server.posts()] == ["Europe/Paris"]
    argv = ["--url", server.url, "--path", str(log_path)]
    assert agent.parse_args(argv, {"VIGIL_API_KEY": KEY, "VIGIL_TIMEZONE": "+05:30"}).timezone == "+05:30"


def test_the_hosts_timezone_is_found_where_distributions_keep_it(tmp_path: Path):
    debian = tmp_path / "debian"
    debian.mkdir()
    (debian / "timezone").write_text("Europe/Paris\n")
    assert agent.local_zone(debian) == "Europe/Paris"
    redhat = tmp_path / "redhat"
    redhat.mkdir()
    (redhat / "localtime").symlink_to("/usr/share/zoneinfo/America/New_York")
    assert agent.local_zone(redhat) == "America/New_York"
    bare = tmp_path / "bare"
    bare.mkdir()
    offset = time.strftime("%z")
    assert agent.local_zone(bare) == f"{offset[:3]}:{offset[3:]}"


def test_first_start_begins_at_the_end_and_remembers_it(server: IngestServer, tmp_path: Path, log_path: Path):
    append(log_path, sshd(3, "old"))
    config = make_config(server, tmp_path, log_path)

    assert run_once(config) == 0
    assert server.posts() == []

    append(log_path, sshd(2, "new"))
    assert run_once(config) == 0
    assert [p.json()["lines"] for p in server.posts()] == [sshd(2, "new")]


def test_resumes_from_saved_offset_after_restart(server: IngestServer, tmp_path: Path, log_path: Path):
    append(log_path, sshd(2, "first"))
    config = make_config(server, tmp_path, log_path, "--from-start")
    run_once(config)
    state = json.loads((tmp_path / "state" / "state.json").read_text())
    assert state["inode"] == log_path.stat().st_ino and state["offset"] == log_path.stat().st_size

    append(log_path, sshd(2, "second"))
    run_once(config)

    assert [p.json()["lines"] for p in server.posts()] == [sshd(2, "first"), sshd(2, "second")]


def test_a_line_still_being_written_waits_for_its_newline(server: IngestServer, tmp_path: Path, log_path: Path):
    log_path.write_text("Nov 24 10:00:00 web-1 sshd[1]: Invalid user ad")
    config = make_config(server, tmp_path, log_path, "--from-start")
    run_once(config)
    assert server.posts() == []

    append(log_path, ["min from 198.51.100.7 port 4242"])
    run_once(config)
    expected = "Nov 24 10:00:00 web-1 sshd[1]: Invalid user admin from 198.51.100.7 port 4242"
    assert [p.json()["lines"] for p in server.posts()] == [[expected]]


def test_rotation_by_rename_finishes_the_old_file_then_switches(log_path: Path):
    append(log_path, sshd(2, "a"))
    source = agent.FileSource(log_path, None, from_start=True)
    assert [text for text, _ in source.read(100)] == sshd(2, "a")

    with log_path.open("a") as writer:  # the syslog daemon still holds the old file open
        writer.write(sshd(1, "late")[0] + "\n")
        log_path.rename(log_path.with_name("auth.log.1"))
        append(log_path, sshd(2, "b"))
        writer.write(sshd(1, "later")[0] + "\n")

    lines = source.read(100)
    assert [text for text, _ in lines] == sshd(1, "late") + sshd(1, "later") + sshd(2, "b")
    assert lines[-1][1]["inode"] == log_path.stat().st_ino
    source.close()


def test_rotation_while_agent_was_down_resumes_in_the_rotated_file(
    server: IngestServer, tmp_path: Path, log_path: Path
):
    append(log_path, sshd(2, "a"))
    config = make_config(server, tmp_path, log_path, "--from-start")
    run_once(config)
    append(log_path, sshd(1, "unread"))
    log_path.rename(log_path.with_name("auth.log.1"))
    append(log_path, sshd(1, "b"))

    run_once(config)

    assert [p.json()["lines"] for p in server.posts()][1] == sshd(1, "unread") + sshd(1, "b")


def test_copytruncate_restarts_at_zero(log_path: Path):
    append(log_path, sshd(3, "a"))
    source = agent.FileSource(log_path, None, from_start=True)
    source.read(100)
    inode = log_path.stat().st_ino

    with log_path.open("r+") as fh:  # what logrotate's copytruncate does after copying
        fh.truncate(0)
    append(log_path, sshd(1, "b"))

    assert log_path.stat().st_ino == inode
    assert [text for text, _ in source.read(100)] == sshd(1, "b")
    source.close()


def test_spools_while_down_and_replays_in_order_with_same_batch_ids(
    server: IngestServer, tmp_path: Path, log_path: Path
):
    append(log_path, sshd(6))
    config = make_config(server, tmp_path, log_path, "--from-start", "--batch-size", "2")
    server.stop()
    clock = FakeClock()

    assert run_once(config, clock) == agent.EX_TEMPFAIL
    waiting = spooled(tmp_path)
    assert [b["lines"] for b in waiting] == [sshd(6)[0:2], sshd(6)[2:4], sshd(6)[4:6]]
    assert {p.stat().st_mode & 0o777 for p in (tmp_path / "spool").glob("*.json")} == {0o600}
    assert clock.sleeps and all(0 < s <= 300 for s in clock.sleeps)

    server.start()
    assert run_once(config) == 0  # a restart: the spool is sent before anything new

    assert [p.json() for p in server.posts()] == waiting
    assert spooled(tmp_path) == []


def test_a_batch_keeps_its_id_across_retries(server: IngestServer, tmp_path: Path, log_path: Path):
    append(log_path, sshd(2))
    server.answer(500, b'{"error": {"code": "internal"}}')
    server.answer(503)
    clock = FakeClock()

    assert run_once(make_config(server, tmp_path, log_path, "--from-start"), clock) == 0

    ids = [p.json()["batch_id"] for p in server.posts()]
    assert len(ids) == 3 and len(set(ids)) == 1
    assert len(clock.sleeps) == 2 and clock.sleeps[1] > clock.sleeps[0] / 2


def test_429_retry_after_is_honoured(server: IngestServer, tmp_path: Path, log_path: Path):
    append(log_path, sshd(1))
    server.answer(429, b'{"error": {"code": "rate_limited"}}', {"Retry-After": "7"})
    clock = FakeClock()

    assert run_once(make_config(server, tmp_path, log_path, "--from-start"), clock) == 0

    assert clock.sleeps == [7.0]
    assert len({p.json()["batch_id"] for p in server.posts()}) == 1 and len(server.posts()) == 2


def test_shipper_does_not_send_before_retry_after(server: IngestServer, tmp_path: Path):
    clock = FakeClock()
    spool = agent.Spool(tmp_path / "spool", 10_000_000)
    spool.add({"sensor": "s", "format": "sshd", "batch_id": "b-1", "lines": ["x"]})
    client = agent.IngestClient(server.url, KEY, agent.ssl.create_default_context(), 5, clock)
    shipper = agent.Shipper(spool, client, clock, 300, random.Random(1))
    server.answer(429, headers={"Retry-After": "30"})

    assert shipper.deliver_pending() is False
    clock.now += 29
    assert shipper.deliver_pending() is False
    assert len(server.posts()) == 1
    clock.now += 1
    assert shipper.deliver_pending() is True
    assert len(server.posts()) == 2


def test_replay_stops_between_batches_once_asked_to(server: IngestServer, tmp_path: Path):
    spool = agent.Spool(tmp_path / "spool", 10_000_000)
    for i in range(3):
        spool.add({"sensor": "s", "format": "sshd", "batch_id": f"b-{i}", "lines": ["x"]})
    client = agent.IngestClient(server.url, KEY, agent.ssl.create_default_context(), 5, FakeClock())
    shipper = agent.Shipper(spool, client, FakeClock(), 300, random.Random(1))
    stop = threading.Event()
    stop.set()

    assert shipper.deliver_pending(stop) is False
    assert server.posts() == [] and len(spool.pending()) == 3


def test_retry_after_as_http_date():
    now = 1_700_000_000.0
    assert agent.parse_retry_after("Tue, 14 Nov 2023 22:14:20 GMT", now) == pytest.approx(60.0)
    assert agent.parse_retry_after("120", now) == 120.0
    assert agent.parse_retry_after("soon", now) is None


def test_backoff_grows_with_jitter_up_to_the_cap(server: IngestServer, tmp_path: Path):
    clock = FakeClock()
    spool = agent.Spool(tmp_path / "spool", 10_000_000)
    spool.add({"sensor": "s", "format": "sshd", "batch_id": "b-1", "lines": ["x"]})
    client = agent.IngestClient(server.url, KEY, agent.ssl.create_default_context(), 5, clock)
    shipper = agent.Shipper(spool, client, clock, 8.0, random.Random(3))
    delays = []
    for _ in range(7):
        server.answer(500)
        assert shipper.deliver_pending() is False
        delays.append(shipper.seconds_until_next_attempt())
        clock.now += delays[-1]

    ceilings = [1, 2, 4, 8, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)  # jittered, not lock-step


def test_400_moves_the_batch_to_rejected(
    server: IngestServer, tmp_path: Path, log_path: Path, agent_stderr: pytest.CaptureFixture[str]
):
    append(log_path, sshd(2))
    server.answer(400, b'{"error": {"code": "invalid_input", "message": "unknown format"}}')

    assert run_once(make_config(server, tmp_path, log_path, "--from-start")) == 0

    assert spooled(tmp_path) == []
    assert spooled(tmp_path, "rejected") == [server.posts()[0].json()]
    assert "unknown format" in agent_stderr.readouterr().err


def test_401_keeps_the_batch_for_later(server: IngestServer, tmp_path: Path, log_path: Path):
    append(log_path, sshd(2))
    for _ in range(agent.ONCE_ATTEMPTS + 2):
        server.answer(401, b'{"error": {"code": "unauthorized"}}')

    assert run_once(make_config(server, tmp_path, log_path, "--from-start")) == agent.EX_TEMPFAIL

    assert [b["lines"] for b in spooled(tmp_path)] == [sshd(2)]
    assert spooled(tmp_path, "rejected") == []


def test_redirects_are_not_followed(server: IngestServer, tmp_path: Path, log_path: Path):
    append(log_path, sshd(1))
    for _ in range(agent.ONCE_ATTEMPTS + 2):
        server.answer(302, headers={"Location": f"{server.url}/elsewhere"})

    run_once(make_config(server, tmp_path, log_path, "--from-start"))

    assert {r.path for r in server.requests} == {"/api/v1/ingest"}
    assert len(spooled(tmp_path)) == 1


def test_api_key_never_appears_in_logs(
    server: IngestServer,
    tmp_path: Path,
    log_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    append(log_path, sshd(4))
    key_file = tmp_path / "api-key"
    key_file.write_text(KEY + "\n")
    server.answer(400, json.dumps({"error": {"message": f"bad request from key {KEY}"}}).encode())
    server.answer(500, f"upstream saw {KEY}".encode())
    monkeypatch.delenv("VIGIL_API_KEY", raising=False)
    argv = [
        "--url", server.url, "--api-key-file", str(key_file), "--path", str(log_path), "--from-start",
        "--state-file", str(tmp_path / "state.json"), "--spool-dir", str(tmp_path / "spool"),
        "--batch-size", "2", "--once", "--verbose",
    ]  # fmt: skip

    assert agent.main(argv, clock=FakeClock(), rng=random.Random(1)) == 0

    err = capsys.readouterr().err
    assert "batch rejected" in err and "delivery failed" in err
    assert KEY not in err and "[redacted]" in err
    assert all(r.headers["X-API-Key"] == KEY for r in server.posts())
    assert KEY not in repr(agent.parse_args(argv, {}))


def test_spool_is_bounded_and_drops_oldest(tmp_path: Path, agent_stderr: pytest.CaptureFixture[str]):
    spool = agent.Spool(tmp_path / "spool", 1000)
    for i in range(6):
        spool.add({"sensor": "s", "format": "sshd", "batch_id": f"b-{i}", "lines": ["x" * 200]})

    names = [p.name for p in spool.pending()]
    assert names and sum(p.stat().st_size for p in spool.pending()) <= 1000
    assert names[-1].endswith("b-5.json") and not any(n.endswith("b-0.json") for n in names)
    assert "spool full, dropped oldest batch" in agent_stderr.readouterr().err


def test_spool_continues_numbering_after_restart(tmp_path: Path):
    first = agent.Spool(tmp_path / "spool", 10_000_000)
    first.add({"batch_id": "b-1", "lines": []})
    second = agent.Spool(tmp_path / "spool", 10_000_000)
    second.add({"batch_id": "b-2", "lines": []})
    assert [p.name.split("-", 1)[1] for p in second.pending()] == ["b-1.json", "b-2.json"]


def test_daemon_flushes_on_interval(server: IngestServer, tmp_path: Path, log_path: Path):
    log_path.touch()
    config = make_config(server, tmp_path, log_path, "--flush-interval", "0.1")
    config = dataclasses.replace(config, once=False)
    stop = threading.Event()
    runner = agent.build_agent(config, agent.SystemClock(stop), stop, random.Random(1))
    thread = threading.Thread(target=runner.run)
    thread.start()
    try:
        append(log_path, sshd(3))
        deadline = time.monotonic() + 10
        while not server.posts() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)
    assert [p.json()["lines"] for p in server.posts()] == [sshd(3)]


def test_sigterm_spools_the_open_batch_and_saves_state(server: IngestServer, tmp_path: Path, log_path: Path):
    append(log_path, sshd(3))
    argv = [
        sys.executable, str(AGENT_PATH), "--url", server.url, "--path", str(log_path), "--from-start",
        "--state-file", str(tmp_path / "state.json"), "--spool-dir", str(tmp_path / "spool"),
        "--flush-interval", "600", "--verbose",
    ]  # fmt: skip
    env = {**os.environ, "VIGIL_API_KEY": KEY}
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env)
    watchdog = threading.Timer(30, proc.kill)
    watchdog.start()
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "lines read" in line:
                break
        proc.send_signal(signal.SIGTERM)
        assert proc.wait() == 0
    finally:
        watchdog.cancel()

    assert [b["lines"] for b in spooled(tmp_path)] == [sshd(3)]
    assert json.loads((tmp_path / "state.json").read_text())["offset"] == log_path.stat().st_size
    assert server.posts() == []


FAKE_JOURNALCTL = """#!{python}
import json, sys
entries = [
    {{"__CURSOR": "c1", "__REALTIME_TIMESTAMP": "1700000000000000", "_HOSTNAME": "web-1",
      "SYSLOG_IDENTIFIER": "sshd", "_PID": "42", "MESSAGE": "Failed password for root from 192.0.2.9 port 22 ssh2"}},
    {{"__CURSOR": "c2", "__REALTIME_TIMESTAMP": "1700000001500000", "_HOSTNAME": "web-1",
      "SYSLOG_IDENTIFIER": "sshd", "SYSLOG_PID": "43", "MESSAGE": [73, 110, 118, 97, 108, 105, 100, 32, 255]}},
]
with open({calls!r}, "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
args = sys.argv[1:]
if "--after-cursor" in args:
    after = args[args.index("--after-cursor") + 1]
    entries = entries[[e["__CURSOR"] for e in entries].index(after) + 1:]
if "--lines=1" in args:
    entries = entries[-1:]
for entry in entries:
    print(json.dumps(entry))
"""


def test_journald_source_ships_entries_and_resumes_after_cursor(server: IngestServer, tmp_path: Path, log_path: Path):
    fake = tmp_path / "journalctl"
    calls = tmp_path / "calls.jsonl"
    fake.write_text(FAKE_JOURNALCTL.format(python=sys.executable, calls=str(calls)))
    fake.chmod(0o755)
    config = make_config(
        server, tmp_path, log_path, "--journald", "--unit", "ssh", "--from-start", "--journalctl", str(fake)
    )

    assert run_once(config) == 0
    assert run_once(config) == 0

    assert [p.json()["lines"] for p in server.posts()] == [
        [
            "2023-11-14T22:13:20.000000+00:00 web-1 sshd[42]: Failed password for root from 192.0.2.9 port 22 ssh2",
            "2023-11-14T22:13:21.500000+00:00 web-1 sshd[43]: Invalid \ufffd",
        ]
    ]
    invocations = [json.loads(line) for line in calls.read_text().splitlines()]
    assert invocations[0][2:4] == ["--unit", "ssh"] and "--no-tail" in invocations[0]
    assert invocations[1][-2:] == ["--after-cursor", "c2"]


def test_journald_first_start_begins_after_newest_entry(server: IngestServer, tmp_path: Path, log_path: Path):
    fake = tmp_path / "journalctl"
    fake.write_text(FAKE_JOURNALCTL.format(python=sys.executable, calls=str(tmp_path / "calls.jsonl")))
    fake.chmod(0o755)
    config = make_config(server, tmp_path, log_path, "--journald", "--journalctl", str(fake))

    assert run_once(config) == 0

    assert server.posts() == []
    assert json.loads((tmp_path / "state" / "state.json").read_text())["cursor"] == "c2"


def test_check_prints_health(server: IngestServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("VIGIL_API_KEY", KEY)
    server.answer(200, b'{"data": {"status": "ok"}}')

    assert agent.main(["--url", server.url, "--check", "--insecure"]) == 0

    out = capsys.readouterr()
    assert out.out.strip() == '200 {"data": {"status": "ok"}}'
    assert "TLS verification is OFF" in out.err
    assert server.requests[0].path == "/api/v1/health"


def test_check_reports_unreachable(server: IngestServer, capsys: pytest.CaptureFixture[str]):
    server.stop()
    assert agent.main(["--url", server.url, "--check"]) == 1
    assert capsys.readouterr().out.startswith("unreachable")


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["--url", "https://vigil.example.com"], {}),
        (["--url", "ftp://vigil.example.com"], {"VIGIL_API_KEY": KEY}),
        (["--url", "https://vigil.example.com", "--batch-size", "0"], {"VIGIL_API_KEY": KEY}),
        (["--url", "https://vigil.example.com", "--api-key-file", "/nonexistent/key"], {}),
    ],
)
def test_bad_configuration_is_a_usage_error(argv: list[str], env: dict[str, str]):
    with pytest.raises(SystemExit) as exc:
        agent.parse_args(argv, env)
    assert exc.value.code == 2


NOISE = [
    "Nov 24 10:00:30 web-1 CRON[812]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
    "Nov 24 10:00:31 web-1 systemd[1]: Started Session 12 of User deploy.",
    "Nov 24 10:00:32 web-1 sudo: deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/apt update",
]


def test_lines_the_parser_is_sure_to_ignore_are_dropped_unless_send_all(
    server: IngestServer, tmp_path: Path, log_path: Path
):
    append(log_path, [NOISE[0], *sshd(2), NOISE[1], NOISE[2], *sshd(1, "b"), NOISE[0]])
    assert run_once(make_config(server, tmp_path, log_path, "--from-start")) == 0
    assert [p.json()["lines"] for p in server.posts()] == [sshd(2) + sshd(1, "b")]
    assert agent.StateStore(tmp_path / "state" / "state.json").load()["offset"] == log_path.stat().st_size

    everything = tmp_path / "all"
    config = make_config(server, everything, log_path, "--from-start", "--send-all")
    assert run_once(config) == 0
    assert server.posts()[-1].json()["lines"] == [NOISE[0], *sshd(2), NOISE[1], NOISE[2], *sshd(1, "b"), NOISE[0]]


def test_a_read_of_dropped_lines_only_is_remembered_without_a_batch(
    server: IngestServer, tmp_path: Path, log_path: Path
):
    append(log_path, NOISE)
    assert run_once(make_config(server, tmp_path, log_path, "--from-start")) == 0
    assert server.posts() == [] and spooled(tmp_path) == []
    assert agent.StateStore(tmp_path / "state" / "state.json").load()["offset"] == log_path.stat().st_size


def test_every_line_the_agent_drops_gives_no_event_through_the_real_parser() -> None:
    """Exactness of the prefilter on the benchmarks' generated auth.log and on the parser's golden samples:
    what it drops, `parse` ignores; and it drops the most of the log (what makes batches denser)."""
    from bench.detection_bench import generate  # noqa: PLC0415 - the generated log, only here
    from chalicelib.events.parsers import ParseContext  # noqa: PLC0415
    from chalicelib.events.parsers.registry import get_parser  # noqa: PLC0415

    parse, context = get_parser("sshd"), ParseContext(year=2026, hostname="web-1")
    samples = Path(__file__).resolve().parents[1] / "events" / "samples" / "sshd.log"
    lines = generate(30_000, 11) + [line for line in samples.read_text().splitlines() if line[:1] != "#"] + NOISE
    ignored = agent.SURELY_IGNORED["sshd"]
    dropped = [line for line in lines if ignored(line)]
    assert [line for line in dropped if parse(line, context) is not None] == []
    events = sum(1 for line in lines if parse(line, context) is not None)
    assert len(dropped) > len(lines) / 2 and events > (len(lines) - len(dropped)) * 0.75
