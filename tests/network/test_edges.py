"""Values at the edges of their fields never stop the decoder or the detector (issue 17).

Counters of 0 and of the largest unsigned value of their width, times of 0, of the field's
maximum and just past what a date can hold, NaN and infinities where the producer is Python:
every message is decoded, every flow fed, every detection written, and what cannot be placed is
counted and named, never raised.
"""

from __future__ import annotations

import math
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from sentinelle.events import event_from_mapping
from sentinelle.hunt.outputs.jsonl import detection_record, dumps
from sentinelle.network.config import FloodConfig, NetworkConfig
from sentinelle.network.detect import NetworkDetector
from sentinelle.network.flow import ConversionStats, FlowRecord, flow_from_event
from sentinelle.network.netflow import FlowDecoder

T = 1_700_006_400
LATEST = 253_402_214_400.0  # the last time the detector places (9999-12-31T00:00:00Z)
# Floors low enough that edge counters open attacks, so that their detections get written.
CONFIG = NetworkConfig(lateness_seconds=0.0, flood=FloodConfig(floor_pps=1.0, floor_fps=1.0))


def edges(width: int) -> st.SearchStrategy[int]:
    top = (1 << (8 * width)) - 1
    return st.sampled_from([0, 1, top, top - 1, top >> 1]) | st.integers(0, top)


def ms_times() -> st.SearchStrategy[int]:
    now = T * 1000
    return st.sampled_from([0, now, (1 << 64) - 1, (1 << 63), int(LATEST * 1000)]) | st.integers(
        0, (1 << 64) - 1
    )


