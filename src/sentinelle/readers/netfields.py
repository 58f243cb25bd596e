"""Canonical network fields added next to the vendor fields of firewall, CEF and Zeek records.

The network detectors read only these names, whatever the vendor: ``src_ip``, ``dst_ip`` (str),
``src_port``, ``dst_port`` (int), ``proto`` (lower-case name), ``action`` (lower-case, as the
vendor gave it: accept, deny, drop, pass, block...), ``bytes_out``/``bytes_in`` and
``packets_out``/``packets_in`` (int, seen from the connection's originator). A canonical field is
only added when the vendor record holds the value; vendor fields are never removed. Where a vendor
field already has the canonical name (FortiGate ``proto=6``) and the canonical value differs, the
vendor's original stays under ``<name>_vendor`` (``proto_vendor="6"``, ``proto="tcp"``; Stormshield
``proto=dicom`` becomes ``proto_vendor``, ``proto`` comes from ``ipproto``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# IANA protocol numbers -> the lower-case names used in the canonical ``proto`` field.
PROTOCOL_NAMES = {
    1: "icmp",
    2: "igmp",
    4: "ipip",
    6: "tcp",
    17: "udp",
    41: "ipv6",
    47: "gre",
    50: "esp",
    51: "ah",
    58: "ipv6-icmp",
    89: "ospf",
    103: "pim",
    112: "vrrp",
    132: "sctp",
}

_INT_CANONICAL = frozenset(
    ("src_port", "dst_port", "bytes_out", "bytes_in", "packets_out", "packets_in")
)

# Vendor field -> canonical field, per source kind. The first vendor name present wins.
FORTIGATE = {
    "srcip": "src_ip",
    "dstip": "dst_ip",
    "srcport": "src_port",
    "dstport": "dst_port",
    "proto": "proto",
    "action": "action",
    "sentbyte": "bytes_out",
    "rcvdbyte": "bytes_in",
    "sentpkt": "packets_out",
    "rcvdpkt": "packets_in",
}
STORMSHIELD = {
    "src": "src_ip",
    "dst": "dst_ip",
    "srcport": "src_port",
    "dstport": "dst_port",
    "ipproto": "proto",
    "action": "action",
    "sent": "bytes_out",
    "rcvd": "bytes_in",
}
IPTABLES = {
    "SRC": "src_ip",
    "DST": "dst_ip",
    "SPT": "src_port",
    "DPT": "dst_port",
    "PROTO": "proto",
}
CEF = {
    "src": "src_ip",
    "sourceAddress": "src_ip",
    "dst": "dst_ip",
    "destinationAddress": "dst_ip",
    "spt": "src_port",
    "sourcePort": "src_port",
    "dpt": "dst_port",
    "destinationPort": "dst_port",
    "proto": "proto",
    "transportProtocol": "proto",
    "act": "action",
    "deviceAction": "action",
    "out": "bytes_out",
    "bytesOut": "bytes_out",
    "in": "bytes_in",
    "bytesIn": "bytes_in",
}
ZEEK = {
    "id.orig_h": "src_ip",
    "id.resp_h": "dst_ip",
    "id.orig_p": "src_port",
    "id.resp_p": "dst_port",
    "proto": "proto",
    "orig_bytes": "bytes_out",
    "resp_bytes": "bytes_in",
    "orig_pkts": "packets_out",
    "resp_pkts": "packets_in",
}
# Key=value logs of unknown origin: the usual spellings.
GENERIC = {
    "src_ip": "src_ip",
    "srcip": "src_ip",
    "src": "src_ip",
    "source_ip": "src_ip",
    "dst_ip": "dst_ip",
    "dstip": "dst_ip",
    "dst": "dst_ip",
    "destination_ip": "dst_ip",
    "src_port": "src_port",
    "srcport": "src_port",
    "sport": "src_port",
    "spt": "src_port",
    "dst_port": "dst_port",
    "dstport": "dst_port",
    "dport": "dst_port",
    "dpt": "dst_port",
    "proto": "proto",
    "protocol": "proto",
    "action": "action",
    "act": "action",
    "bytes_out": "bytes_out",
    "sentbyte": "bytes_out",
    "bytes_in": "bytes_in",
    "rcvdbyte": "bytes_in",
}


def proto_name(value: Any) -> str | None:
    """``6``, ``"6"``, ``"TCP"`` -> ``"tcp"``; None for an empty value."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return PROTOCOL_NAMES.get(value, str(value))
    text = str(value).strip()
    if not text or text == "-":
        return None
    if text.isdecimal():
        return PROTOCOL_NAMES.get(int(text), text)
    return text.lower()


def to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else None  # what outputs encode
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and abs(value) < 2**63 else None
    if isinstance(value, str):
        text = value.strip()
        if text.isdecimal() and len(text) < 20:
            return int(text)
    return None


def add_canonical(fields: dict[str, Any], mapping: Mapping[str, str]) -> None:
    """Add the canonical fields that ``mapping`` can derive from ``fields`` (vendor names)."""
    done: set[str] = set()
    for vendor, canonical in mapping.items():
        if canonical in done:
            continue  # an earlier, more specific vendor name already set it
        value = fields.get(vendor)
        if value is None or value in ("", "-"):
            continue
        result: Any
        if canonical in _INT_CANONICAL:
            result = to_int(value)
        elif canonical == "proto":
            result = proto_name(value)
        elif canonical == "action":
            result = str(value).strip().lower()
        else:
            result = str(value)
        if result is None:
            continue
        previous = fields.get(canonical)
        if previous is not None and previous != result:
            # A vendor field of the same name (FortiGate proto=6, Stormshield proto=dicom).
            fields[f"{canonical}_vendor"] = previous
        fields[canonical] = result
        done.add(canonical)
