"""The service's settings: embedded defaults, a YAML file over them, command-line flags over both.

``sentinelle serve`` runs with nothing configured: a data folder (``$SENTINELLE_DATA_DIR``, else
the user's data folder), SQLite in it, listeners on loopback, the shipped rules plus the
downloaded SigmaHQ set, the worked hospital model. A file lists only what it changes; unknown
keys and bad values are errors naming the file and line (the same loader as the network
detectors' thresholds, ``sentinelle.configfile``). ``--print-config`` shows the result.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sentinelle.configfile import Checks, build_section, compose, node_line, plain, read_text
from sentinelle.detections import LEVELS
from sentinelle.errors import ConfigError, Location
from sentinelle.service.inputs.limits import InputLimits
from sentinelle.service.journal import JournalLimits

OFF = "off"
_JOURNAL = JournalLimits()
LISTENERS = (
    "http",
    "syslog_udp",
    "syslog_tcp",
    "syslog_tls",
    "syslog_relp",
    "syslog_relp_tls",
    "netflow",
)
# Numbers that may be 0 (every other one must be positive).
_MAY_BE_ZERO = frozenset({"min_free_bytes", "udp_linger", "folder_stable_seconds"})


@dataclass(frozen=True, slots=True)
class JournalSection:
    """``journal:``: how big and old the journal may grow (see ``service.journal``)."""

    max_bytes: int = _JOURNAL.max_bytes
    max_age_seconds: float = _JOURNAL.max_age_seconds
    segment_bytes: int = _JOURNAL.segment_bytes
    segment_seconds: float = _JOURNAL.segment_seconds
    min_free_bytes: int = _JOURNAL.min_free_bytes

    def limits(self) -> JournalLimits:
        return JournalLimits(
            max_bytes=self.max_bytes,
            max_age_seconds=self.max_age_seconds,
            segment_bytes=self.segment_bytes,
            segment_seconds=self.segment_seconds,
            min_free_bytes=self.min_free_bytes,
        )


@dataclass(frozen=True, slots=True)
class DetectorSection:
    """``detector:``: how the detector reads the journal and groups alerts into incidents."""

    batch_records: int = 2_000  # records matched per store transaction at most
    poll_seconds: float = 0.05  # idle wait before looking at the journal again
    suppressions_seconds: float = 5.0  # how often active suppressions are read again
    incident_level: str = "medium"  # alerts below this level join no incident
    incident_gap_seconds: float = 7_200.0  # an entity seen again within this joins the incident
    wave_gap_seconds: float = 900.0  # the same serious rule at the same site: one incident
    # Open groups each correlation rule keeps (hunt --max-correlation-groups); past it, those
    # furthest from their threshold go first, counted on /healthz and /metrics.
    max_correlation_groups: int = 100_000


@dataclass(frozen=True, slots=True)
class Route:
    """One notification route: alerts at or above ``min_level`` (at ``sites``, if given) go to
    the Apprise ``urls``."""

    name: str = ""  # required (checked with the file's line)
    urls: tuple[str, ...] = ()  # required
    min_level: str = "high"
    sites: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NotifySection:
    """``notifications:``: the routes, and how a failing channel is retried."""

    routes: tuple[Route, ...] = ()
    attempts: int = 8  # then the notification is given up (and counted)
    backoff_seconds: float = 5.0  # doubled at each failure ...
    max_backoff_seconds: float = 600.0  # ... up to this
    timeout_seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class ServeConfig:
    data_dir: str = ""  # empty: $SENTINELLE_DATA_DIR, else the user's data folder
    database_url: str = ""  # empty: SQLite in the data folder
    http: str = "127.0.0.1:8080"
    syslog_udp: str = "127.0.0.1:5514"
    syslog_tcp: str = "127.0.0.1:5514"
    syslog_tls: str = OFF
    syslog_relp: str = OFF  # RELP (rsyslog's omrelp): each message answered once journaled
    syslog_relp_tls: str = OFF  # RELP over TLS (omrelp's tls="on"): the same TLS files
    tls_certificate: str = ""  # PEM files for syslog over TLS and RELP over TLS
    tls_key: str = ""
    tls_client_ca: str = ""  # PEM: when set, TLS senders must show a certificate it signed
    netflow: str = "127.0.0.1:2055"
    watch_folder: str = ""  # empty: no watched folder
    rules: tuple[str, ...] = ()  # empty: shipped rules + config folders + downloaded SigmaHQ
    model: str = ""  # empty: the worked example hospital
    journal: JournalSection = field(default_factory=JournalSection)
    inputs: InputLimits = field(default_factory=InputLimits)
    detector: DetectorSection = field(default_factory=DetectorSection)
    notifications: NotifySection = field(default_factory=NotifySection)

    def data_path(self) -> Path:
        if self.data_dir:
            return Path(self.data_dir).expanduser()
        env = os.environ.get("SENTINELLE_DATA_DIR")
        if env:
            return Path(env).expanduser()
        from platformdirs import user_data_dir

        return Path(user_data_dir("sentinelle"))

    def journal_path(self) -> Path:
        return self.data_path() / "journal"

    def address(self, listener: str) -> tuple[str, int] | None:
        """``(host, port)`` of a listener, or None when it is off."""
        value = getattr(self, listener)
        return None if value == OFF else parse_address(value, listener)

    def model_path(self) -> Path:
        if self.model:
            return Path(self.model).expanduser()
        from sentinelle.hospital import example_model_path

        return example_model_path()

    def rule_paths(self) -> list[Path]:
        """The same rule selection as ``sentinelle hunt`` (``--rules`` or its defaults)."""
        from sentinelle.hunt.rulesets import default_rule_paths, resolve_rule_args

        return resolve_rule_args(list(self.rules)) if self.rules else default_rule_paths()


def parse_address(value: str, name: str = "address") -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) into its parts; ConfigError when malformed."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host or not port_text.isdecimal():
        raise ConfigError(f"{name}: expected HOST:PORT or 'off', got {value!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    port = int(port_text)
    if not 0 < port < 65536:
        raise ConfigError(f"{name}: port {port} out of range 1-65535")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not all(part.isalnum() or "-" in part for part in host.split(".")) or "/" in host:
            raise ConfigError(f"{name}: {host!r} is not an address or host name") from None
    return host, port


def load_config(path: Path | None) -> ServeConfig:
    """The file's settings over the defaults (the defaults alone when None)."""
    if path is None:
        return ServeConfig()
    return parse_config(read_text(path), str(path))


