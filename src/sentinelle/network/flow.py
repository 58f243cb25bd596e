"""The one flow shape every network detector reads, and the converter from normalised events.

NetFlow/IPFIX decoding (``netflow.py``) and firewall or Zeek events (through the readers) both
become ``FlowRecord``s, so the detectors never know where a flow came from.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain, islice
from operator import itemgetter
from typing import Any

from sentinelle.events import Event, EventBatch, ReadIssue

# IANA protocol numbers for the names the readers use.
PROTO_NUMBERS: dict[str, int] = {
    "icmp": 1,
    "igmp": 2,
    "ipip": 4,
    "tcp": 6,
    "udp": 17,
    "ipv6": 41,
    "gre": 47,
    "esp": 50,
    "ah": 51,
    "ipv6-icmp": 58,
    "icmp6": 58,
    "icmpv6": 58,
    "ospf": 89,
    "pim": 103,
    "vrrp": 112,
    "sctp": 132,
}
PROTO_NAMES: dict[int, str] = {num: name for name, num in reversed(PROTO_NUMBERS.items())}

TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_ACK = 0x10

# Zeek conn_state values where the originator sent a SYN and never completed the handshake.
_ZEEK_SYN_ONLY = frozenset({"S0", "REJ", "RSTOS0", "SH"})
_ZEEK_HANDSHAKE = frozenset({"SF", "S1", "S2", "S3", "RSTO", "RSTR", "RSTRH", "SHR"})
# Firewall verdicts that mean the connection never got through.
DENIED_ACTIONS = frozenset(
    {"deny", "denied", "drop", "dropped", "block", "blocked", "reject", "rejected", "refused"}
)


@dataclass(slots=True)
class FlowRecord:
    """One unidirectional flow (with optional reverse counters for biflows and session logs).

    ``flags`` is the OR of the TCP flags seen from source to destination, or None when the input
    does not say (firewall logs). ``action`` (firewall verdict) and ``state`` (Zeek conn_state)
    are None for NetFlow. ``origin`` names where the record came from (exporter or file#line),
    ``event`` is the event it was converted from (detections show a few of them).
    """

    start: float
    end: float
    src: str
    dst: str
    sport: int
    dport: int
    proto: int
    packets: int
    bytes: int
    flags: int | None = None
    rpackets: int = 0
    rbytes: int = 0
    action: str | None = None
    state: str | None = None
    origin: str = field(default="")
    event: Event | None = None  # the firewall or Zeek event it was read from, if any

    @property
    def proto_name(self) -> str:
        return PROTO_NAMES.get(self.proto, str(self.proto))

    @property
    def syn_without_ack(self) -> bool:
        """A TCP flow that opened (SYN) and never acknowledged: the SYN-flood signature."""
        f = self.flags
        return f is not None and self.proto == 6 and f & TCP_SYN != 0 and f & TCP_ACK == 0


def proto_name(proto: int) -> str:
    return PROTO_NAMES.get(proto, str(proto))


@dataclass(slots=True)
class ConversionStats:
    """What the event converter did: flows built and events skipped (with a bounded sample)."""

    events: int = 0
    flows: int = 0
    skipped: int = 0
    read_issues: int = 0  # problems the readers reported on the batches (already counted there)
    issues: list[ReadIssue] = field(default_factory=list)
    max_issues: int = 100

    def skip(self, ev: Event, reason: str) -> None:
        self.skipped += 1
        if len(self.issues) < self.max_issues:
            self.issues.append(ReadIssue(ev.ref, reason))


# The largest count a flow record carries: IPFIX counters are unsigned 64-bit. A log line
# claiming more (readers keep such numbers as text) is set aside with its reason.
MAX_COUNT = (1 << 64) - 1


def _int_field(value: Any, default: int) -> int | None:
    """A count from an event field (0 to 2^64-1); None when present but not such a count."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= MAX_COUNT else None
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 20:  # no sign, 1e300, 5,000 digits
        return None
    number = int(text)
    return number if number <= MAX_COUNT else None


def _proto_field(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 <= value <= 255 else None
    if isinstance(value, str):
        text = value.strip().lower()
        if text.isdecimal() and len(text) <= 20:
            number = int(text)
            return number if number <= 255 else None
        return PROTO_NUMBERS.get(text)
    return None


def flow_from_event(ev: Event, stats: ConversionStats | None = None) -> FlowRecord | None:
    """The flow an event describes (firewall session log, Zeek conn.log), or None.

    Events without a timestamp, addresses or a known protocol cannot be placed in a window or
    attributed to a destination: they are skipped and counted in ``stats``.
    """
    f = ev.fields
    if stats is not None:
        stats.events += 1
    src, dst = f.get("src_ip"), f.get("dst_ip")
    reason: str | None = None
    if ev.timestamp is None:
        reason = "no timestamp"
    elif not src or not dst:
        reason = "no src_ip/dst_ip"
    proto = _proto_field(f.get("proto"))
    if reason is None and proto is None:
        reason = f"unknown proto {f.get('proto')!r}"
    sport = _int_field(f.get("src_port"), 0)
    dport = _int_field(f.get("dst_port"), 0)
    if reason is None and (sport is None or dport is None or sport > 65535 or dport > 65535):
        reason = f"bad port {f.get('src_port')!r}/{f.get('dst_port')!r}"
    # A logged connection carried at least one packet even when the log omits the count.
    packets = _int_field(f.get("packets_out"), 1)
    nbytes = _int_field(f.get("bytes_out"), 0)
    rpackets = _int_field(f.get("packets_in"), 0)
    rbytes = _int_field(f.get("bytes_in"), 0)
    if reason is None and None in (packets, nbytes, rpackets, rbytes):
        reason = "bad byte or packet count (a whole number from 0 to 2^64-1)"
    duration: float = 0.0
    raw_duration = f.get("duration")
    if reason is None and raw_duration not in (None, "", "-"):
        try:
            duration = float(raw_duration)
        except (TypeError, ValueError):
            reason = f"bad duration {raw_duration!r}"
        else:
            if not 0.0 <= duration < 1e7:
                reason = f"bad duration {raw_duration!r}"
    if reason is not None:
        if stats is not None:
            stats.skip(ev, reason)
        return None
    assert ev.timestamp is not None and proto is not None
    assert sport is not None and dport is not None and packets is not None
    assert nbytes is not None and rpackets is not None and rbytes is not None
    state = f.get("conn_state")
    state = str(state) if state not in (None, "", "-") else None
    flags: int | None = None
    if proto == 6 and state is not None:
        if state in _ZEEK_SYN_ONLY:
            flags = TCP_SYN
        elif state in _ZEEK_HANDSHAKE:
            flags = TCP_SYN | TCP_ACK
    action = f.get("action")
    action = str(action).lower() if action not in (None, "") else None
    if stats is not None:
        stats.flows += 1
    return FlowRecord(
        start=ev.timestamp,
        end=ev.timestamp + duration,
        src=str(src),
        dst=str(dst),
        sport=sport,
        dport=dport,
        proto=proto,
        packets=max(packets, 1),
        bytes=nbytes,
        flags=flags,
        rpackets=rpackets,
        rbytes=rbytes,
        action=action,
        state=state,
        origin=ev.ref,
        event=ev,
    )


def flows_from_events(
    events: Iterable[Event], stats: ConversionStats | None = None
) -> Iterator[FlowRecord]:
    for ev in events:
        flow = flow_from_event(ev, stats)
        if flow is not None:
            yield flow


def flows_from_batches(
    batches: Iterable[EventBatch], stats: ConversionStats | None = None
) -> Iterator[list[FlowRecord]]:
    """One list of flows per event batch; the reader's own issues are passed on to ``stats``."""
    for batch in batches:
        if stats is not None:
            room = stats.max_issues - len(stats.issues)
            stats.issues.extend(batch.issues[: max(room, 0)])
            stats.read_issues += len(batch.issues)
        yield list(flows_from_events(batch.events, stats))


def merge_by_time(
    streams: Iterable[Iterable[FlowRecord]], max_jump: float = 21_600.0
) -> Iterator[FlowRecord]:
    """Several roughly time-ordered flow streams (files of one period) as one, by flow end.

    A flow stamped far from its neighbours in its own stream (more than ``max_jump``: a line
    from 2106 planted in a log) keeps its place in that stream instead of sorting last, where
    it would hold back every later flow of its file until the other files were done (and make
    them late). The detector then judges it (``network/clock.py``).
    """
    keyed = (_keyed(stream, max_jump) for stream in streams)
    for _, flow in heapq.merge(*keyed, key=itemgetter(0)):
        yield flow


def _keyed(stream: Iterable[FlowRecord], max_jump: float) -> Iterator[tuple[float, FlowRecord]]:
    """(merge key, flow): the flow's end, or the stream's clock for a flow far from it. The
    clock starts at the median end of the stream's first flows, so that not even its first
    flow decides alone, and follows a stream that goes on far from it (a gap in a log)."""
    flows = iter(stream)
    head = list(islice(flows, _HEAD))
    ends = sorted(f.end for f in head if not math.isnan(f.end))
    clock = ends[len(ends) // 2] if ends else 0.0
    far = 0
    for flow in chain(head, flows):
        end = flow.end
        if clock - max_jump <= end <= clock + max_jump:
            clock = max(clock, end)
            far = 0
            yield end, flow
        elif far >= _HEAD and not math.isnan(end):
            clock, far = end, 0
            yield end, flow
        else:
            far += 1
            yield clock, flow


_HEAD = 256  # flows looked at before a stream's clock starts (each stream holds them meanwhile)
