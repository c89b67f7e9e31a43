"""Ingest benchmark: what one ingested event costs in AWS requests, and how many events per second the local
stack takes through `POST /api/v1/ingest`.

1. Requests per 1,000 events (the issue's goal: ≤ 100 DynamoDB + SQS + S3 requests). In process, with moto, a
   `Container` ingests consecutive batches of the seeded auth.log of `bench.detection_bench` (20,000 addresses,
   5% attackers, a third of the lines from sshd) as an agent sends them: 500 lines per batch, a `batch_id`, the
   clock following the log; every line (`--send-all`), and without the lines the agent's prefilter drops (its
   default). Each request is counted per operation (`tests.support.aws.count_requests`) and per pipeline stage
   (the stage running when it is sent). Also: the worst case (one batch of 1,000 failures from 500 addresses),
   other batch sizes, and what the HTTP edge adds per request.
2. Events per second through `POST /api/v1/ingest` over real HTTP: `scripts/run` on free ports (as the
   integration tests start it), one INGEST key bound to a sensor per client, 500-line batches from 1 and 2
   concurrent clients for `--seconds` each. The local stack's speed is moto's: a ceiling of a local run, not a
   performance model of AWS.

    .venv/bin/python -m bench.ingest_bench [--events 20000] [--seconds 30] [--seed 6] [--skip-http]

About ten minutes on two cores (the what-ifs ingest a quarter of `--events` each); for a quick look at the
request counts, `--events 5000 --skip-http` takes about three.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.machinery
import importlib.util
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.detection_bench import USERS, addresses, generate

ROOT = Path(__file__).resolve().parent.parent
LOG_LINES = 1_000_000  # the detection bench's log: 20,000 addresses, 5% of them attackers
BATCH_LINES = 500  # the agent's --batch-size
SENSOR = "web01"
GOAL = 100  # requests per 1,000 events
SERVICES = ("dynamodb", "sqs", "s3")
MONTHS = {m: n for n, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun"), 1)} | {
    m: n for n, m in enumerate(("Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 7)
}


# The log


def line_time(line: str, year: int) -> datetime:
    """The classic syslog stamp at the start of a line (`Mar  2 00:00:07`), in UTC."""
    month, day, clock = line[:15].split()
    hour, minute, second = clock.split(":")
    return datetime(year, MONTHS[month], int(day), int(hour), int(minute), int(second), tzinfo=UTC)


def restamp(lines: list[str], shift: timedelta, year: int) -> list[str]:
    """The same lines, `shift` later (so a log generated in March can be sent as if it were written now)."""
    stamps: dict[str, str] = {}
    out = []
    for line in lines:
        old = line[:15]
        new = stamps.get(old)
        if new is None:
            when = line_time(line, year) + shift
            new = stamps[old] = f"{when:%b} {when.day:>2} {when:%H:%M:%S}"
        out.append(new + line[15:])
    return out


def chunks(lines: list[str], size: int) -> list[list[str]]:
    return [lines[start : start + size] for start in range(0, len(lines), size)]


def failures_batch(seed: int, at: datetime, count: int = 1000, sources: int = 500) -> list[str]:
    """The worst case: `count` failed passwords from `sources` distinct addresses within one minute."""
    rng = random.Random(seed)
    pool = addresses(rng, sources)
    lines = []
    for n in range(count):
        when = at + timedelta(seconds=59 * n / count)
        ip, port, pid = pool[n % sources], rng.randint(1024, 65535), 5000 + n
        user = f"invalid user {rng.choice(USERS)}" if n % 2 else "root"
        stamp = f"{when:%b} {when.day:>2} {when:%H:%M:%S}"
        lines.append(f"{stamp} {SENSOR} sshd[{pid}]: Failed password for {user} from {ip} port {port} ssh2")
    return lines


# Counting requests per stage


class StageMeter:
    """Counts each AWS request under the pipeline stage that is running when it is sent (single thread)."""

    def __init__(self, clients: list[Any], default: str = "other") -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.default = default  # the stage of requests sent outside every wrapped method
        self._stack: list[str] = []
        self._clients = clients

    def wrap(self, owner: Any, stage: str, *methods: str) -> None:
        """Replace `owner.method` (on this instance only) by a version that runs under `stage`."""
        for name in methods:
            original = getattr(owner, name)

            def staged(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                self._stack.append(stage)
                try:
                    return _original(*args, **kwargs)
                finally:
                    self._stack.pop()

            setattr(owner, name, staged)

    def _record(self, model: Any = None, **_: Any) -> None:
        stage = self._stack[-1] if self._stack else self.default
        self.counts[(stage, f"{model.service_model.service_name}.{model.name}")] += 1

    @contextmanager
    def counting(self) -> Iterator[Counter[tuple[str, str]]]:
        """Count the requests of the block (a fresh counter each time)."""
        self.counts = Counter()
        for client in self._clients:
            client.meta.events.register("before-call.*.*", self._record)
        try:
            yield self.counts
        finally:
            for client in self._clients:
                client.meta.events.unregister("before-call.*.*", self._record)


def instrument(meter: StageMeter, c: Any) -> None:
    """Name the stages of the pipeline on a built container (its services are shared instances)."""
    ingest = c.ingest
    meter.wrap(ingest, "ingest (other)", "ingest")
    meter.wrap(c.sensors, "sensor", "get", "register", "seen")
    meter.wrap(ingest._ledger, "batch ledger", "claim", "finish", "release")
    meter.wrap(c.stats, "statistics", "record")
    meter.wrap(c.events, "events store", "put_batch")
    meter.wrap(c.events, "alerts", "put_alerts")
    meter.wrap(ingest._archive, "archive", "put")
    meter.wrap(c.detection, "detection windows", "observe")
    meter.wrap(c.detection.config, "detection config", "overrides", "enabled")
    meter.wrap(c.decisions.live, "decision index", "lookup", "overlapping_allows")
    meter.wrap(c.decisions, "decisions", "issue")
    meter.wrap(c.pending_bans, "decisions", "propose")
    meter.wrap(c.geoblocking, "geo policy", "evaluate", "record_matches")
    meter.wrap(c.geozones, "geo policy", "zone_of", "decide")


# The in-process platform


def _moto_env() -> None:
    from devstack import moto_patches  # noqa: PLC0415 - moto's transactions cost what AWS's cost

    moto_patches.apply()
    sys.setrecursionlimit(20_000)  # moto parses detection's long update expressions recursively
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    for name in ("AWS_ENDPOINT_URL", "LOCALSTACK_HOST", "AWS_PROFILE"):
        os.environ.pop(name, None)


@dataclass
class Platform:
    container: Any
    meter: StageMeter
    clock: Any
    sent: int = 0
    triggers: Counter[tuple[str, str]] = field(default_factory=Counter)  # (scenario, action)


def count_triggers(p: Platform) -> None:
    """Keep, per scenario and action, the triggers detection hands to the responder."""
    observe = p.container.detection.observe

    def counted(events: Any) -> Any:
        found = observe(events)
        p.triggers.update((t.scenario, t.action) for t in found)
        return found

    p.container.detection.observe = counted


def pending_as_alert(container: Any) -> None:
    """Through the platform's own scenario override (what PUT /api/v1/detect2ban/scenarios/{name} does): every
    shipped `pending` scenario raises an alert instead, so detection counts exactly as shipped."""
    for scenario in container.detection.scenarios():
        if scenario["action"] == "pending":
            data = {k: v for k, v in scenario.items() if k not in ("origin", "recidivism", "duration")}
            container.detection.put(scenario["name"], {**data, "action": "alert"})


@dataclass(frozen=True)
class Variant:
    """A what-if: other settings, another batch size, or the lines the agent drops kept (`--send-all`)."""

    label: str
    settings: tuple[tuple[str, Any], ...] = ()
    lines: int = BATCH_LINES
    send_all: bool = True


SHIPPED = Variant("--send-all")
AGENT = Variant("agent (default)", send_all=False)


def agent_prefilter() -> Callable[[str], bool]:
    """The agent's own test of a line Vigil's sshd parser is sure to ignore (`scripts/agent`, loaded by path as
    its tests load it: a suffix-less, standard-library script)."""
    loader = importlib.machinery.SourceFileLoader("vigil_agent", str(ROOT / "scripts" / "agent"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    if spec is None:
        raise RuntimeError("cannot load scripts/agent")
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module  # dataclasses look their module up by name
    loader.exec_module(module)
    return module.SURELY_IGNORED["sshd"]


def agent_lines(lines: list[str]) -> list[str]:
    """The log as the agent batches it by default: without the lines the parser is sure to ignore."""
    ignored = agent_prefilter()
    return [line for line in lines if not ignored(line)]


@contextmanager
def platform(start: datetime, *, no_pending: bool = False, variant: Variant = SHIPPED) -> Iterator[Platform]:
    """moto in-process with every table, bucket and queue, a wired container on a clock that we move."""
    _moto_env()
    from moto import mock_aws  # noqa: PLC0415

    from chalicelib.core.aws import AwsClients  # noqa: PLC0415
    from chalicelib.core.clock import FixedClock  # noqa: PLC0415
    from chalicelib.core.deps import Container, set_container  # noqa: PLC0415
    from chalicelib.core.settings import Settings  # noqa: PLC0415
    from devstack.bootstrap import create_all  # noqa: PLC0415

    with mock_aws():
        settings = Settings(jwt_secret="bench-secret-0123456789-0123456789-0123456789", **dict(variant.settings))
        aws = AwsClients(settings.region)
        create_all(aws, settings)
        clock = FixedClock(start)
        container = Container(settings, clock=clock, aws=aws)
        set_container(container)
        if no_pending:
            pending_as_alert(container)
        meter = StageMeter([aws.client(s) for s in SERVICES])
        instrument(meter, container)
        p = Platform(container, meter, clock)
        count_triggers(p)
        try:
            yield p
        finally:
            set_container(None)


def send(p: Platform, lines: list[str]) -> Any:
    """One agent batch, the clock set to two seconds after its last line (the agent's flush interval)."""
    from chalicelib.events.batches import Batch  # noqa: PLC0415

    p.clock.set(line_time(lines[-1], p.clock.now().year) + timedelta(seconds=2))
    p.sent += 1
    return p.container.ingest.ingest(
        Batch(sensor=SENSOR, hostname=SENSOR, format="sshd", batch_id=f"bench-{p.sent:06d}", lines=lines)
    )


@dataclass
class Run:
    """Requests counted over a number of batches."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    totals: Counter[str] = field(default_factory=Counter)  # from count_requests, per service.operation
    events: int = 0
    lines: int = 0
    batches: int = 0
    decisions: int = 0
    alerts: int = 0
    seconds: float = 0.0
    log_seconds: float = 0.0  # the span of log time the batches covered
    first: Counter[tuple[str, str]] = field(default_factory=Counter)  # the container's first batch
    triggers: Counter[tuple[str, str]] = field(default_factory=Counter)

    def total(self) -> int:
        return sum(self.counts.values())

    def stage(self, name: str) -> int:
        return sum(n for (stage, _), n in self.counts.items() if stage == name)

    def per_thousand(self, n: float) -> float:
        return 1000 * n / self.events if self.events else 0.0


def measure(p: Platform, batches: list[list[str]], events_wanted: int, run: Run) -> Run:
    """Ingest batches until `events_wanted` events were accepted, counting every request."""
    from tests.support.aws import count_requests  # noqa: PLC0415

    aws = p.container.aws
    p.triggers.clear()
    started = time.perf_counter()
    with count_requests(*(aws.client(s) for s in SERVICES)) as totals, p.meter.counting() as counts:
        for lines in batches:
            result = send(p, lines)
            run.events += result.accepted
            run.lines += len(lines)
            run.batches += 1
            run.decisions += len(result.decisions)
            run.alerts += result.alerts
            run.log_seconds = (line_time(lines[-1], 2026) - line_time(batches[0][0], 2026)).total_seconds()
            if run.events >= events_wanted and run.batches >= 3:
                break
    run.seconds = time.perf_counter() - started
    run.counts, run.totals, run.triggers = Counter(counts), Counter(totals), Counter(p.triggers)
    if sum(totals.values()) != run.total():
        raise RuntimeError(f"stage meter and count_requests disagree: {run.total()} != {sum(totals.values())}")
    return run


def realistic(lines: list[str], events_wanted: int, no_pending: bool, variant: Variant = SHIPPED) -> Run:
    """Consecutive batches of the log (as the agent cuts them, unless `send_all`); the container's first batch
    (and its index build) is counted apart."""
    batches = chunks(lines if variant.send_all else agent_lines(lines), variant.lines)
    with platform(line_time(lines[0], 2026), no_pending=no_pending, variant=variant) as p:
        with p.meter.counting() as first:
            p.container.decisions.live.lookup("192.0.2.1")  # the IP index, built once per container
            send(p, batches[0])
        return measure(p, batches[1:], events_wanted, Run(first=Counter(first)))


def worst_case(seed: int, no_pending: bool) -> tuple[Run, Run]:
    """1,000 failures from 500 addresses: as a container's first batch (cold), and after a small one (warm)."""
    at = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    batch = failures_batch(seed, at)
    with platform(at, no_pending=no_pending) as p:
        cold = measure(p, [batch], 1, Run())
    with platform(at, no_pending=no_pending) as p:
        send(p, failures_batch(seed + 1, at - timedelta(minutes=1), count=10, sources=10))
        warm = measure(p, [batch], 1, Run())
    return cold, warm


def pending_failure() -> str | None:
    """Does a `pending` trigger go through ingest? None if it does, else the error (the pipeline is not fixed
    here: the bench then measures with pending scenarios turned into alerts, and says so)."""
    at = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    stamp = f"{at:%b} {at.day:>2} {at:%H:%M:%S}"
    lines = [
        f"{stamp} {SENSOR} sshd[{900 + n}]: Failed password for invalid user {USERS[n]} from 203.0.113.66 port "
        f"{40000 + n} ssh2"
        for n in range(12)
    ]
    with platform(at) as p:
        try:
            send(p, lines)
        except AttributeError as exc:  # what the shipped pipeline raises today; anything else stops the bench
            return f"{type(exc).__name__}: {exc}"
        if not any(action == "pending" for _, action in p.triggers):
            raise RuntimeError("the probe produced no pending trigger: the shipped scenarios changed, update it")
    return None


def http_edge(lines: list[str], no_pending: bool, requests: int = 3) -> Counter[str]:
    """What the HTTP door adds to ingest per request: warm batches posted with an INGEST key, in process."""
    batches = chunks(lines, BATCH_LINES)
    with platform(line_time(lines[0], 2026), no_pending=no_pending) as p:
        import app  # noqa: PLC0415 - imported once the environment is fake
        from tests.support.client import ApiClient  # noqa: PLC0415

        _, key = p.container.api_keys.create("bench agent", ["INGEST"], created_by="bench", sensor=SENSOR)
        client = ApiClient(app.app)
        p.meter.default = "HTTP edge"
        counted: Counter[str] = Counter()
        for number, chunk in enumerate(batches[: requests + 1]):
            p.clock.set(line_time(chunk[-1], 2026) + timedelta(seconds=2))
            body = {"sensor": SENSOR, "format": "sshd", "batch_id": f"http-{number}", "lines": chunk}
            with p.meter.counting() as counts:
                answer = client.post("/api/v1/ingest", json=body, headers={"X-API-Key": key})
            if answer.status != 200:
                raise RuntimeError(f"ingest answered {answer.status}: {answer.text[:500]}")
            if number:  # the first request fills the caches (key, index, scenarios)
                counted.update({op: n for (stage, op), n in counts.items() if stage == "HTTP edge"})
        return Counter({op: n / requests for op, n in counted.items()})


# Over real HTTP


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


@dataclass
class HttpRun:
    clients: int
    seconds: float = 0.0
    batches: int = 0
    events: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[int] = field(default_factory=Counter)
    samples: dict[int, str] = field(default_factory=dict)  # one error answer per status
    cpu: dict[str, float] = field(default_factory=dict)


def post(base: str, key: str, body: bytes) -> tuple[int, bytes]:
    """One POST /api/v1/ingest on a new connection, as the agent makes it."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    try:
        connection.request("POST", "/api/v1/ingest", body, {"Content-Type": "application/json", "X-API-Key": key})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def drive(base: str, keys: list[str], bodies: list[list[bytes]], seconds: float, processes: dict[str, int]) -> HttpRun:
    """`len(keys)` clients posting their bodies back to back for `seconds`."""
    run = HttpRun(len(keys))
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(key: str, mine: list[bytes]) -> None:
        for body in mine:
            if time.perf_counter() >= deadline:
                return
            started = time.perf_counter()
            status, answer = post(base, key, body)
            took = time.perf_counter() - started
            with lock:
                if status == 200:
                    run.batches += 1
                    run.events += int(json.loads(answer)["data"]["accepted"])
                    run.latencies.append(took)
                else:
                    run.errors[status] += 1
                    run.samples.setdefault(status, answer.decode("utf-8", "replace")[:300])

    cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    threads = [threading.Thread(target=client, args=(k, b)) for k, b in zip(keys, bodies, strict=True)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.seconds = time.perf_counter() - started
    run.cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in processes.items()}
    return run


def bodies_for(sensor: str, batches: list[list[str]], tag: str) -> list[bytes]:
    return [
        json.dumps({"sensor": sensor, "format": "sshd", "batch_id": f"{tag}-{n:06d}", "lines": lines}).encode()
        for n, lines in enumerate(batches)
    ]


def pending_as_alert_over_http(stack: Any, token: str) -> None:
    """`pending_as_alert` through the API (PUT /api/v1/detect2ban/scenarios/{name})."""
    from tests.integration.conftest import call  # noqa: PLC0415

    status, _, body = call("GET", stack.url("/api/v1/detect2ban/scenarios"), token=token)
    if status != 200:
        raise RuntimeError(f"listing scenarios answered {status}: {body[:300]!r}")
    for scenario in json.loads(body)["data"]:
        if scenario["action"] == "pending":
            data = {k: v for k, v in scenario.items() if k not in ("origin", "recidivism", "duration")}
            url = stack.url(f"/api/v1/detect2ban/scenarios/{scenario['name']}")
            status, _, body = call("PUT", url, token=token, body={**data, "action": "alert"})
            if status != 200:
                raise RuntimeError(f"overriding {scenario['name']} answered {status}: {body[:300]!r}")


def over_http(lines: list[str], seconds: float, client_counts: tuple[int, ...], no_pending: bool) -> list[HttpRun]:
    """The local stack on free ports; per run, `clients` agents (one bound key each) post for `seconds`."""
    from tests.integration.conftest import admin_token, call, start_stack, stop_stack  # noqa: PLC0415

    per_run = 600  # batches per run at most: far more than the local stack takes in `seconds`
    part = lines[: (len(client_counts) * per_run + max(client_counts)) * BATCH_LINES]
    now = datetime.now(UTC)
    # Re-stamped to end a minute ago: no event is in the future, the newest are as fresh as an agent's.
    pool = chunks(restamp(part, now - timedelta(minutes=1) - line_time(part[-1], 2026), now.year), BATCH_LINES)
    folder = Path(tempfile.mkdtemp(prefix="vigil-ingest-bench-"))
    stack = start_stack(folder / "data", folder / "run.log")
    runs = []
    try:
        token = admin_token(stack)
        if no_pending:
            pending_as_alert_over_http(stack, token)
        keys = []
        for number in range(max(client_counts)):
            status, _, body = call(
                "POST",
                stack.url("/api/v1/api-keys"),
                token=token,
                body={"name": f"bench agent {number}", "scopes": ["INGEST"], "sensor": f"bench-{number}"},
            )
            if status != 201:
                raise RuntimeError(f"creating an INGEST key answered {status}: {body[:300]!r}")
            keys.append(json.loads(body)["data"]["key"])
        moto = [pid for pid in children(stack.process.pid) if "moto" in Path(f"/proc/{pid}/cmdline").read_text()]
        processes = {"platform": stack.process.pid, **({"moto": moto[0]} if moto else {})}
        # Warm-up, not timed: each sensor's first batch registers it, builds the index and reads the scenarios.
        for number, key in enumerate(keys):
            batch = pool.pop(0)
            status, answer = post(stack.base, key, bodies_for(f"bench-{number}", [batch], "warm")[0])
            if status != 200:
                raise RuntimeError(f"warm-up batch answered {status}: {answer[:300]!r}")
        for clients in client_counts:
            mine = [bodies_for(f"bench-{n}", pool[n:per_run:clients], f"c{clients}") for n in range(clients)]
            runs.append(drive(stack.base, keys[:clients], mine, seconds, processes))
            pool = pool[per_run:]
    finally:
        stop_stack(stack)
    return runs


# Report

DRIVERS = {
    "sensor": "per batch (its record read once per container)",
    "batch ledger": "per batch",
    "statistics": "per batch: hours × days (four items while they fit)",
    "events store": "per 25 events",
    "archive": "per batch and day",
    "detection windows": "per batch: families × pages of 5 buckets (an item each while it fits); claims in one request",
    "detection config": "per container, every 30 s",
    "decision index": "per container, every 5 s (a Query of the hour's change log)",
    "geo policy": "per container, every 30 s",
    "decisions": "per batch with decisions (one `issue` of its bans)",
    "alerts": "per batch with alerts",
    "HTTP edge": "per request",
}
TIME_DRIVEN = ("detection config", "decision index", "geo policy")


def _ops(counts: Counter[tuple[str, str]], stage: str, scale: float) -> str:
    found = Counter({op: n for (s, op), n in counts.items() if s == stage})
    return ", ".join(f"{op.split('.', 1)[1]} {n * scale:.1f}" for op, n in found.most_common())


def _stages(counts: Counter[tuple[str, str]]) -> Counter[str]:
    found: Counter[str] = Counter()
    for (stage, _), n in counts.items():
        found[stage] += n
    return found


def stage_table(run: Run) -> list[str]:
    by_stage = _stages(run.counts)
    total = run.total()
    rows = [
        "| stage | driven by | requests | per batch | per 1,000 events | share | operations per 1,000 events |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for stage, n in sorted(by_stage.items(), key=lambda item: (-item[1], item[0])):
        rows.append(
            f"| {stage} | {DRIVERS.get(stage, '')} | {n:,} | {n / run.batches:.1f} | {run.per_thousand(n):.1f} "
            f"| {100 * n / total:.0f}% | {_ops(run.counts, stage, 1000 / run.events)} |"
        )
    rows.append(
        f"| **total** | | **{total:,}** | **{total / run.batches:.1f}** | **{run.per_thousand(total):.1f}** | | |"
    )
    return rows


def op_table(run: Run) -> list[str]:
    rows = ["| operation | requests | per batch | per 1,000 events |", "|---|---:|---:|---:|"]
    for op, n in run.totals.most_common():
        rows.append(f"| `{op}` | {n:,} | {n / run.batches:.1f} | {run.per_thousand(n):.1f} |")
    return rows


def verdict(value: float) -> str:
    return "met" if value <= GOAL else "NOT met"


def main_section(runs: list[tuple[Variant, Run]], args: argparse.Namespace) -> list[str]:
    seconds = sum(run.seconds for _, run in runs)
    lines = [
        f"### AWS requests per 1,000 ingested events (moto in-process, {seconds:.0f} s wall clock)",
        "",
        f"The seeded auth.log of the detection bench (`generate({LOG_LINES:_}, seed={args.seed})`: 20,000 "
        "addresses, 5% attackers, a third of the lines from sshd), sent from its start in consecutive "
        f"{BATCH_LINES}-line batches with a `batch_id`, the clock two seconds after each batch's last line, "
        "twice: every line (`--send-all`), and as the agent sends it by default, without the lines the sshd parser "
        "is sure to ignore (`SURELY_IGNORED` in `scripts/agent`: the parser's own first test; its tests check on "
        "the generated log that no dropped line gives an event). Every DynamoDB, SQS and S3 request counted with "
        "`count_requests`, and per stage (the pipeline step running when it was sent).",
    ]
    for variant, run in runs:
        per = run.per_thousand(run.total())
        timed = sum(run.stage(s) for s in TIME_DRIVEN)
        first = run.first
        lines += [
            "",
            f"#### {variant.label}: {run.batches} batches, {run.lines:,} lines, {run.events:,} events accepted "
            f"({run.events / run.batches:.0f} per batch, {run.events / run.lines:.0%} of the lines), "
            f"{run.decisions} decisions, {run.alerts} alerts",
            "",
            *stage_table(run),
            "",
            *op_table(run),
            "",
            f"Time-driven stages ({', '.join(TIME_DRIVEN)}) are container caches: one sensor's batches come "
            f"~{_batch_gap(run)} s of log time apart here, so they refresh at almost every batch "
            f"({run.per_thousand(timed):.0f} per 1,000 events); a container serving many sensors shares them "
            f"between all its batches. Without them: {run.per_thousand(run.total() - timed):.0f} per 1,000 events. "
            f"The container's first batch (not in the table) cost {sum(first.values())} requests "
            f"({', '.join(f'{s} {n}' for s, n in _stages(first).most_common())}): the IP index build, the "
            "sensor's registration, the scenarios' read, once per Lambda container.",
            "",
            f"**Goal ≤ {GOAL} requests per 1,000 events, {variant.label}: {verdict(per)} ({per:.0f}).**",
        ]
    return lines


def _batch_gap(run: Run) -> int:
    return round(run.log_seconds / run.batches)


def pending_note(broken: str | None, run: Run) -> list[str]:
    if broken is None:
        return []
    pending = sum(n for (_, action), n in run.triggers.items() if action == "alert")
    per_decision = run.stage("decisions") / max(1, run.decisions)
    extra = run.per_thousand(pending * per_decision)
    return [
        f"**Pipeline defect found: a `pending` trigger fails the whole batch** (`{broken}`, from "
        "`PendingBans.propose`, `chalicelib/decisions/pending.py`). The shipped `user-enumeration` scenario "
        "(action `pending`) fires on ordinary attack traffic, so ingest answers 500 for that batch after its "
        "events, statistics and archive were written; the agent retries, and the statistics count the batch "
        "again each time. Everything below was measured with every `pending` scenario switched to `alert` "
        "through the platform's own scenario override (`PUT /api/v1/detect2ban/scenarios/{name}`), so detection "
        f"counts exactly as shipped; in the main run those {pending} triggers became alerts instead of pending "
        f"bans. At what a decision costs here ({per_decision:.1f} requests), pending bans would add about "
        f"{extra:.0f} per 1,000 events. The bench checks again at every run and drops the override once "
        "pending bans work.",
    ]


def edge_section(per_request: Counter[str], run: Run) -> list[str]:
    text = ", ".join(f"`{op}` {n:g}" for op, n in per_request.most_common()) or "none"
    added = sum(per_request.values())
    with_edge = run.per_thousand(run.total() + added * run.batches)
    return [
        "Through `POST /api/v1/ingest` with an INGEST key (in-process gateway, warm), the HTTP door adds "
        f"{added:g} requests per batch to ingest's own ({text}: the key's record, the per-address rate limit, "
        f"the key's last use): {with_edge:.0f} per 1,000 events for the main run's batches.",
    ]


def variants_section(runs: list[tuple[Variant, Run]]) -> list[str]:
    rows = []
    for variant, run in runs:
        rows.append(
            f"| {variant.label} | {variant.lines} | {run.batches} | {run.events / run.batches:.0f} "
            f"| {run.total() / run.batches:.1f} | {run.per_thousand(run.stage('detection windows')):.0f} "
            f"| {run.per_thousand(run.stage('statistics')):.0f} | {run.per_thousand(run.stage('events store')):.0f} "
            f"| **{run.per_thousand(run.total()):.0f}** |"
        )
    return [
        "### What moves the figure: batch size and the agent's prefilter (same log, same counting)",
        "",
        "| lines sent | lines per batch | batches | events per batch | requests per batch | detection windows "
        "| statistics | events store | requests per 1,000 events |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "The agent flushes every 2 s (`--flush-interval`), so a quiet host sends a few lines per batch and a busy "
        "one (or one catching up) up to `--batch-size` (500; ingest takes 5,000).",
    ]


def worst_section(cold: Run, warm: Run) -> list[str]:
    stages = sorted(_stages(cold.counts) | _stages(warm.counts), key=lambda s: -cold.stage(s))
    rows = [f"| {s} | {cold.stage(s)} | {warm.stage(s)} | {_ops(warm.counts, s, 1)} |" for s in stages]
    return [
        "### Worst case: one batch of 1,000 failed passwords from 500 addresses (within one minute)",
        "",
        "| stage | first batch of a container | after a warm-up batch | operations (warm) |",
        "|---|---:|---:|---|",
        *rows,
        f"| **total** | **{cold.total()}** | **{warm.total()}** | |",
        "",
        f"{warm.events:,} events accepted, {warm.decisions} decisions (two failures per address reach no "
        f"threshold). Goal ≤ {GOAL} per 1,000 events: **{verdict(warm.total())}** warm ({warm.total()}), "
        f"**{verdict(cold.total())}** cold ({cold.total()}).",
    ]


def http_section(runs: list[HttpRun], seconds: float) -> list[str]:
    rows = []
    for run in runs:
        lat = sorted(run.latencies)
        p50 = statistics.median(lat) if lat else 0.0
        p95 = statistics.quantiles(lat, n=20)[18] if len(lat) >= 2 else p50
        cpu = ", ".join(f"{value:.0f} s" for value in run.cpu.values())
        errors = ", ".join(f"{n}× {status}" for status, n in sorted(run.errors.items())) or "none"
        rows.append(
            f"| {run.clients} | {run.batches} | {run.events:,} | {run.seconds:.1f} | "
            f"**{run.events / run.seconds:,.0f}** | {run.batches * BATCH_LINES / run.seconds:,.0f} | "
            f"{1000 * p50:.0f} | {1000 * p95:.0f} | {errors} | {cpu} |"
        )
    return [
        f"### Events per second through `POST /api/v1/ingest` on the local stack (real HTTP, {seconds:g} s per row)",
        "",
        "`scripts/run` on free ports (`tests.integration.conftest.start_stack`: moto server, Chalice's local "
        "server running one invocation at a time as one Lambda container does, schedules and queue driver), its "
        "admin, one INGEST key bound to a sensor per client "
        f"(`POST /api/v1/api-keys`), {BATCH_LINES}-line batches of the same log re-stamped to end a minute ago, "
        "posted back to back by each client on a new connection as the agent does; one warm-up batch per sensor "
        "first, not timed.",
        "",
        "| clients | batches | events | seconds | events/s | lines/s | p50 ms per batch | p95 ms | errors "
        "| CPU used (platform, moto) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
        *rows,
        *_error_answers(runs),
        "",
        f"The machine has {os.cpu_count()} cores, shared by the clients, the platform's process and moto's. "
        "**moto's speed is the ceiling of a local run, not a performance model of AWS**: DynamoDB, S3 and SQS do "
        "not run on the caller's cores there, each batch is a Lambda invocation of its own, and throughput scales "
        "with concurrency, bounded by request latency, table capacity and the request counts above.",
    ]


def _error_answers(runs: list[HttpRun]) -> list[str]:
    """One answer per error status, so that a reader sees what the errors were."""
    samples: dict[int, str] = {}
    for run in runs:
        for status, text in run.samples.items():
            samples.setdefault(status, text)
    return ["", *(f"Answer with {status}: `{text}`" for status, text in sorted(samples.items()))] if samples else []


def cuts(runs: list[tuple[Variant, Run]], variants: list[tuple[Variant, Run]], worst: Run) -> list[str]:
    """The verdict, from this run's figures: what is met, what the rest costs, what would cut it."""
    (_, raw), (_, agent) = runs
    per_raw_batch = {stage: raw.stage(stage) / raw.batches for stage in ("detection windows", "statistics")}
    by_stage = _stages(agent.counts)
    top, second = (s for s, _ in by_stage.most_common(2))
    fixed = (agent.total() - agent.stage("events store")) / agent.batches
    per_event = agent.stage("events store") / agent.events
    timed = sum(agent.stage(s) for s in TIME_DRIVEN)
    found = {(v.label, v.lines): r.per_thousand(r.total()) for v, r in variants}
    windows = _ops(agent.counts, "detection windows", 1 / agent.batches)
    claims = agent.counts[("detection windows", "dynamodb.PutItem")]
    return [
        "### Verdict",
        "",
        f"- ≤ {GOAL} requests per 1,000 events: **{verdict(raw.per_thousand(raw.total()))}** for a realistic "
        f"auth.log in raw {BATCH_LINES}-line batches ({raw.per_thousand(raw.total()):.0f}, "
        f"{raw.events / raw.batches:.0f} events per batch); **{verdict(agent.per_thousand(agent.total()))}** for "
        f"what the agent sends by default ({agent.per_thousand(agent.total()):.0f}, "
        f"{agent.events / agent.batches:.0f} events per batch; "
        f"{agent.per_thousand(agent.total() - timed):.0f} without the time-driven container caches); "
        f"**{verdict(worst.total())}** for a dense batch (1,000 failures in one batch: {worst.total()}).",
        f"- Per raw batch, detection windows now cost {per_raw_batch['detection windows']:.1f} requests and "
        f"statistics {per_raw_batch['statistics']:.1f} (were 21.3 and 14.3). "
        "Detection writes one item per (family, page of five buckets) and statistics four items (the hour's and "
        "the day's totals, the day's addresses and user names, the sensor's), each a `CounterItems` logical item that "
        "spills by hash only when it nears 400 KB (`chalicelib/events/counter_items.py`), instead of 4 and 8 + 4 "
        "hash shards whatever the batch.",
        f"- With the agent's batches, the fixed part is {fixed:.1f} requests per batch and the events store "
        f"{1000 * per_event:.0f} per 1,000 (one `BatchWriteItem` per 25: the floor of this design). Costliest: "
        f"**{top}** ({agent.per_thousand(by_stage[top]):.0f} per 1,000), then **{second}** "
        f"({agent.per_thousand(by_stage[second]):.0f}).",
        f"- Detection windows per agent batch: {windows}. A batch of {agent.events / agent.batches:.0f} events "
        f"spans ~{_batch_gap(agent) // 60} minutes of log, so the 60-second family touches that many buckets: "
        f"two or three pages. A batch's trigger claims are one request: a `TransactWriteItems` of conditional puts, "
        f"or a `PutItem` for a lone claim ({claims} in the run).",
        "- Not cut by denser batches: decisions (per batch that has some), the decision index and geo policy "
        "(time-driven: here the clock follows one sensor's log, minutes per batch; in production the wall clock, "
        "shared by every sensor the container serves).",
        f"- Batch size still moves the raw figure: {found.get(('--send-all', 20), 0):.0f} for 20-line batches (a "
        f"quiet host flushing every 2 s) to {found.get(('--send-all', 5000), 0):.0f} for 5,000 lines; the agent's "
        f"prefilter gives {found.get(('agent (default)', 1000), 0):.0f} with 1,000-line batches.",
    ]


VARIANTS = (
    Variant("--send-all", lines=20),
    Variant("--send-all", lines=100),
    Variant("--send-all", lines=1000),
    Variant("--send-all", lines=5000),
    Variant("agent (default)", lines=20, send_all=False),
    Variant("agent (default)", lines=100, send_all=False),
    Variant("agent (default)", lines=1000, send_all=False),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events to ingest in the main in-process run")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each HTTP run")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--skip-http", action="store_true")
    args = parser.parse_args(argv)

    lines = generate(LOG_LINES, args.seed)
    broken = pending_failure()
    no_pending = broken is not None
    runs = [(variant, realistic(lines, args.events, no_pending, variant)) for variant in (SHIPPED, AGENT)]
    whatif = max(2000, args.events // 4)
    variants = list(runs)
    for variant in VARIANTS:
        events = min(whatif, 2000) if variant.lines < BATCH_LINES else whatif
        variants.append((variant, realistic(lines, events, no_pending, variant)))
    variants.sort(key=lambda item: (item[0].send_all is False, item[0].lines))
    cold, warm = worst_case(args.seed, no_pending)
    edge = http_edge(lines, no_pending)
    sections = [
        "\n".join(main_section(runs, args)),
        "\n".join(edge_section(edge, runs[0][1])),
        "\n".join(variants_section(variants)),
        "\n".join(worst_section(cold, warm)),
    ]
    if not args.skip_http:
        http_runs = over_http(lines, args.seconds, (1, 2), no_pending)
        sections.append("\n".join(http_section(http_runs, args.seconds)))
    sections.append("\n".join(cuts(runs, variants, warm)))
    if broken:
        sections.insert(0, "\n".join(pending_note(broken, runs[0][1])))
    shown = sys.argv[1:] if argv is None else argv
    command = " ".join([".venv/bin/python -m bench.ingest_bench", *shown])
    sections.insert(
        0,
        f"Commands: `{command}` (moto {_version('moto')}, boto3 {_version('boto3')}); for the HTTP rows it starts "
        "`python -m devstack.run --port P --moto-port M --data-dir D --snapshot-every 3600` (`scripts/run` on free "
        "ports, as `tests/integration/conftest.py:start_stack` does) and stops it with Ctrl-C (SIGINT).",
    )
    print("\n\n".join(sections))
    return 0


def _version(package: str) -> str:
    from importlib.metadata import version  # noqa: PLC0415

    return version(package)


if __name__ == "__main__":
    sys.exit(main())
