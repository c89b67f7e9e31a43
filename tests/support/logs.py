"""Log lines for feeding the platform through its public ingest door, written from the formats' documentation.

Each builder takes the event's time (a UTC datetime, usually the test clock's `now()` minus a little) so that
tests control exactly which window, bucket or day an event falls in. `ingest` posts a batch as an agent would.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.support.client import ApiClient


def sshd_failure(when: datetime, ip: str, user: str = "root", host: str = "web01") -> str:
    """OpenSSH refusing a password (auth.log, classic syslog stamp)."""
    stamp = f"{when:%b} {when.day:>2} {when:%H:%M:%S}"
    return f"{stamp} {host} sshd[1234]: Failed password for {user} from {ip} port 51234 ssh2"


def sshd_invalid_user(when: datetime, ip: str, user: str, host: str = "web01") -> str:
    """OpenSSH naming an account that does not exist."""
    return f"{when:%b} {when.day:>2} {when:%H:%M:%S} {host} sshd[1234]: Invalid user {user} from {ip} port 40022"


def _sfos(when: datetime) -> str:
    return f'device_name="XGS2100" timestamp="{when:%Y-%m-%dT%H:%M:%S}Z"'


def xgs_firewall(when: datetime, ip: str, src_zone: str, dst_zone: str, *, allowed: bool = False) -> str:
    """Sophos Firewall (SFOS 19+) firewall rule record with its zones."""
    subtype = "Allowed" if allowed else "Denied"
    return (
        f'{_sfos(when)} log_id="010101600001" log_type="Firewall" log_component="Firewall Rule" '
        f'log_subtype="{subtype}" severity="Information" fw_rule_id="5" src_ip="{ip}" dst_ip="192.0.2.10" '
        f'protocol="TCP" src_port=50875 dst_port=3389 src_zone="{src_zone}" dst_zone="{dst_zone}"'
    )


def xgs_firewall_legacy(when: datetime, ip: str, src_zone: str, dst_zone: str) -> str:
    """The same record as SFOS up to 18.5 writes it (`srczone`/`dstzone`, date and time apart)."""
    return (
        f'device="SFW" date={when:%Y-%m-%d} time={when:%H:%M:%S} timezone="UTC" device_name="XGS2100" '
        f'log_id=010102600002 log_type="Firewall" log_component="Firewall Rule" log_subtype="Denied" '
        f'priority=Information fw_rule_id=5 src_ip={ip} dst_ip=192.0.2.10 protocol="TCP" src_port=51515 '
        f'dst_port=22 srczone="{src_zone}" dstzone="{dst_zone}"'
    )


def xgs_waf(when: datetime, ip: str, host: str = "shop.example.com", agent: str = "sqlmap/1.8") -> str:
    """Sophos WAF verdict: ModSecurity blocked a SQL injection (HTTP 403)."""
    return (
        f'device="SFW" date={when:%Y-%m-%d} time={when:%H:%M:%S} timezone="UTC" device_name="XGS2100" '
        f'log_id=075000617002 log_type="WAF" log_component="Web Application Firewall" priority=Information '
        f"server={host} sourceip={ip} url=/products.php querystring=?id=1 method=GET httpstatus=403 "
        f'reason="ModSecurity: Access denied with code 403 (phase 2). [id \\"942100\\"] '
        f'[msg \\"SQL Injection Attack Detected via libinjection\\"]" useragent="{agent}" host={host}'
    )


def xgs_ips(when: datetime, ip: str, severity: str = "Critical") -> str:
    """Sophos IPS signature hit on a server (an exploit attempt)."""
    return (
        f'{_sfos(when)} log_id="020804407002" log_type="IDP" log_component="Signatures" log_subtype="Drop" '
        f'severity="{severity}" signature_id=58722 signature_msg="SERVER-WEBAPP Apache Struts remote code execution '
        f'attempt" classification="Attempted Administrator Privilege Gain" src_ip="{ip}" dst_ip="192.0.2.11" '
        f'protocol="TCP" src_port=40404 dst_port=8080 src_zone="WAN" dst_zone="DMZ" target="Server"'
    )


def xgs_atp(when: datetime, ip: str) -> str:
    """Sophos ATP: an inside host calling a command-and-control server."""
    return (
        f'{_sfos(when)} log_id="086320518009" log_type="ATP" log_component="Firewall" log_subtype="Alert" '
        f'severity="Notice" user_name="gaston" protocol="TCP" src_port=52000 dst_port=443 sourceip={ip} '
        f"destinationip=198.51.100.66 url=198.51.100.66 threatname=C2/Generic-A"
    )


def ingest(client: ApiClient, sensor: str, fmt: str, lines: list[Any], **extra: Any) -> dict[str, Any]:
    """Post raw lines through `POST /api/v1/ingest`; returns the batch result (asserting it was accepted)."""
    response = client.post("/api/v1/ingest", json={"sensor": sensor, "format": fmt, "lines": lines, **extra})
    assert response.status == 200, response.body
    return response.json()["data"]
