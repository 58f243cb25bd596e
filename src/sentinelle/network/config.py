"""Thresholds, windows and memory caps of the network detectors, loaded from YAML.

Every setting has a default chosen for a regional hospital (a few thousand hosts, links of one
to ten gigabits); a file only lists what it changes. The file may hold the settings at its top
level or under a ``network:`` key (so they can live in a larger Sentinelle config). Unknown
keys, wrong types and out-of-range values are errors that name the file, line and key.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sentinelle.configfile import Checks, build_section, compose, plain, read_text
from sentinelle.errors import ConfigError, Location
from sentinelle.network.netflow import DecoderLimits


@dataclass(frozen=True, slots=True)
class BaselineConfig:
    """The learned normal: an exponentially weighted mean and mean deviation per time slot."""

    alpha: float = 0.05  # weight of each new window (about the last 20 windows count)
    slots_per_day: int = 24  # one baseline per hour of the local day
    timezone: str = "Europe/Paris"  # the hospital's clock decides what "night" means
    min_samples: int = 20  # windows learned before the baseline may raise a threshold
    slot_min_samples: int = 5  # windows in a slot before that slot replaces the all-day baseline


@dataclass(frozen=True, slots=True)
class FloodConfig:
    """Per destination: an attack starts when a rate passes its floor AND its baseline."""

    floor_pps: float = 20_000.0  # packets per second
    floor_bps: float = 200_000_000.0  # bits per second
    floor_fps: float = 2_000.0  # new flows per second
    factor: float = 4.0  # a rate must exceed factor × its baseline mean ...
    deviations: float = 6.0  # ... and the mean plus this many mean deviations
    end_ratio: float = 0.5  # ends when every rate stays under end_ratio × its start threshold
    end_windows: int = 1  # ... for this many windows
    top: int = 5  # top sources, protocols and ports reported
    max_destinations: int = 20_000  # destinations with state; least recently active evicted
    max_sources_per_step: int = 2_000  # sources counted per destination and step
    max_source_entries_per_step: int = 200_000  # sources counted per step, all destinations
    max_attacks: int = 1_000  # attacks open at once


@dataclass(frozen=True, slots=True)
class ScanConfig:
    """One source reaching many ports of one host, or many hosts, with probe-like flows."""

    window_seconds: float = 60.0
    min_ports: int = 100  # distinct ports on one host
    min_hosts: int = 50  # distinct hosts
    probe_max_packets: int = 3  # a flow this small (or SYN-only, or denied) is a probe
    max_sources: int = 20_000
    max_targets_per_source: int = 4_096


@dataclass(frozen=True, slots=True)
class ExfilConfig:
    """Bytes sent by each internal host to outside addresses, against its own baseline."""

    window_seconds: float = 600.0
    floor_bytes: float = 1_000_000_000.0  # per window
    factor: float = 10.0
    deviations: float = 8.0
    max_hosts: int = 20_000
    top: int = 5


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    step_seconds: float = 5.0  # windows slide by this much
    window_seconds: float = 30.0  # rates are averaged over this much time
    # A step closes this long after the newest flow passed it: more than the exporters take to
    # send a finished flow (NetFlow inactive timeouts are often 15 s, softflowd scans every 60 s).
    # It delays when an alert is raised, not the times it carries.
    lateness_seconds: float = 60.0
    max_jump_seconds: float = 21_600.0  # a flow further ahead of the clock is held suspect
    # ... until such flows agree (network/clock.py): over this many deliveries (datagrams, or
    # batches of a file), lasting agreement_seconds of arrival time when it is known, else from
    # two senders or agreement_flows flows; at most max_held_flows are kept meanwhile.
    agreement_deliveries: int = 8
    agreement_seconds: float = 60.0
    agreement_flows: int = 1_024
    max_held_flows: int = 16_384
    internal_networks: tuple[str, ...] = (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "fc00::/7",
    )
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    flood: FloodConfig = field(default_factory=FloodConfig)
    scan: ScanConfig = field(default_factory=ScanConfig)
    exfil: ExfilConfig = field(default_factory=ExfilConfig)
    decoder: DecoderLimits = field(default_factory=DecoderLimits)


# Settings that may be zero; every other number must be positive.
_MAY_BE_ZERO = frozenset(
    {"lateness_seconds", "floor_pps", "floor_bps", "floor_fps", "floor_bytes", "deviations"}
)
_AT_MOST_ONE = frozenset({"alpha", "end_ratio"})


def load_config(path: Path | None) -> NetworkConfig:
    """The configuration in ``path`` over the defaults (the defaults alone when None)."""
    if path is None:
        return NetworkConfig()
    return parse_config(read_text(path), str(path))


def parse_config(text: str, source: str = "<config>") -> NetworkConfig:
    node = compose(text, source)
    if node is None:
        return NetworkConfig()
    if isinstance(node, yaml.MappingNode) and len(node.value) == 1:
        key, value = node.value[0]
        if isinstance(key, yaml.ScalarNode) and key.value == "network":
            node = value
    config = build_section(NetworkConfig, node, source, "", _CHECKS)
    assert isinstance(config, NetworkConfig)
    _check_whole(config, source)
    return config


def _check_value(key: str, value: Any, name: str, where: Location) -> None:
    if key == "internal_networks":
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ConfigError(f"{name}: {exc}", where) from exc
    elif key == "timezone":
        _check_timezone(value, name, where)
    elif key in _AT_MOST_ONE and value > 1:
        raise ConfigError(f"{name}: must be at most 1", where)


_CHECKS = Checks(may_be_zero=_MAY_BE_ZERO, value=_check_value)


def _check_timezone(value: str, name: str, where: Location) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"{name}: unknown time zone {value!r}", where) from exc


def _check_whole(config: NetworkConfig, source: str) -> None:
    if config.window_seconds < config.step_seconds:
        raise ConfigError("window_seconds must be at least step_seconds", Location(source))
    if config.window_seconds / config.step_seconds > 720:
        raise ConfigError("window_seconds / step_seconds must be at most 720", Location(source))


def dump_config(config: NetworkConfig) -> str:
    """The configuration as YAML, every setting spelled out."""
    return yaml.safe_dump(plain(config), sort_keys=False)