def parse_config(text: str, source: str = "<config>") -> ServeConfig:
    node = compose(text, source)
    if node is None:
        return ServeConfig()
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError("top level: expected a mapping", Location(source, node_line(node)))
    # The routes are a list of mappings, which the shared loader does not take: built here.
    notify_node = None
    rest = []
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "notifications":
            notify_node = value
        else:
            rest.append((key, value))
    node = yaml.MappingNode(node.tag, rest, node.start_mark, node.end_mark)
    config = build_section(ServeConfig, node, source, "", _CHECKS)
    assert isinstance(config, ServeConfig)
    for key, value in node.value:
        name = str(key.value)
        if name in LISTENERS and getattr(config, name) != OFF:
            try:
                parse_address(getattr(config, name), name)
            except ConfigError as exc:
                raise ConfigError(exc.message, Location(source, node_line(value))) from None
        if name == "detector":
            level = config.detector.incident_level
            if level not in LEVELS:
                raise ConfigError(
                    f"detector.incident_level: expected one of {', '.join(LEVELS)}",
                    Location(source, node_line(value)),
                )
    if notify_node is not None:
        config = dataclasses.replace(config, notifications=_notify(notify_node, source))
    if config.tls_client_ca and not (config.tls_certificate and config.tls_key):
        raise ConfigError(
            "tls_client_ca: needs tls_certificate and tls_key (the listener's own)",
            Location(source),
        )
    return config


def _notify(node: yaml.Node, source: str) -> NotifySection:
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError("notifications: expected a mapping", Location(source, node_line(node)))
    routes_node = None
    rest = []
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "routes":
            routes_node = value
        else:
            rest.append((key, value))
    section = build_section(
        NotifySection,
        yaml.MappingNode(node.tag, rest, node.start_mark, node.end_mark),
        source,
        "notifications.",
        _CHECKS,
    )
    assert isinstance(section, NotifySection)
    if routes_node is None:
        return section
    if not isinstance(routes_node, yaml.SequenceNode):
        raise ConfigError(
            "notifications.routes: expected a list of routes",
            Location(source, node_line(routes_node)),
        )
    routes: list[Route] = []
    names: set[str] = set()
    for item in routes_node.value:
        where = Location(source, node_line(item))
        route = build_section(Route, item, source, "notifications.routes[].", _CHECKS)
        assert isinstance(route, Route)
        if not route.name or not route.urls:
            raise ConfigError("a route needs a name and at least one url", where)
        if route.name in names:
            raise ConfigError(f"route {route.name!r} given twice", where)
        if route.min_level not in LEVELS:
            raise ConfigError(f"route {route.name!r}: min_level must be one of {LEVELS}", where)
        names.add(route.name)
        routes.append(route)
    return dataclasses.replace(section, routes=tuple(routes))


def with_overrides(config: ServeConfig, **overrides: Any) -> ServeConfig:
    """Command-line flags over the file's settings (None: not given)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    for name in LISTENERS:
        if name in given and given[name] != OFF:
            parse_address(given[name], "--" + name.replace("_", "-"))
    if "rules" in given:
        given["rules"] = tuple(given["rules"])
    return dataclasses.replace(config, **given)


def dump_config(config: ServeConfig) -> str:
    """Every setting with its value, as YAML a file could hold."""
    data = plain(config)
    data["data_dir"] = str(config.data_path())
    data["model"] = str(config.model_path())
    return yaml.safe_dump(data, sort_keys=False)


_CHECKS = Checks(may_be_zero=_MAY_BE_ZERO)
