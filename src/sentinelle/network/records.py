"""From the rows of a decoded data set to flow records: addresses, ports, counters and times.

A row is the tuple a compiled template (``templates.Plan``) unpacks; where each value sits is in
``plan.index``. Times come in many encodings (uptime milliseconds, seconds, milliseconds, NTP
stamps, microseconds before export): each is turned into epoch seconds here.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sentinelle.network.flow import FlowRecord
from sentinelle.network.templates import Plan, Role, TimeMode

_NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
_U32 = 1 << 32
_ntoa = socket.inet_ntoa


def _ntop6(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6, raw)


@dataclass(slots=True)
class Context:
    """What a message header says that the records of its data sets need."""

    exporter: str
    version: int
    domain: int
    export_time: float
    uptime_ms: int  # v9 only
    where: str


def build_records(
    plan: Plan,
    rows: list[tuple[Any, ...]],
    ctx: Context,
    system_init: Mapping[tuple[str, int], float],
    window: tuple[float, float],
) -> tuple[list[FlowRecord], int]:
    """Flow records from a data set's rows (templates without addresses never get here), and
    how many rows were set aside because their flow ends outside ``window`` (seconds before
    and after the message's export time: an exporter sends flows that have ended)."""
    index = plan.index
    i_src, i_dst = index[Role.SRC], index[Role.DST]
    get = index.get
    i_sport, i_dport, i_proto = get(Role.SPORT), get(Role.DPORT), get(Role.PROTO)
    i_flags, i_bytes, i_packets = get(Role.FLAGS), get(Role.BYTES), get(Role.PACKETS)
    i_rbytes, i_rpackets, i_icmp = get(Role.RBYTES), get(Role.RPACKETS), get(Role.ICMP)
    i_start, i_end = get(Role.START), get(Role.END)
    to_text = _ntop6 if plan.v6 else _ntoa
    export = ctx.export_time
    start_of = time_converter(plan.start_mode, ctx, system_init)
    end_of = time_converter(plan.end_mode, ctx, system_init)
    origin = ctx.exporter
    low, high = export - window[0], export + window[1]
    far = 0
    out: list[FlowRecord] = []
    append = out.append
    for row in rows:
        start = export if i_start is None else start_of(row[i_start])
        end = export if i_end is None else end_of(row[i_end])
        if i_start is None:
            start = end
        elif i_end is None:
            end = start
        if not low <= end <= high:
            far += 1
            continue
        proto = row[i_proto] if i_proto is not None else 0
        dport = row[i_dport] if i_dport is not None else 0
        if i_icmp is not None and proto in (1, 58) and not dport:
            dport = row[i_icmp]  # ICMP type * 256 + code, the usual NetFlow convention
        append(
            FlowRecord(
                start if start <= end else end,
                end,
                to_text(row[i_src]),
                to_text(row[i_dst]),
                row[i_sport] if i_sport is not None else 0,
                dport,
                proto,
                row[i_packets] if i_packets is not None else 1,
                row[i_bytes] if i_bytes is not None else 0,
                row[i_flags] & 0xFF if i_flags is not None and proto == 6 else None,
                row[i_rpackets] if i_rpackets is not None else 0,
                row[i_rbytes] if i_rbytes is not None else 0,
                None,
                None,
                origin,
            )
        )
    return out, far


def uptime_age(uptime: int, value: int) -> int:
    """Milliseconds from an uptime stamp to the header's uptime, across a counter wrap.

    A stamp slightly after the header (exporter clocks jitter) gives a small negative age,
    not 49.7 days.
    """
    age = (uptime - value) % _U32
    return age - _U32 if age >= _U32 // 2 else age


def fix_odd(row: tuple[Any, ...], positions: tuple[int, ...]) -> tuple[Any, ...]:
    values = list(row)
    for pos in positions:
        values[pos] = int.from_bytes(values[pos], "big")
    return tuple(values)


def time_converter(
    mode: TimeMode, ctx: Context, system_init: Mapping[tuple[str, int], float]
) -> Any:
    """A function turning one encoded time value of ``mode`` into epoch seconds."""
    export = ctx.export_time
    if mode is TimeMode.UPTIME:
        if ctx.version == 9:
            uptime = ctx.uptime_ms
            # Measure back from the header's uptime so that a wrapped counter stays right.
            return lambda v: export - uptime_age(uptime, v) / 1000.0
        init = system_init.get((ctx.exporter, ctx.domain))
        if init is None:
            # Without the exporter's systemInitTimeMilliseconds the uptime cannot be placed.
            return lambda v: export
        return lambda v: init + v / 1000.0
    if mode is TimeMode.SECONDS:
        return float
    if mode is TimeMode.MILLIS:
        return lambda v: v / 1000.0
    if mode is TimeMode.NTP:
        return lambda v: (v >> 32) - _NTP_EPOCH_OFFSET + (v & 0xFFFFFFFF) / _U32
    if mode is TimeMode.DELTA_US:
        return lambda v: export - v / 1_000_000.0
    return lambda v: export
