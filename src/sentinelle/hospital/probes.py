"""Probes declared in the hospital model: what to check, for which component at which site.

A probe belongs to a service or infrastructure component (``probes:`` under it) or to a site
(``probes:`` under the site: its WAN link, component ``wan``). Its observed state is reported
per (site, component), the same pair the impact engine predicts, so the two can be compared
("predicted down, seen up"). Running probes is :mod:`sentinelle.watch`'s work; this module only
types and validates their declaration, with ``file:line`` for every mistake like the rest of the
model. ``docs/WATCH.md`` describes the fields.

```yaml
services:
  - id: patient-record
    ...
    probes:
      - {id: dpi-web, http: "https://dpi.chu-loire.example/health", expect_text: OK}
      - {tls: "dpi.chu-loire.example:443", min_days: 21}
sites:
  - {id: snz, ..., probes: [{icmp: rt-snz01.chu-loire.example, interval: 30s}]}
```
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

import yaml

from sentinelle.errors import Location
from sentinelle.hospital.yamltree import Reader

WAN = "wan"  # the component a site's own probes watch: its WAN link
MAX_PROBES_PER_OWNER = 200
MIN_INTERVAL = 5.0
MAX_INTERVAL = 86_400.0
MAX_TIMEOUT = 120.0
MAX_RETRIES = 10
DEFAULT_PORTS = {"smtp": 25, "tls": 443}


class ProbeKind(StrEnum):
    HTTP = "http"  # status, body text, response time (http:// and https://)
    TCP = "tcp"  # a connection is accepted
    DNS = "dns"  # a name resolves (to the expected answers)
    SMTP = "smtp"  # the server greets with a 220 banner
    TLS = "tls"  # the certificate is valid for long enough
    ICMP = "icmp"  # echo answered


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ID = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62})$")
_HOST = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63})*\.?$"
)
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?$")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86_400.0}
_RECORDS = ("A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT")


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """When a probe's failures are expected: weekly (``days`` at ``start`` for ``duration``, in
    ``timezone``) or once (``begins`` to ``ends``, epoch seconds)."""

    days: tuple[int, ...] = ()  # 0 = Monday
    start_minute: int = 0
    duration: float = 0.0
    timezone: str = "UTC"
    begins: float | None = None
    ends: float | None = None
    reason: str = ""

    def covers(self, ts: float) -> bool:
        if self.begins is not None and self.ends is not None:
            return self.begins <= ts < self.ends
        zone = zoneinfo.ZoneInfo(self.timezone)
        local = datetime.fromtimestamp(ts, tz=zone)
        # A window that started on one of its days may run past midnight: look a week back.
        for back in range(8):
            day = local - timedelta(days=back)
            if day.weekday() not in self.days:
                continue
            start = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(
                minutes=self.start_minute
            )
            begin = start.astimezone(UTC).timestamp()
            if begin <= ts < begin + self.duration:
                return True
        return False


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    """One declared check. ``site`` empty: the component everywhere (an external provider)."""

    id: str
    kind: ProbeKind
    component: str
    site: str
    target: str  # as written: a URL (http), host:port (tcp, smtp, tls), a name (dns, icmp)
    host: str
    port: int = 0
    interval: float = 60.0
    timeout: float = 10.0
    retries: int = 2  # failures in a row, after the first, before the state turns down
    expect_status: tuple[int, ...] = ()  # http; empty: any 2xx or 3xx
    expect_text: str = ""  # http body or smtp banner contains
    max_response: float | None = None  # http, tcp, dns: slower than this is degraded
    record: str = "A"  # dns
    server: str = ""  # dns server (host or host:port); empty: the system's resolvers
    expect: tuple[str, ...] = ()  # dns: answers that must be among those returned
    min_days: int = 14  # tls: a certificate expiring sooner is degraded
    verify: bool = True  # http, tls: check the certificate chain and name
    maintenance: tuple[MaintenanceWindow, ...] = ()
    location: Location | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        """``component@site`` (or the component alone when it is watched everywhere)."""
        return f"{self.component}@{self.site}" if self.site else self.component

    def in_maintenance(self, ts: float) -> MaintenanceWindow | None:
        return next((w for w in self.maintenance if w.covers(ts)), None)


def parse_seconds(text: str) -> float | None:
    """Seconds in ``"500ms"``, ``"10s"``, ``"2m"``, ``"1h"``, ``"30"`` (seconds); None if not."""
    match = _DURATION.match(text.strip().lower())
    if match is None:
        return None
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


@dataclass(slots=True)
class ProbeOwner:
    """What the probes being read belong to, and where that component runs."""

    component: str
    sites: tuple[str, ...]  # where it has instances; empty: external (everywhere)
    site_probe: bool = False  # probes of a site (its WAN link)


class ProbeParser:
    """Reads ``probes:`` lists into :class:`ProbeSpec`, recording problems in the reader."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.probes: dict[str, ProbeSpec] = {}
        self._nodes: dict[str, yaml.Node] = {}
        self.site_refs: list[tuple[str, yaml.Node]] = []  # checked once every site is known

    def parse(self, node: yaml.Node, owner: ProbeOwner) -> None:
        r = self.reader
        items = r.sequence(node, "probes")
        if items is None:
            return
        if len(items) > MAX_PROBES_PER_OWNER:
            r.problem(node, f"probes: more than {MAX_PROBES_PER_OWNER} entries")
            items = items[:MAX_PROBES_PER_OWNER]
        for item in items:
            self._probe(item, owner)

    def _probe(self, item: yaml.Node, owner: ProbeOwner) -> None:
        r = self.reader
        kinds = tuple(k.value for k in ProbeKind)
        optional = (
            *kinds, "id", "site", "interval", "timeout", "retries", "expect_status",
            "expect_text", "max_response", "record", "server", "expect", "min_days", "verify",
            "maintenance",
        )  # fmt: skip
        f = r.fields(item, "a probe", (), optional)
        if f is None:
            return
        given = [k for k in kinds if k in f]
        if len(given) != 1:
            r.problem(item, f"a probe needs exactly one of {', '.join(kinds)}")
            return
        kind = ProbeKind(given[0])
        target = r.string(f[kind.value], f"{kind} target", max_len=2048)
        if target is None:
            return
        parsed = self._target(kind, target, f[kind.value])
        if parsed is None:
            return
        host, port = parsed
        site = self._site(item, f.get("site"), owner)
        if site is None:
            return
        interval = self._seconds(f, "interval", 60.0, MIN_INTERVAL, MAX_INTERVAL)
        timeout = self._seconds(f, "timeout", min(10.0, interval / 2), 0.1, MAX_TIMEOUT)
        if "timeout" in f and timeout >= interval:
            r.problem(f["timeout"], f"timeout {timeout:g}s must be shorter than the interval")
        retries = 2
        if "retries" in f:
            retries = r.integer(f["retries"], "retries") or 0
            if retries > MAX_RETRIES:
                r.problem(f["retries"], f"retries must be at most {MAX_RETRIES}")
        spec = ProbeSpec(
            id="",
            kind=kind,
            component=owner.component,
            site=site,
            target=target,
            host=host,
            port=port,
            interval=interval,
            timeout=timeout,
            retries=retries,
            location=r.at(item),
        )
        spec = self._details(spec, f)
        ident = self._id(f.get("id"), spec, item)
        if ident:
            self.probes[ident] = dataclasses.replace(spec, id=ident)
            self._nodes[ident] = item

    def _target(self, kind: ProbeKind, text: str, node: yaml.Node) -> tuple[str, int] | None:
        r = self.reader
        if kind is ProbeKind.HTTP:
            try:
                parts = urlsplit(text)
                port = parts.port
            except ValueError as exc:
                r.problem(node, f"http target {text!r}: {exc}")
                return None
            if parts.scheme not in ("http", "https") or not parts.hostname:
                r.problem(node, f"http target {text!r}: give an http:// or https:// URL")
                return None
            return parts.hostname, port or (443 if parts.scheme == "https" else 80)
        if kind in (ProbeKind.DNS, ProbeKind.ICMP):
            if not _valid_host(text):
                r.problem(node, f"{kind} target {text!r} is not a host name or address")
                return None
            return text, 0
        host, port = _split_host_port(text)
        if port is None:
            if kind is ProbeKind.TCP:
                r.problem(node, f"tcp target {text!r}: give host:port")
                return None
            port = DEFAULT_PORTS[kind.value]
        if not _valid_host(host) or not 0 < port < 65536:
            r.problem(node, f"{kind} target {text!r}: expected host:port")
            return None
        return host, port

    def _site(self, item: yaml.Node, node: yaml.Node | None, owner: ProbeOwner) -> str | None:
        r = self.reader
        if owner.site_probe:
            if node is not None:
                r.problem(node, "a site's probe watches that site: leave 'site' out")
            return owner.sites[0]
        if node is None:
            if len(owner.sites) <= 1:
                return owner.sites[0] if owner.sites else ""
            listed = ", ".join(owner.sites)
            r.problem(
                item, f"{owner.component} runs at {listed}: say which site this probe watches"
            )
            return None
        site = r.string(node, "probe site")
        if site is None:
            return None
        if owner.sites and site not in owner.sites:
            listed = ", ".join(owner.sites)
            r.problem(node, f"{owner.component} has no instance at {site!r} (sites: {listed})")
            return None
        self.site_refs.append((site, node))
        return site

    def _seconds(
        self, f: dict[str, yaml.Node], key: str, default: float, low: float, high: float
    ) -> float:
        if key not in f:
            return default
        text = self.reader.string(f[key], key)
        value = parse_seconds(text) if text else None
        if value is None:
            self.reader.problem(f[key], f"{key} {text!r} is not a duration such as 30s, 5m, 1h")
            return default
        if not low <= value <= high:
            self.reader.problem(f[key], f"{key} must be between {low:g}s and {high:g}s")
            return default
        return value

    def _details(self, spec: ProbeSpec, f: dict[str, yaml.Node]) -> ProbeSpec:
        r = self.reader
        kind = spec.kind
        allowed = {
            "expect_status": (ProbeKind.HTTP,),
            "expect_text": (ProbeKind.HTTP, ProbeKind.SMTP),
            "max_response": (ProbeKind.HTTP, ProbeKind.TCP, ProbeKind.DNS, ProbeKind.ICMP),
            "record": (ProbeKind.DNS,),
            "server": (ProbeKind.DNS,),
            "expect": (ProbeKind.DNS,),
            "min_days": (ProbeKind.TLS,),
            "verify": (ProbeKind.HTTP, ProbeKind.TLS),
        }
        for key, kinds in allowed.items():
            if key in f and kind not in kinds:
                r.problem(f[key], f"{key!r} does not apply to a {kind} probe")
        changes: dict[str, object] = {}
        if "expect_status" in f and kind in allowed["expect_status"]:
            codes = []
            node = f["expect_status"]
            items = node.value if isinstance(node, yaml.SequenceNode) else [node]
            for code_node in items:
                code = r.integer(code_node, "expect_status", minimum=100)
                if code is not None and code > 599:
                    r.problem(code_node, "an HTTP status is between 100 and 599")
                elif code is not None:
                    codes.append(code)
            changes["expect_status"] = tuple(codes)
        if "expect_text" in f:
            changes["expect_text"] = r.string(f["expect_text"], "expect_text", max_len=1024) or ""
        if "max_response" in f:
            changes["max_response"] = self._seconds(f, "max_response", 0.0, 0.001, MAX_TIMEOUT)
        if "record" in f and kind is ProbeKind.DNS:
            record = (r.string(f["record"], "record") or "A").upper()
            if record not in _RECORDS:
                r.problem(f["record"], f"record {record!r}: use one of {', '.join(_RECORDS)}")
            changes["record"] = record
        if "server" in f and kind is ProbeKind.DNS:
            server = r.string(f["server"], "server") or ""
            host, port = _split_host_port(server)
            if not _valid_host(host) or (port is not None and not 0 < port < 65536):
                r.problem(f["server"], f"server {server!r}: expected host or host:port")
            changes["server"] = server
        if "expect" in f and kind is ProbeKind.DNS:
            changes["expect"] = tuple(t for t, _ in r.strings(f["expect"], "expect"))
        if "min_days" in f and kind is ProbeKind.TLS:
            changes["min_days"] = r.integer(f["min_days"], "min_days") or 0
        if "verify" in f and kind in allowed["verify"]:
            changes["verify"] = r.boolean(f["verify"], "verify") is not False
        if "maintenance" in f:
            changes["maintenance"] = tuple(self._windows(f["maintenance"]))
        return dataclasses.replace(spec, **changes)  # type: ignore[arg-type]

    def _windows(self, node: yaml.Node) -> list[MaintenanceWindow]:
        r = self.reader
        out: list[MaintenanceWindow] = []
        for item in r.sequence(node, "maintenance") or []:
            f = r.fields(
                item,
                "a maintenance window",
                (),
                ("days", "start", "duration", "timezone", "from", "to", "reason"),
            )
            if f is None:
                continue
            reason = r.string(f["reason"], "reason", max_len=500) or "" if "reason" in f else ""
            if "from" in f or "to" in f:
                window = self._once(item, f, reason)
            else:
                window = self._weekly(item, f, reason)
            if window is not None:
                out.append(window)
        return out

    def _once(
        self, item: yaml.Node, f: dict[str, yaml.Node], reason: str
    ) -> MaintenanceWindow | None:
        r = self.reader
        if "from" not in f or "to" not in f or any(k in f for k in ("days", "start", "duration")):
            r.problem(item, "a one-off window has 'from' and 'to' (and no days, start, duration)")
            return None
        zone = self._zone(f)
        bounds: list[float] = []
        for key in ("from", "to"):
            text = r.string(f[key], key) or ""
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                r.problem(f[key], f"{key} {text!r}: write a date and time, 2025-03-01T22:00")
                return None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zoneinfo.ZoneInfo(zone))
            bounds.append(moment.timestamp())
        if bounds[1] <= bounds[0]:
            r.problem(f["to"], "'to' must come after 'from'")
            return None
        return MaintenanceWindow(timezone=zone, begins=bounds[0], ends=bounds[1], reason=reason)

    def _weekly(
        self, item: yaml.Node, f: dict[str, yaml.Node], reason: str
    ) -> MaintenanceWindow | None:
        r = self.reader
        if not all(k in f for k in ("days", "start", "duration")):
            r.problem(item, "a weekly window has 'days', 'start' and 'duration' (or 'from'/'to')")
            return None
        days: list[int] = []
        node = f["days"]
        if isinstance(node, yaml.ScalarNode) and node.value == "all":
            days = list(range(7))
        for text, where in [] if days else r.strings(node, "days"):
            name = text.lower()[:3]
            if name not in _DAYS:
                r.problem(where, f"day {text!r}: use {', '.join(_DAYS)} or 'all'")
                continue
            days.append(_DAYS.index(name))
        start_text = r.string(f["start"], "start") or ""
        clock = _CLOCK.match(start_text)
        if clock is None:
            r.problem(f["start"], f"start {start_text!r}: write the time as HH:MM")
            return None
        duration = self._seconds(f, "duration", 0.0, 60.0, 7 * 86_400.0)
        if not days or not duration:
            return None
        return MaintenanceWindow(
            days=tuple(sorted(set(days))),
            start_minute=int(clock.group(1)) * 60 + int(clock.group(2)),
            duration=duration,
            timezone=self._zone(f),
            reason=reason,
        )

    def _zone(self, f: dict[str, yaml.Node]) -> str:
        if "timezone" not in f:
            return "UTC"
        name = self.reader.string(f["timezone"], "timezone") or "UTC"
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            self.reader.problem(f["timezone"], f"unknown time zone {name!r} (e.g. Europe/Paris)")
            return "UTC"
        return name

    def _id(self, node: yaml.Node | None, spec: ProbeSpec, item: yaml.Node) -> str:
        r = self.reader
        if node is None:
            ident = f"{spec.component}.{spec.kind}" + (f".{spec.site}" if spec.site else "")
            if ident in self.probes:
                first = r.at(self._nodes[ident]).line
                r.problem(
                    item,
                    f"a second {spec.kind} probe of {spec.label} (first at line {first}):"
                    " give each an 'id'",
                )
                return ""
            return ident
        ident = r.string(node, "probe id") or ""
        if ident and not _ID.match(ident):
            r.problem(node, f"probe id {ident!r}: use lower-case letters, digits, '.', '-', '_'")
            return ""
        if ident in self.probes:
            first = r.at(self._nodes[ident]).line
            r.problem(node, f"duplicate probe id {ident!r} (first at line {first})")
            return ""
        return ident


def _split_host_port(text: str) -> tuple[str, int | None]:
    """``host:port``, ``[v6]:port``, ``host`` or a bare IPv6 address."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return host, _port(port) if port else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, _port(port)
    return text, None


def _port(text: str) -> int:
    """A port's number, or -1 (out of range) for anything ``int`` would not read as one:
    ``isdecimal`` is what ``int`` takes ('²' passes ``isdigit`` and makes ``int`` raise)."""
    return int(text) if text.isdecimal() and len(text) <= 5 else -1


def _valid_host(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return bool(_HOST.match(text))
    return True
