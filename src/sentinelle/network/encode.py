"""Encoding flow records as NetFlow v5, NetFlow v9 and IPFIX messages.

The exporter side of the decoder: scenario generators and benchmarks use it to produce the
datagrams a router would send, and tests use it to build valid messages before breaking them.
IPv4 and IPv6 flows go in separate templates (256 and 257) as real exporters do.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Sequence

from sentinelle.network.flow import FlowRecord

# (information element, length) of the templates this encoder writes: the addresses, then the
# fields every template shares (ports 7 and 11, protocol 4, TCP flags 6, packets 2), then the
# octet count and times as each format writes them.
_V4_ADDRESSES = ((8, 4), (12, 4))
_V6_ADDRESSES = ((27, 16), (28, 16))
_PORTS_TO_PACKETS = ((7, 2), (11, 2), (4, 1), (6, 1), (2, 4))
# IPFIX: 64-bit octets, start and end in absolute milliseconds.
_IPFIX_TAIL = ((1, 8), (152, 8), (153, 8))
# NetFlow v9 has no absolute-time elements in common use: times go as uptime milliseconds.
_V9_TAIL = ((1, 4), (22, 4), (21, 4))
V4_FIELDS: tuple[tuple[int, int], ...] = _V4_ADDRESSES + _PORTS_TO_PACKETS + _IPFIX_TAIL
V6_FIELDS: tuple[tuple[int, int], ...] = _V6_ADDRESSES + _PORTS_TO_PACKETS + _IPFIX_TAIL
V9_V4_FIELDS: tuple[tuple[int, int], ...] = _V4_ADDRESSES + _PORTS_TO_PACKETS + _V9_TAIL
V9_V6_FIELDS: tuple[tuple[int, int], ...] = _V6_ADDRESSES + _PORTS_TO_PACKETS + _V9_TAIL
_IPFIX_ROW = {4: struct.Struct(">4s4sHHBBIQQQ"), 16: struct.Struct(">16s16sHHBBIQQQ")}
_V9_ROW = {4: struct.Struct(">4s4sHHBBIIII"), 16: struct.Struct(">16s16sHHBBIIII")}
_V5_ROW = struct.Struct(">4s4s8xIIIIHHxBBB8x")
_U32 = 0xFFFFFFFF


def _packed(address: str) -> bytes:
    if ":" in address:
        return socket.inet_pton(socket.AF_INET6, address)
    return socket.inet_aton(address)


def _template_set(set_id: int, template_id: int, fields: Sequence[tuple[int, int]]) -> bytes:
    body = struct.pack(">HH", template_id, len(fields))
    body += b"".join(struct.pack(">HH", ie, length) for ie, length in fields)
    return struct.pack(">HH", set_id, 4 + len(body)) + body


def _data_set(template_id: int, rows: Sequence[bytes]) -> bytes:
    body = b"".join(rows)
    pad = (-len(body)) % 4
    return struct.pack(">HH", template_id, 4 + len(body) + pad) + body + b"\0" * pad


def _split(flows: Sequence[FlowRecord]) -> dict[int, list[FlowRecord]]:
    groups: dict[int, list[FlowRecord]] = {4: [], 16: []}
    for flow in flows:
        groups[16 if ":" in flow.src else 4].append(flow)
    return groups


def _data_sets(
    flows: Sequence[FlowRecord],
    row_formats: dict[int, struct.Struct],
    counts_and_times: Callable[[FlowRecord], tuple[int, int, int, int]],
) -> tuple[list[bytes], int]:
    """The data sets of IPv4 (template 256) and IPv6 (257) flows, and how many rows they hold.

    ``counts_and_times`` gives packets, bytes, start and end as the format at hand writes them.
    """
    sets: list[bytes] = []
    count = 0
    for size, group in _split(flows).items():
        if not group:
            continue
        row = row_formats[size]
        rows = [
            row.pack(
                _packed(f.src),
                _packed(f.dst),
                f.sport,
                f.dport,
                f.proto,
                (f.flags or 0) & 0xFF,
                *counts_and_times(f),
            )
            for f in group
        ]
        sets.append(_data_set(256 if size == 4 else 257, rows))
        count += len(rows)
    return sets, count


def _uptime_ms(ts: float, boot: float) -> int:
    """NetFlow's clock: milliseconds since the exporter started, wrapped to 32 bits."""
    return int((ts - boot) * 1000) & _U32


def encode_ipfix(
    flows: Sequence[FlowRecord],
    export_time: float,
    sequence: int,
    domain: int = 0,
    with_templates: bool = True,
) -> bytes:
    """One IPFIX message; ``sequence`` is the count of data records sent before it."""
    sets: list[bytes] = []
    if with_templates:
        sets.append(_template_set(2, 256, V4_FIELDS))
        sets.append(_template_set(2, 257, V6_FIELDS))
    data, _ = _data_sets(
        flows,
        _IPFIX_ROW,
        lambda f: (f.packets, f.bytes, int(f.start * 1000), int(f.end * 1000)),
    )
    body = b"".join(sets + data)
    header = struct.pack(">HHIII", 10, 16 + len(body), int(export_time), sequence & _U32, domain)
    return header + body


def encode_v9(
    flows: Sequence[FlowRecord],
    export_time: float,
    sequence: int,
    source_id: int = 0,
    with_templates: bool = True,
    boot_time: float | None = None,
) -> bytes:
    """One NetFlow v9 packet; ``sequence`` counts packets. Times become uptime milliseconds."""
    boot = export_time - 3600.0 if boot_time is None else boot_time
    uptime = _uptime_ms(export_time, boot)
    sets: list[bytes] = []
    count = 0
    if with_templates:
        sets.append(_template_set(0, 256, V9_V4_FIELDS))
        sets.append(_template_set(0, 257, V9_V6_FIELDS))
        count += 2
    data, records = _data_sets(
        flows,
        _V9_ROW,
        lambda f: (
            f.packets & _U32,
            f.bytes & _U32,
            _uptime_ms(f.start, boot),
            _uptime_ms(f.end, boot),
        ),
    )
    count += records
    header = struct.pack(">HHIIII", 9, count, uptime, int(export_time), sequence & _U32, source_id)
    return header + b"".join(sets + data)


def encode_v5(
    flows: Sequence[FlowRecord],
    export_time: float,
    sequence: int,
    boot_time: float | None = None,
    sampling: int = 0,
) -> bytes:
    """One NetFlow v5 packet (IPv4 only, at most 30 flows); ``sequence`` counts flows;
    ``sampling`` is the header's interval (one packet in N was looked at)."""
    if len(flows) > 30:
        raise ValueError("a NetFlow v5 packet holds at most 30 flows")
    boot = export_time - 3600.0 if boot_time is None else boot_time
    uptime = _uptime_ms(export_time, boot)
    secs = int(export_time)
    nsecs = int((export_time - secs) * 1e9)
    header = struct.pack(
        ">HHIIIIBBH", 5, len(flows), uptime, secs, nsecs, sequence & _U32, 0, 0, sampling & 0x3FFF
    )
    rows = [
        _V5_ROW.pack(
            _packed(f.src),
            _packed(f.dst),
            f.packets & _U32,
            f.bytes & _U32,
            _uptime_ms(f.start, boot),
            _uptime_ms(f.end, boot),
            f.sport,
            f.dport,
            (f.flags or 0) & 0xFF,
            f.proto,
            0,
        )
        for f in flows
    ]
    return header + b"".join(rows)
