"""The NetFlow v5/v9 and IPFIX decoder: round trips, templates, sequences and hostile input."""

from __future__ import annotations

import struct
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentinelle.network.encode import encode_ipfix, encode_v5, encode_v9
from sentinelle.network.flow import FlowRecord
from sentinelle.network.netflow import DecoderLimits, FlowDecoder

T = 1_700_000_000.0
FLOWS = [
    FlowRecord(T + 0.25, T + 1.5, "10.0.0.1", "10.1.1.10", 40000, 80, 6, 3, 180, 0x02),
    FlowRecord(T + 0.5, T + 2.0, "192.168.1.2", "8.8.8.8", 5353, 53, 17, 2, 140, None),
    FlowRecord(T + 1.0, T + 1.0, "2001:db8::1", "2001:db8::2", 1234, 443, 6, 9, 9000, 0x1B),
]


def _same(decoded: list[FlowRecord], expected: list[FlowRecord], origin: str = "x") -> None:
    """Decoded flows equal the encoded ones, with the exporter as their origin."""
    wanted = [replace(f, origin=origin) for f in expected]
    assert sorted(decoded, key=lambda f: f.src) == sorted(wanted, key=lambda f: f.src)


def test_ipfix_round_trip_with_v4_and_v6_templates() -> None:
    decoder = FlowDecoder()
    _same(decoder.decode(encode_ipfix(FLOWS, T + 3, 0), "x"), FLOWS)
    assert decoder.stats.templates.learned == 2
    assert decoder.stats.records == 3
    assert decoder.stats.problems == 0


def test_v9_round_trip_uses_uptime_relative_times() -> None:
    decoder = FlowDecoder()
    _same(decoder.decode(encode_v9(FLOWS, T + 3, 0), "x"), FLOWS)


def test_v9_uptime_counter_wrap_keeps_times_right() -> None:
    # The exporter booted 60 days ago: its millisecond uptime has wrapped around 2**32.
    decoder = FlowDecoder()
    packet = encode_v9(FLOWS[:1], T + 3, 0, boot_time=T - 60 * 86400)
    (flow,) = decoder.decode(packet, "x")
    assert flow.start == pytest.approx(FLOWS[0].start, abs=0.002)
    assert flow.end == pytest.approx(FLOWS[0].end, abs=0.002)


def test_v9_flow_stamped_just_after_the_header_is_not_49_days_old() -> None:
    ahead = replace(FLOWS[0], start=T + 3.2, end=T + 3.4)  # the exporter's clocks jitter
    (flow,) = FlowDecoder().decode(encode_v9([ahead], T + 3, 0), "x")
    assert flow.end == pytest.approx(T + 3.4, abs=0.002)


def test_v5_round_trip() -> None:
    decoder = FlowDecoder()
    _same(decoder.decode(encode_v5(FLOWS[:2], T + 3, 0), "x"), FLOWS[:2])


def test_sampled_exports_are_scaled_back_up() -> None:
    # NetFlow v5 says its sampling in the header: one packet in 100.
    decoder = FlowDecoder()
    (flow, _) = decoder.decode(encode_v5(FLOWS[:2], T + 3, 0, sampling=100), "r5")
    assert (flow.packets, flow.bytes) == (300, 18000)
    # IPFIX says it in an options record (PSAMP: 1 packet taken, then 99 skipped).
    options = struct.pack(">HHH", 300, 3, 1) + struct.pack(">HHHHHH", 149, 4, 305, 4, 306, 4)
    sets = struct.pack(">HH", 3, 4 + len(options) + 2) + options + b"\0\0"
    row = struct.pack(">III", 0, 1, 99)
    sets += struct.pack(">HH", 300, 4 + len(row)) + row
    decoder.decode(_ipfix(sets), "r10")
    flows = decoder.decode(encode_ipfix(FLOWS[:1], T + 3, 0), "r10")
    assert (flows[0].packets, flows[0].bytes) == (300, 18000)
    assert decoder.stats.sampled_records == 3
    # An exporter that samples nothing (interval 1, as softflowd says) is left alone.
    assert decoder.decode(encode_v5(FLOWS[:1], T, 2, sampling=1), "r5")[0].packets == 3


