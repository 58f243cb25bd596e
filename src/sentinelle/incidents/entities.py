"""The things a detection is about: machines, addresses and accounts, as comparable keys.

Two detections belong to the same incident when they share one of these within a time gap, so
what counts as an entity decides the grouping. Values that every machine shares (the local
system account, loopback, ``-``) would chain unrelated detections together and are dropped.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sentinelle.detections import Detection

# Fields naming a machine: the event's own computer, the workstation a logon came from, the
# device that logged (firewall ``devname``), Sysmon's source and destination host names.
HOST_FIELDS = (
    "Computer",
    "WorkstationName",
    "devname",
    "hostname",
    "host",
    "SourceHostname",
    "DestinationHostname",
    "Hostname",
)
ADDRESS_FIELDS = (
    "IpAddress",
    "src_ip",
    "dst_ip",
    "srcip",
    "dstip",
    "SourceIp",
    "DestinationIp",
    "remip",
    "tunnelip",
    "id.orig_h",
    "id.resp_h",
    "ClientAddress",
)
ACCOUNT_FIELDS = ("TargetUserName", "SubjectUserName", "user", "User", "SourceUser")

_JUNK = frozenset(
    {
        "",
        "-",
        "n/a",
        "null",
        "none",
        "localhost",
        "unknown",
        "system",
        "local service",
        "network service",
        "anonymous logon",
        "nt authority\\system",
        "window manager\\dwm-1",
        "font driver host\\umfd-0",
    }
)
# The same few samples of a correlation are enough to know what it is about.
_EVENTS_LOOKED_AT = 20
# Keys by value, remembered: a stream of alerts names the same machines, addresses and
# accounts again and again, and telling an address from a name parses it. Bounded in
# entries (least recently used first out) and in size (a longer value is not remembered).
_KEYS_CACHED = 16_384
_KEY_CACHED_CHARS = 256


def _remembered(key_of: Callable[[str], str | None]) -> Callable[[str], str | None]:
    """``key_of``, its answers for values up to ``_KEY_CACHED_CHARS`` remembered."""
    cached = functools.lru_cache(maxsize=_KEYS_CACHED)(key_of)

    @functools.wraps(key_of)
    def key(value: str) -> str | None:
        return cached(value) if len(value) <= _KEY_CACHED_CHARS else key_of(value)

    return key


@_remembered
def _host_key(value: str) -> str | None:
    name = value.strip().rstrip(".").lower()
    if name in _JUNK or name.endswith("$"):
        return None
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return "host:" + name.split(".", 1)[0]
    return _address_key(name)


@_remembered
def _address_key(value: str) -> str | None:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if address.is_loopback or address.is_unspecified or address.is_multicast:
        return None
    return f"ip:{address}"


@_remembered
def _account_key(value: str) -> str | None:
    name = value.strip().lower()
    if name in _JUNK or name.endswith("$") or name.startswith("s-1-5-"):
        return None
    return "user:" + name.rpartition("\\")[2]


def _from_fields(fields: Mapping[str, Any], out: set[str]) -> None:
    for name in HOST_FIELDS:
        value = fields.get(name)
        if isinstance(value, str) and (key := _host_key(value)):
            out.add(key)
    for name in ADDRESS_FIELDS:
        value = fields.get(name)
        if isinstance(value, str) and (key := _address_key(value)):
            out.add(key)
    for name in ACCOUNT_FIELDS:
        value = fields.get(name)
        if isinstance(value, str) and (key := _account_key(value)):
            out.add(key)


def entities_of(detection: Detection) -> frozenset[str]:
    """``host:NAME``, ``ip:ADDRESS`` and ``user:NAME`` keys of a detection's group and events."""
    out: set[str] = set()
    _from_fields(detection.group, out)
    events: Iterable[Any] = (
        [detection.event] if detection.event is not None else detection.events[:_EVENTS_LOOKED_AT]
    )
    for event in events:
        _from_fields(event.fields, out)
    return frozenset(out)


def hosts_of(keys: Iterable[str]) -> list[str]:
    return sorted(k[5:] for k in keys if k.startswith("host:"))


def addresses_of(keys: Iterable[str]) -> list[str]:
    return sorted(k[3:] for k in keys if k.startswith("ip:"))


def accounts_of(keys: Iterable[str]) -> list[str]:
    return sorted(k[5:] for k in keys if k.startswith("user:"))


def entities_of_fields(fields: Mapping[str, Any]) -> frozenset[str]:
    """The same keys, from one event's fields (an alert stored with its event)."""
    out: set[str] = set()
    _from_fields(fields, out)
    return frozenset(out)
