"""Web server access logs in the combined format, as written by nginx (`combined`) and Apache (`%h %l %u %t ...`).

`203.0.113.9 - - [24/Nov/2026:10:00:00 +0000] "GET /.env HTTP/1.1" 404 153 "-" "curl/8.5.0"`. The two servers
share the format, so one module serves both registry entries; they differ in what may come around it: Apache's
`vhost_combined` puts `host:port` first, Apache with `HostnameLookups On` puts a host name where the IP
belongs (None: a name is not an address to ban), and nginx setups often append fields
(`$http_x_forwarded_for`, timings) after the user agent. The common format (no referer or agent) is read as
well.

Every request is an `http_request` event; detection counts them (404 storms, floods). Requests for paths that
only scanners ask for (`/.env`, `/.git/config`, `/wp-login.php` on a site that is not WordPress,
`/phpmyadmin`) carry `fields["probe"] = "1"` and T1595.002 (vulnerability scanning). The flag is a hint for
scenarios, never a verdict on its own: a WordPress site serves `/wp-login.php` to its own users.
"""

from __future__ import annotations

import re
from types import MappingProxyType

from chalicelib.events.model import HTTP_REQUEST, INFO, LOG_HTTP, LOW, Event, freeze
from chalicelib.events.parsers import (
    ParseContext,
    ParserInfo,
    ParserRule,
    clf_time,
    normalise_ip,
    text_or_none,
    to_int,
)

SERVICE = "http"
VULNERABILITY_SCANNING = ("T1595", "T1595.002")

_LINE = re.compile(
    r"(?:(?P<vhost>[^\s:]+:\d+) )?(?P<ip>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "
    r'"(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) (?P<size>\d+|-)'
    r'(?: "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)")?',
    re.ASCII,
)

# Paths asked for by scanners and exploit kits, not by visitors: lower-case prefixes of the path (no query).
PROBE_PREFIXES: tuple[str, ...] = (
    "/.env",
    "/.git",
    "/.svn/",
    "/.hg/",
    "/.aws/",
    "/.ssh/",
    "/.ds_store",
    "/.htpasswd",
    "/wp-login.php",
    "/xmlrpc.php",
    "/wp-config.php",
    "/phpmyadmin",
    "/pma/",
    "/myadmin",
    "/phpinfo.php",
    "/vendor/phpunit",
    "/cgi-bin/",
    "/boaform/",
    "/hnap1",
    "/actuator/",
    "/server-status",
    "/solr/admin",
    "/manager/html",
    "/owa/auth/x.js",
    "/setup.cgi",
    "/shell?",
    "/shell.php",
    "/etc/passwd",
)
_PROBE_FRAGMENTS: tuple[str, ...] = ("../", "..%2f", "/etc/passwd", "${jndi:", "<script")


def parse_nginx(line: str, context: ParseContext) -> Event | None:
    """An nginx access-log line (combined format, extra trailing fields ignored) as an `http_request`."""
    return _parse(line, context, "nginx")


def parse_apache(line: str, context: ParseContext) -> Event | None:
    """An Apache access-log line (combined, common or vhost_combined) as an `http_request`."""
    return _parse(line, context, "apache")


def _parse(line: str, context: ParseContext, server: str) -> Event | None:
    if not isinstance(line, str) or '" ' not in line:
        return None
    found = _LINE.match(line)
    if found is None:
        return None
    source_ip = normalise_ip(found["ip"])
    time = clf_time(found["time"])
    if source_ip is None or time is None:
        return None
    request = found["request"]
    method, uri, protocol = _request_parts(request)
    vhost = found["vhost"]
    probe = uri is not None and is_probe(uri)
    extra = {
        "server": server,
        "method": method,
        "protocol": protocol,
        "bytes": text_or_none(found["size"]),
        "referer": text_or_none(found["referer"]),
        "user_agent": text_or_none(found["agent"]),
        "vhost": vhost,
        "request": request[:2000] if uri is None else None,  # junk request lines are kept whole
        "probe": "1" if probe else None,
    }
    return Event(
        time=time,
        source_ip=source_ip,
        kind=HTTP_REQUEST,
        service=SERVICE,
        log_type=LOG_HTTP,
        severity=LOW if probe else INFO,
        username=text_or_none(found["user"]),
        hostname=vhost.rsplit(":", 1)[0] if vhost else context.hostname,
        http_status=to_int(found["status"]),
        uri=uri,
        message=request[:2000] or None,
        mitre=VULNERABILITY_SCANNING if probe else (),
        fields=freeze({key: value for key, value in extra.items() if value is not None}),
        raw=line,
    )


def _request_parts(request: str) -> tuple[str | None, str | None, str | None]:
    """`GET /x HTTP/1.1` -> (method, uri, protocol); junk (a TLS hello on port 80) -> (None, None, None)."""
    parts = request.split(" ")
    if len(parts) == 3 and parts[0].isalpha() and parts[0].isupper() and parts[2].startswith("HTTP/"):
        return parts[0], parts[1], parts[2]
    if len(parts) == 2 and parts[0].isalpha() and parts[0].isupper() and parts[1].startswith("/"):
        return parts[0], parts[1], None  # HTTP/0.9
    return None, None, None


def is_probe(uri: str) -> bool:
    """True when the request path is one only scanners ask for."""
    lowered = uri.lower()
    path = lowered.split("?", 1)[0]
    # A full URL in the request line (proxy probing) still has its path checked.
    if path.startswith(("http://", "https://")):
        slash = path.find("/", path.find("//") + 2)
        path = path[slash:] if slash > 0 else "/"
    return path.startswith(PROBE_PREFIXES) or any(fragment in lowered for fragment in _PROBE_FRAGMENTS)


_FIELDS = (
    "time",
    "source_ip",
    "username",
    "hostname",
    "http_status",
    "uri",
    "message",
    "fields.server",
    "fields.method",
    "fields.protocol",
    "fields.bytes",
    "fields.referer",
    "fields.user_agent",
    "fields.vhost",
    "fields.request",
    "fields.probe",
)
_RULES = (
    ParserRule("request", '<ip> - <user> [<time>] "<method> <uri> <proto>" <status> <bytes> ...', HTTP_REQUEST),
    ParserRule(
        "probe-path",
        "request path starts with a scanner-only path (/.env, /.git/, /wp-login.php, ...) or holds ../",
        HTTP_REQUEST,
        VULNERABILITY_SCANNING,
    ),
)

NGINX = ParserInfo(
    name="nginx",
    description="nginx access log, combined format (trailing extra fields allowed)",
    parse=parse_nginx,
    log_types=(LOG_HTTP,),
    fields=_FIELDS,
    kinds=(HTTP_REQUEST,),
    mitre=MappingProxyType({HTTP_REQUEST: VULNERABILITY_SCANNING}),
    rules=_RULES,
)
APACHE = ParserInfo(
    name="apache",
    description="Apache httpd access log: combined, common or vhost_combined",
    parse=parse_apache,
    log_types=(LOG_HTTP,),
    fields=_FIELDS,
    kinds=(HTTP_REQUEST,),
    mitre=MappingProxyType({HTTP_REQUEST: VULNERABILITY_SCANNING}),
    rules=_RULES,
)