def test_sequence_gaps_are_counted_per_protocol() -> None:
    decoder = FlowDecoder()
    decoder.decode(encode_v5(FLOWS[:2], T, 100), "r1")
    decoder.decode(encode_v5(FLOWS[:2], T, 102), "r1")  # in order: 100 + 2 flows
    decoder.decode(encode_v5(FLOWS[:2], T, 110), "r1")  # 6 flows lost
    decoder.decode(encode_v9(FLOWS, T, 7), "r1")
    decoder.decode(encode_v9(FLOWS, T, 9), "r1")  # one export packet lost
    decoder.decode(encode_ipfix(FLOWS, T, 0), "r1")
    decoder.decode(encode_ipfix(FLOWS, T, 3), "r1")  # in order: 0 + 3 records
    decoder.decode(encode_ipfix(FLOWS, T, 10), "r1")  # 4 records lost
    stats = decoder.stats
    assert (stats.sequence_gaps, stats.sequence_lost) == (3, 6 + 1 + 4)
    assert stats.out_of_order == 0
    decoder.decode(encode_ipfix(FLOWS, T, 5), "r1")  # a late message: not a huge gap
    assert stats.out_of_order == 1 and stats.sequence_gaps == 3


def test_exporter_counting_its_current_message_is_not_a_gap() -> None:
    # softflowd's IPFIX sequence number already includes the records of its own message.
    decoder = FlowDecoder()
    decoder.decode(encode_ipfix(FLOWS[:2], T, 2), "sf")
    decoder.decode(encode_ipfix(FLOWS, T, 5), "sf")
    assert decoder.stats.sequence_gaps == 0


def test_template_refresh_change_and_withdrawal() -> None:
    decoder = FlowDecoder()
    decoder.decode(encode_ipfix(FLOWS, T, 0), "x")
    decoder.decode(encode_ipfix(FLOWS, T, 3), "x")
    assert decoder.stats.templates.refreshed == 2
    # A different template under the same id replaces the old one.
    fields = [(8, 4), (12, 4), (2, 4)]
    body = struct.pack(">HH", 256, len(fields)) + b"".join(struct.pack(">HH", *f) for f in fields)
    changed = struct.pack(">HH", 2, 4 + len(body)) + body
    data_row = bytes([10, 0, 0, 9, 10, 0, 0, 8]) + struct.pack(">I", 77)
    data = struct.pack(">HH", 256, 4 + len(data_row)) + data_row
    message = _ipfix(changed + data, sequence=6)
    (flow,) = decoder.decode(message, "x")
    assert (flow.src, flow.dst, flow.packets, flow.start) == ("10.0.0.9", "10.0.0.8", 77, T)
    assert decoder.stats.templates.changed == 1
    # Withdrawal (field count 0) forgets it: the next data set waits for a template.
    withdraw = struct.pack(">HHHH", 2, 8, 256, 0)
    decoder.decode(_ipfix(withdraw, sequence=7), "x")
    assert decoder.stats.templates.withdrawn == 1
    assert decoder.decode(_ipfix(data, sequence=7), "x") == []
    assert decoder.stats.unknown_template_sets == 1


def _ipfix(sets: bytes, sequence: int = 0, domain: int = 0) -> bytes:
    return struct.pack(">HHIII", 10, 16 + len(sets), int(T), sequence, domain) + sets


def test_data_before_its_template_is_decoded_when_the_template_arrives() -> None:
    decoder = FlowDecoder()
    assert decoder.decode(encode_ipfix(FLOWS, T, 0, with_templates=False), "x") == []
    assert decoder.stats.unknown_template_sets == 2
    # The next message brings the templates: the waiting sets are decoded with it.
    flows = decoder.decode(encode_ipfix([], T, 3), "x")
    _same(flows, FLOWS)
    assert decoder.stats.pending_decoded_sets == 2


def test_templates_expire_and_are_capped_with_counts() -> None:
    decoder = FlowDecoder(DecoderLimits(max_templates=2, template_timeout=60.0))
    # Exporter a's data is decoded with its templates: they are its, and no one else's to take.
    decoder.decode(encode_ipfix(FLOWS, T, 0), "a", received=T)
    assert decoder.decode(encode_ipfix(FLOWS, T, 0), "b", received=T) == []
    assert decoder.template_count == 2
    counts = decoder.stats.templates
    assert (counts.refused, counts.by_exporter) == (2, {"b v10 domain 0": 2})
    assert any("template 256 refused" in str(i) for i in decoder.stats.issues)
    later = encode_ipfix(FLOWS, T, 3, with_templates=False)
    assert decoder.decode(later, "a", received=T + 61) == []
    assert counts.expired == 2  # the IPv4 and the IPv6 template


