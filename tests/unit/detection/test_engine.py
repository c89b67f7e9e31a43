"""The detector's timelines with a fixed clock: the threshold at exactly N, sliding, cooldown, per-sensor and
global keys, distinct counting, pam echoes, scheduled sweeps, and what a trigger carries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.core.clock import FixedClock
from chalicelib.detection.engine import PERMANENT_HOLD_SECONDS, Detector, Trigger, cooldown_seconds
from chalicelib.detection.scenarios import Scenario, load_defaults, parse_scenario
from chalicelib.detection.windows import InMemoryWindows
from chalicelib.events.model import AUTH_FAILURE, INVALID_USER, LOG_AUTH, LOG_WAF, MEDIUM, WAF_BLOCK, Event
from chalicelib.events.parsers import ParseContext
from chalicelib.events.parsers.sshd import parse

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
IP = "203.0.113.7"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


def defaults(*names: str) -> list[Scenario]:
    return [s for s in load_defaults() if s.name in names]


def custom(**overrides: Any) -> Scenario:
    data: dict[str, Any] = {
        "name": "test",
        "description": "test",
        "filter": {"kinds": ["auth_failure"]},
        "threshold": {"count": 3},
        "window": "10m",
        "action": "ban",
        "duration": "1h",
    }
    data.update(overrides)
    return parse_scenario(data)


def failure(second: float, ip: str = IP, **values: Any) -> Event:
    fields = {
        "service": "sshd",
        "log_type": LOG_AUTH,
        "severity": MEDIUM,
        "username": "root",
        "raw": f"line at {second}",
        "kind": AUTH_FAILURE,
    }
    fields.update(values)
    kind = fields.pop("kind")
    return Event(T0 + timedelta(seconds=second), ip, kind, **fields)


def sshd(second: int, message: str) -> Event:
    stamp = (T0 + timedelta(seconds=second)).strftime("%b %d %H:%M:%S")
    found = parse(f"{stamp} web01 sshd[{1000 + second}]: {message}", ParseContext(year=2026))
    assert found is not None, message
    return found


def test_ssh_bruteforce_triggers_at_exactly_the_fifth_failure(clock) -> None:
    detector = Detector(defaults("ssh-bruteforce"), InMemoryWindows(), clock)
    lines = [f"Failed password for root from {IP} port {4000 + n} ssh2" for n in range(6)]
    assert detector.observe([sshd(n * 10, line) for n, line in enumerate(lines[:4])]) == []
    (trigger,) = detector.observe([sshd(40, lines[4]), sshd(50, lines[5])])
    assert trigger.scenario == "ssh-bruteforce" and trigger.action == "ban"
    assert (trigger.count, trigger.at, trigger.first_seen) == (5, T0 + timedelta(seconds=40), T0)
    assert trigger.reason == f"5 failed logins in 10m from {IP} (sshd)"
    assert len(trigger.sample) == 5 and trigger.sample[0].endswith("port 4000 ssh2")
    assert (trigger.duration_seconds, trigger.recidivism_factor, trigger.recidivism_max_seconds) == (3600, 2.0, 604800)
    assert trigger.recidivism == (3600, 2.0, 604800)  # BanRequest.recidivism's shape
    assert (trigger.severity, trigger.mitre, trigger.key) == ("high", ("T1110", "T1110.001"), (IP,))


def test_the_pam_echo_of_a_failed_password_is_not_counted_twice(clock) -> None:
    detector = Detector(defaults("ssh-bruteforce"), InMemoryWindows(), clock)
    pam = "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user=root"
    events = []
    for n in range(4):
        events.append(sshd(n * 10, pam.format(ip=IP)))
        events.append(sshd(n * 10 + 1, f"Failed password for root from {IP} port {4000 + n} ssh2"))
    assert detector.observe(events) == []  # eight auth_failure events, four attempts
    assert [e.fields.get("source") for e in events[:2]] == ["pam", None]
    echoes = parse_scenario({**defaults("ssh-bruteforce")[0].to_dict(), "name": "with-echoes"})
    assert echoes.filter.count_echoes is False


def test_an_invalid_user_counts_its_line_and_its_failed_password_as_fail2ban_does(clock) -> None:
    detector = Detector(defaults("ssh-bruteforce"), InMemoryWindows(), clock)
    events = [
        sshd(0, f"Invalid user oracle from {IP} port 4000"),
        sshd(1, f"Failed password for invalid user oracle from {IP} port 4000 ssh2"),
        sshd(2, f"Failed publickey for deploy from {IP} port 4001 ssh2: RSA SHA256:Zm9v"),  # not a failure
        sshd(3, f"Invalid user test from {IP} port 4002"),
        sshd(4, f"Connection closed by invalid user test {IP} port 4002 [preauth]"),  # a probe, not counted
    ]
    assert detector.observe(events) == []
    assert detector.observe([sshd(5, f"Failed password for invalid user test from {IP} port 4002 ssh2")]) == []
    exceeded = f"error: maximum authentication attempts exceeded for invalid user test from {IP} port 4002 ssh2"
    (trigger,) = detector.observe([sshd(6, exceeded)])
    assert trigger.count == 5  # two names, each an invalid-user line and a failed password, then the last line
    words = [line.split("]: ")[1].split(" ")[0] for line in trigger.sample]
    assert words == ["Invalid", "Failed", "Invalid", "Failed", "error:"]


def test_the_window_slides(clock) -> None:
    detector = Detector(defaults("ssh-bruteforce"), InMemoryWindows(), clock)
    assert detector.observe([failure(s) for s in (0, 200, 400, 599)]) == []
    assert detector.observe([failure(600)]) == []  # the failure at 0 has left (0, 600]
    (trigger,) = detector.observe([failure(601)])
    assert trigger.first_seen == T0 + timedelta(seconds=200)


def test_a_triggered_key_stays_quiet_until_its_ban_would_end(clock) -> None:
    detector = Detector(defaults("ssh-bruteforce"), InMemoryWindows(), clock)
    (first,) = detector.observe([failure(s) for s in range(5)])
    assert detector.observe([failure(100 + s) for s in range(20)]) == []  # banned for an hour
    assert detector.observe([failure(3603 + s) for s in range(5)]) == []  # held until 3604: four count
    (second,) = detector.observe([failure(3610)])
    assert second.at - first.at == timedelta(seconds=3606)


def test_cooldowns() -> None:
    ssh, waf = defaults("ssh-bruteforce")[0], defaults("waf-attack-burst")[0]
    assert cooldown_seconds(ssh) == 3600  # the ban outlasts the window
    assert cooldown_seconds(custom(duration="1m")) == 660  # the window and a bucket outlast the ban
    assert cooldown_seconds(custom(action="alert", duration=None)) == 660
    assert cooldown_seconds(custom(duration=None)) == PERMANENT_HOLD_SECONDS
    assert cooldown_seconds(waf) == 4 * 3600


def test_global_keys_add_up_sensors_and_per_sensor_keys_do_not(clock) -> None:
    per_sensor = custom(name="per-sensor", group_by=["source_ip", "sensor"])
    detector = Detector([custom(name="global"), per_sensor], InMemoryWindows(), clock)
    triggers = detector.observe([failure(0, sensor="web01"), failure(1, sensor="web02"), failure(2, sensor="web03")])
    assert [(t.scenario, t.key, t.sensor) for t in triggers] == [("global", (IP,), None)]
    (trigger,) = detector.observe([failure(3, sensor="web02"), failure(4, sensor="web02")])
    assert (trigger.scenario, trigger.key, trigger.sensor) == ("per-sensor", (IP, "web02"), "web02")


def test_per_user_keys_and_the_replay_sensor(clock) -> None:
    scenario = custom(group_by=["source_ip", "username"], threshold={"count": 2})
    detector = Detector([scenario], InMemoryWindows(), clock, sensor="replayed")
    assert detector.observe([failure(0, username="a"), failure(1, username="b")]) == []
    (trigger,) = detector.observe([failure(2, username="b")])
    assert (trigger.key, trigger.username) == ((IP, "b"), "b")
    by_sensor = custom(name="s", group_by=["source_ip", "sensor"], threshold={"count": 1})
    (trigger,) = Detector([by_sensor], InMemoryWindows(), clock, sensor="replayed").observe([failure(0)])
    assert trigger.sensor == "replayed"


def test_distinct_user_names(clock) -> None:
    detector = Detector(defaults("user-enumeration"), InMemoryWindows(), clock)
    names = ["root", "root", "admin", "test", "oracle", "root", "pi", "git", "ubuntu", "guest"]
    events = [
        failure(n * 30, username=name, kind=INVALID_USER if n % 2 else AUTH_FAILURE) for n, name in enumerate(names)
    ]
    assert detector.observe(events) == []  # eight distinct names
    assert detector.observe([failure(400, username="admin")]) == []
    (trigger,) = detector.observe([failure(410, username="deploy"), failure(420, username="postgres")])
    assert (trigger.action, trigger.distinct, trigger.count) == ("pending", 10, 13)
    assert trigger.reason == f"10 distinct user names in 1h from {IP} (sshd)"


def test_filters_on_service_log_type_sensor_and_fields(clock) -> None:
    scenario = custom(
        filter={
            "kinds": ["waf_block"],
            "log_types": ["WAF"],
            "sensors": ["edge"],
            "fields": {"http_status": {"in": ["403"]}, "fields.attack_type": {"not_equals": "scanner"}},
        },
        threshold={"count": 2},
    )
    detector = Detector([scenario], InMemoryWindows(), clock)

    def hit(second: int, **values: Any) -> Event:
        base = {"kind": WAF_BLOCK, "service": "modsecurity", "log_type": LOG_WAF, "sensor": "edge", "http_status": 403}
        base.update(values)
        return failure(second, **base)

    misses = [
        hit(0, sensor="other"),
        hit(1, http_status=200),
        hit(2, fields={"attack_type": "scanner"}),
        hit(3, log_type=LOG_AUTH),
        hit(4, kind=AUTH_FAILURE),
    ]
    assert detector.observe(misses) == []
    (trigger,) = detector.observe([hit(5, fields={"attack_type": "sqli"}), hit(6)])
    assert trigger.count == 2
    assert [name for name, _ in detector.matches(hit(7))] == ["test"]
    assert detector.matches(hit(8, sensor="other")) == []


def test_scheduled_scenarios_are_counted_at_ingest_and_decided_by_the_sweep(clock) -> None:
    detector = Detector(defaults("auth-low-and-slow"), InMemoryWindows(), clock)
    events = [failure(n * 3000) for n in range(20)]  # one every 50 minutes: about 16 hours
    assert detector.observe(events) == []
    (trigger,) = detector.sweep(T0 + timedelta(seconds=57_060))
    assert (trigger.scenario, trigger.count, trigger.at) == ("auth-low-and-slow", 20, T0 + timedelta(seconds=57_060))
    assert detector.sweep(T0 + timedelta(seconds=57_120)) == []
    clock.set(T0 + timedelta(days=1))
    assert detector.sweep() == []  # the clock's time by default


def test_cross_sensor_correlation(clock) -> None:
    detector = Detector(defaults("distributed-bruteforce"), InMemoryWindows(), clock)
    detector.observe([failure(0, sensor="web01"), failure(10, sensor="web01"), failure(20, sensor="db01")])
    assert detector.sweep(T0 + timedelta(minutes=1)) == []
    detector.observe([failure(70, sensor="mail01")])
    (trigger,) = detector.sweep(T0 + timedelta(minutes=2))
    assert (trigger.distinct, trigger.reason) == (3, f"failed logins on 3 sensors in 1h from {IP}")


def test_alerts_carry_no_duration_and_disabled_scenarios_do_nothing(clock) -> None:
    alert = custom(name="watch", action="alert", duration=None, threshold={"count": 1})
    off = custom(name="off", enabled=False, threshold={"count": 1})
    detector = Detector([alert, off], InMemoryWindows(), clock)
    assert [s.name for s in detector.scenarios] == ["watch"]
    (trigger,) = detector.observe([failure(0)])
    assert (trigger.action, trigger.duration_seconds, trigger.recidivism_factor) == ("alert", None, 1.0)
    assert trigger.recidivism is None
    assert trigger.reason == f"1 events in 10m from {IP} (sshd)"  # the default template


def test_events_out_of_order_within_a_batch(clock) -> None:
    detector = Detector([custom()], InMemoryWindows(), clock)
    (trigger,) = detector.observe([failure(30), failure(10), failure(20)])
    assert trigger.first_seen == T0 + timedelta(seconds=10) and trigger.at == T0 + timedelta(seconds=30)


def test_a_trigger_as_json() -> None:
    trigger = Trigger(
        scenario="s",
        action="ban",
        source_ip=IP,
        key=(IP,),
        sensor=None,
        username=None,
        count=5,
        distinct=None,
        first_seen=T0,
        last_seen=T0,
        at=T0,
        duration_seconds=60,
        recidivism_factor=2.0,
        recidivism_max_seconds=600,
        severity="high",
        mitre=("T1110",),
        reason="r",
        sample=("l",),
    )
    data = trigger.to_dict()
    assert data["ip"] == IP and data["at"] == "2026-11-24T10:00:00Z" and data["key"] == [IP]
    assert data["recidivism"] == {"factor": 2.0, "max_seconds": 600} and data["sample"] == ["l"]