# Template: src, dst, sport, dport, proto, flags, packets (8), octets (8), start and end in
# milliseconds (8), start and end in seconds (4), an NTP end (8) and a delta-time start (4).
_FIELDS = (
    (8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (6, 1), (2, 8), (1, 8), (152, 8), (153, 8),
    (150, 4), (151, 4), (157, 8), (158, 4),
)  # fmt: skip
_ROW = struct.Struct(">4s4sHHBBQQQQIIQI")


def ipfix(export: int, rows: list[tuple[int, ...]], template: bool) -> bytes:
    sets = b""
    if template:
        body = struct.pack(">HH", 256, len(_FIELDS)) + b"".join(
            struct.pack(">HH", *f) for f in _FIELDS
        )
        sets += struct.pack(">HH", 2, 4 + len(body)) + body
    data = b"".join(_ROW.pack(b"\n\0\0\1", b"\n\1\1\n", 1, 80, 6, 2, *row) for row in rows)
    sets += struct.pack(">HH", 256, 4 + len(data)) + data
    return struct.pack(">HHIII", 10, 16 + len(sets), export, 0, 0) + sets


def v5(secs: int, uptime: int, rows: list[tuple[int, int, int, int]]) -> bytes:
    header = struct.pack(">HHIIIIBBH", 5, len(rows), uptime, secs, 0, 0, 0, 0, 0)
    records = b"".join(
        struct.pack(">4s4s8xIIIIHHxBBB8x", b"\n\0\0\1", b"\n\1\1\n", p, o, s, e, 1, 80, 2, 6, 0)
        for p, o, s, e in rows
    )
    return header + records


def written(detector: NetworkDetector, flows: list[FlowRecord]) -> None:
    """Feed, finish and write every detection as the JSON Lines output does."""
    for det in detector.feed(flows) + detector.finish():
        dumps(detection_record(det))


@settings(max_examples=60, deadline=None)
@given(
    export=st.sampled_from([0, T, (1 << 32) - 1]) | st.integers(0, (1 << 32) - 1),
    rows=st.lists(
        st.tuples(
            edges(8), edges(8), ms_times(), ms_times(), edges(4), edges(4), edges(8), edges(4)
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_ipfix_values_at_their_edges(export: int, rows: list[tuple[int, ...]]) -> None:
    decoder, detector = FlowDecoder(), NetworkDetector(CONFIG)
    normal = (5, 500, T * 1000, T * 1000, T, T, 0, 0)
    flows = decoder.decode(ipfix(T, [normal], template=True), "x", float(T))
    flows += decoder.decode(ipfix(export, rows, template=False), "x", float(T))
    written(detector, flows)
    decoded = decoder.stats.records + decoder.stats.far_from_header
    assert decoded == 1 + len(rows)  # every record decoded or set aside, counted


@settings(max_examples=60, deadline=None)
@given(
    secs=st.sampled_from([0, T, (1 << 32) - 1]),
    uptime=edges(4),
    rows=st.lists(st.tuples(edges(4), edges(4), edges(4), edges(4)), min_size=1, max_size=30),
)
def test_netflow_v5_values_at_their_edges(
    secs: int, uptime: int, rows: list[tuple[int, int, int, int]]
) -> None:
    decoder = FlowDecoder()
    flows = decoder.decode(v5(secs, uptime, rows), "x")
    written(NetworkDetector(CONFIG), flows)
    assert decoder.stats.records + decoder.stats.far_from_header == len(rows)


_TIMES = [
    0.0, -1.0, float(T), 2.0**31 - 1, 2.0**32 - 1, LATEST, LATEST + 1e7, 1.8e16, -1.8e13,
    math.nan, math.inf, -math.inf,
]  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(
    odd=st.lists(
        st.tuples(st.sampled_from(_TIMES), st.sampled_from([0, 1, (1 << 64) - 1])),
        min_size=1,
        max_size=70,
    ),
    first=st.booleans(),
)
def test_flow_records_at_the_edges_go_through_the_detector(
    odd: list[tuple[float, int]], first: bool
) -> None:
    normal = [
        FlowRecord(T + i, T + i, "10.0.0.1", "10.1.1.10", 1, 80, 6, 5, 500, 2) for i in range(50)
    ]
    strange = [FlowRecord(t, t, "10.0.0.2", "10.1.1.10", 1, 80, 6, max(c, 1), c, 2) for t, c in odd]
    detector = NetworkDetector(CONFIG)
    written(detector, strange + normal if first else normal + strange + normal)
    summary = detector.summary()
    clock = summary["clock"]
    if any(not 0.0 <= t <= LATEST for t, _ in odd):
        assert clock["out_of_range_flows"] >= 1
        assert sum(clock["set_aside_by_sender"].values()) >= clock["out_of_range_flows"]


def test_counts_past_64_bits_from_a_log_are_set_aside_with_their_reason() -> None:
    stats = ConversionStats()
    for n, value in enumerate([str(10**23), "1" + "0" * 400, -1, "1e300", "²"]):
        fields = {"src_ip": "10.0.0.1", "dst_ip": "10.1.1.10", "proto": "tcp", "bytes_out": value}
        assert flow_from_event(event_from_mapping(fields, "conn.log", n, float(T)), stats) is None
    assert stats.skipped == 5
    assert all(i.reason.startswith("bad byte or packet count") for i in stats.issues)
    fields = {
        "src_ip": "10.0.0.1",
        "dst_ip": "10.1.1.10",
        "proto": "tcp",
        "bytes_out": (1 << 64) - 1,
    }
    kept = flow_from_event(event_from_mapping(fields, "conn.log", 9, float(T)), stats)
    assert kept is not None and kept.bytes == (1 << 64) - 1


def test_a_time_before_1970_is_out_of_range_even_when_the_clock_is_near_it() -> None:
    """Found by the property above: a flow at -1.0 s right after one at 0.0 s was within a jump
    of the clock and was counted as late instead of set aside as out of range."""
    strange = [FlowRecord(t, t, "10.0.0.2", "10.1.1.10", 1, 80, 6, 1, 0, 2) for t in (0.0, -1.0)]
    detector = NetworkDetector(CONFIG)
    written(detector, strange)
    clock = detector.summary()["clock"]
    assert clock["out_of_range_flows"] == 1
    assert sum(clock["set_aside_by_sender"].values()) >= 1