def test_an_exporter_over_its_share_loses_its_own_oldest_template() -> None:
    decoder = FlowDecoder(DecoderLimits(max_templates=10, max_templates_per_exporter=1))
    decoder.decode(encode_ipfix(FLOWS, T, 0), "a")  # templates 256 (IPv4) then 257 (IPv6)
    counts = decoder.stats.templates
    assert (decoder.template_count, counts.evicted, counts.by_exporter) == (
        1,
        1,
        {"a v10 domain 0": 1},
    )


def test_unproven_templates_make_room_for_a_new_exporter() -> None:
    # Templates with no data (a flood in made-up domains looks like this) are the first to go.
    decoder = FlowDecoder(DecoderLimits(max_templates=2))
    decoder.decode(encode_ipfix([], T, 0), "flood")
    decoder.decode(encode_ipfix(FLOWS, T, 0), "real")
    counts = decoder.stats.templates
    assert (counts.taken, counts.refused) == (2, 0)
    assert len(decoder.decode(encode_ipfix(FLOWS, T, 3, with_templates=False), "real")) == 3


def test_templates_of_different_exporters_and_domains_never_mix() -> None:
    decoder = FlowDecoder()
    decoder.decode(encode_ipfix(FLOWS, T, 0, domain=1), "a")
    assert decoder.decode(encode_ipfix(FLOWS, T, 0, domain=2, with_templates=False), "a") == []
    assert decoder.decode(encode_ipfix(FLOWS, T, 0, domain=1, with_templates=False), "b") == []
    assert decoder.stats.unknown_template_sets == 4


def test_variable_length_odd_sizes_biflow_and_system_init_time() -> None:
    # Template: src, dst (v4), a variable-length string, 3-byte packet count, reverse octets
    # (RFC 5103 enterprise 29305), and uptime times that need systemInitTimeMilliseconds.
    fields = struct.pack(">HH", 8, 4) + struct.pack(">HH", 12, 4) + struct.pack(">HH", 82, 0xFFFF)
    fields += struct.pack(">HH", 2, 3) + struct.pack(">HHI", 0x8001, 8, 29305)
    fields += struct.pack(">HH", 22, 4) + struct.pack(">HH", 21, 4)
    template = struct.pack(">HH", 300, 7) + fields
    options_fields = struct.pack(">HH", 149, 4) + struct.pack(">HH", 160, 8)
    options = struct.pack(">HHH", 301, 2, 1) + options_fields
    sets = struct.pack(">HH", 2, 4 + len(template)) + template
    sets += struct.pack(">HH", 3, 4 + len(options) + 2) + options + b"\0\0"
    init_ms = int(T * 1000) - 3_600_000
    options_row = struct.pack(">IQ", 0, init_ms)
    sets += struct.pack(">HH", 301, 4 + len(options_row)) + options_row
    row = bytes([10, 0, 0, 1, 10, 0, 0, 2]) + b"\x04eth0" + (5).to_bytes(3, "big")
    row += struct.pack(">QII", 4096, 3_600_000, 3_601_500)
    long_name = b"\xff" + (300).to_bytes(2, "big") + b"n" * 300
    row2 = bytes([10, 0, 0, 3, 10, 0, 0, 2]) + long_name + (7).to_bytes(3, "big")
    row2 += struct.pack(">QII", 1, 3_600_000, 3_600_000)
    sets += struct.pack(">HH", 300, 4 + len(row) + len(row2)) + row + row2
    decoder = FlowDecoder()
    first, second = decoder.decode(_ipfix(sets), "x")
    assert (first.src, first.packets, first.rbytes) == ("10.0.0.1", 5, 4096)
    assert first.start == pytest.approx(T) and first.end == pytest.approx(T + 1.5)
    assert (second.src, second.packets) == ("10.0.0.3", 7)
    assert decoder.stats.problems == 0


def test_icmp_type_and_code_become_the_destination_port() -> None:
    fields = [(8, 4), (12, 4), (4, 1), (32, 2)]
    body = struct.pack(">HH", 256, len(fields)) + b"".join(struct.pack(">HH", *f) for f in fields)
    row = bytes([10, 0, 0, 1, 10, 0, 0, 2, 1]) + struct.pack(">H", 8 << 8)
    sets = struct.pack(">HH", 2, 4 + len(body)) + body
    sets += struct.pack(">HH", 256, 4 + len(row)) + row
    (flow,) = FlowDecoder().decode(_ipfix(sets), "x")
    assert (flow.proto, flow.dport, flow.flags) == (1, 8 << 8, None)


@pytest.mark.parametrize(
    ("data", "counter"),
    [
        (b"", "truncated"),
        (b"\x00\x05\x00\x01", "truncated"),  # v5 header cut
        (b"\x00\x07" + b"\0" * 30, "unsupported_version"),
        (_ipfix(b"")[:10], "truncated"),
        (struct.pack(">HHIII", 10, 8, 0, 0, 0), "malformed"),  # length below the header
        (struct.pack(">HHIII", 10, 400, 0, 0, 0), "truncated"),  # length beyond the data
        (_ipfix(struct.pack(">HH", 256, 2)), "malformed"),  # set length below 4
        (_ipfix(struct.pack(">HH", 256, 99)), "truncated"),  # set runs past the end
        (_ipfix(struct.pack(">HH", 7, 4)), "malformed"),  # reserved set id
        (_ipfix(struct.pack(">HHHH", 2, 8, 12, 1)), "malformed"),  # template id below 256
        (_ipfix(struct.pack(">HHHH", 2, 8, 256, 3)), "truncated"),  # fields missing
        (_ipfix(struct.pack(">HHHH", 2, 8, 256, 60000)), "hostile_lengths"),
        (_ipfix(struct.pack(">HHHHHH", 2, 12, 256, 1, 8, 0)), "hostile_lengths"),
        (_ipfix(struct.pack(">HH", 256, 8) + b"\0\0\0\x01"), "unknown_template_sets"),
    ],
)
def test_bad_messages_are_counted_never_raised(data: bytes, counter: str) -> None:
    decoder = FlowDecoder()
    assert decoder.decode(data, "x", where="test") == []
    assert getattr(decoder.stats, counter) == 1
    assert decoder.stats.issues and decoder.stats.issues[0].location.startswith("test")


def test_address_with_a_hostile_length_is_ignored_and_counted() -> None:
    fields = [(8, 7), (12, 4), (2, 4)]  # a 7-byte IPv4 address
    body = struct.pack(">HH", 256, len(fields)) + b"".join(struct.pack(">HH", *f) for f in fields)
    sets = struct.pack(">HH", 2, 4 + len(body)) + body
    row = b"\1" * 7 + bytes([10, 0, 0, 2]) + struct.pack(">I", 1)
    sets += struct.pack(">HH", 256, 4 + len(row)) + row
    decoder = FlowDecoder()
    assert decoder.decode(_ipfix(sets), "x") == []  # no source address: not a flow
    assert decoder.stats.hostile_lengths == 1
    assert decoder.stats.non_flow_records == 1


def test_cut_record_at_the_end_of_a_set_is_counted() -> None:
    fields = [(8, 4), (12, 4), (2, 4)]  # 12-byte records
    body = struct.pack(">HH", 256, len(fields)) + b"".join(struct.pack(">HH", *f) for f in fields)
    sets = struct.pack(">HH", 2, 4 + len(body)) + body
    rows = (bytes([10, 0, 0, 1, 10, 0, 0, 2]) + struct.pack(">I", 1)) * 2 + b"\x01" * 8
    sets += struct.pack(">HH", 256, 4 + len(rows)) + rows
    decoder = FlowDecoder()
    assert len(decoder.decode(_ipfix(sets), "x")) == 2
    assert decoder.stats.truncated == 1


VALID = [
    encode_v5(FLOWS[:2], T, 0),
    encode_v9(FLOWS, T, 0),
    encode_ipfix(FLOWS, T, 0),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_fuzz_random_bytes_never_crash(data: bytes) -> None:
    decoder = FlowDecoder()
    for version in (b"\x00\x05", b"\x00\x09", b"\x00\x0a"):
        decoder.decode(version + data, "fuzz")
    decoder.decode(data, "fuzz")
    assert decoder.stats.messages == 4


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(VALID),
    st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=12),
    st.integers(0, 2000),
)
def test_fuzz_mutated_messages_never_crash(
    message: bytes, flips: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(message)
    for position, value in flips:
        if data:
            data[position % len(data)] = value
    decoder = FlowDecoder()
    # The same decoder sees the original too, so mutated data meets learned templates.
    decoder.decode(message, "fuzz")
    flows = decoder.decode(bytes(data[: len(data) - cut % (len(data) + 1)]), "fuzz")
    for flow in flows:
        assert isinstance(flow.src, str) and isinstance(flow.dst, str)
        assert flow.start <= flow.end
