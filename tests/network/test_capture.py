"""Captured flow files (pcap, pcapng, RFC 5655 IPFIX) and the UDP collector on 127.0.0.1."""

from __future__ import annotations

import socket
import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from scapy.utils import wrpcap, wrpcapng

from sentinelle.errors import ConfigError, ReadError
from sentinelle.network.capture import CaptureStats, read_capture, sniff_capture
from sentinelle.network.collector import FlowCollector, parse_listen
from sentinelle.network.encode import encode_ipfix, encode_v9
from sentinelle.network.flow import FlowRecord
from sentinelle.network.netflow import FlowDecoder

# Fixed addresses: without them scapy tries to resolve the MAC of every packet.
MAC_A, MAC_B = "02:00:00:00:00:01", "02:00:00:00:00:02"
T = 1_700_000_000.0
FLOWS = [
    FlowRecord(T, T + 1, "10.0.0.1", "10.1.1.10", 40000, 80, 6, 3, 180, 0x02),
    FlowRecord(T, T + 2, "10.0.0.2", "10.1.1.10", 40001, 80, 6, 1, 60, 0x02),
]


def _frames() -> list[Packet]:
    link = Ether(src=MAC_A, dst=MAC_B)
    v9 = link / IP(src="192.0.2.1", dst="192.0.2.9") / UDP(sport=999, dport=2055)
    ipfix = link / IPv6(src="2001:db8::1", dst="2001:db8::9") / UDP(sport=999, dport=4739)
    frames: list[Packet] = [
        v9 / Raw(encode_v9(FLOWS, T + 5, 0)),
        link / IP(src="192.0.2.1", dst="192.0.2.9") / TCP(dport=2055),  # not UDP
        ipfix / Raw(encode_ipfix(FLOWS, T + 5, 0)),
        v9 / Raw(b"\x00\x07 not netflow"),
    ]
    for i, frame in enumerate(frames):
        frame.time = T + 5 + i
    return frames


def _decode_file(path: Path, ports: tuple[int, ...] = ()) -> tuple[CaptureStats, FlowDecoder]:
    stats, decoder = CaptureStats(), FlowDecoder()
    for message in read_capture(path, stats, ports):
        decoder.decode(message.payload, message.exporter, message.time, message.where)
    return stats, decoder


@pytest.mark.parametrize("writer", [wrpcap, wrpcapng], ids=["pcap", "pcapng"])
def test_pcap_and_pcapng_of_udp_exports(tmp_path: Path, writer: object) -> None:
    path = tmp_path / "exports.cap"
    writer(str(path), _frames())  # type: ignore[operator]
    stats, decoder = _decode_file(path)
    assert (stats.packets, stats.messages, stats.skipped_not_udp) == (4, 3, 1)
    assert decoder.stats.records == 4
    assert decoder.stats.unsupported_version == 1  # the UDP payload that is not NetFlow
    messages = list(read_capture(path))
    assert [m.exporter for m in messages] == ["192.0.2.1", "2001:db8::1", "192.0.2.1"]
    assert messages[1].time == pytest.approx(T + 7)
    assert messages[0].where.endswith(("record 1", "block 3"))


def test_port_filter_counts_what_it_leaves_out(tmp_path: Path) -> None:
    path = tmp_path / "exports.pcap"
    wrpcap(str(path), _frames())
    stats, decoder = _decode_file(path, ports=(4739,))
    assert (stats.messages, stats.skipped_port) == (1, 2)
    assert decoder.stats.records == 2


def test_rfc5655_ipfix_file(tmp_path: Path) -> None:
    path = tmp_path / "flows.ipfix"
    path.write_bytes(encode_ipfix(FLOWS, T, 0) + encode_ipfix(FLOWS, T + 1, 2))
    assert sniff_capture(path.read_bytes()[:16]) == "ipfix"
    stats, decoder = _decode_file(path)
    assert stats.messages == 2 and decoder.stats.records == 4
    assert decoder.stats.sequence_gaps == 0


def test_truncated_files_are_counted_with_their_place(tmp_path: Path) -> None:
    ipfix = tmp_path / "cut.ipfix"
    whole = encode_ipfix(FLOWS, T, 0)
    ipfix.write_bytes(whole + whole[:30])
    stats, _ = _decode_file(ipfix)
    assert (stats.messages, stats.truncated) == (1, 1)
    assert stats.issues[0].location == f"{ipfix} message 2 (offset {len(whole)})"

    pcap = tmp_path / "cut.pcap"
    wrpcap(str(pcap), _frames())
    data = pcap.read_bytes()
    pcap.write_bytes(data[:-10])
    stats, _ = _decode_file(pcap)
    assert stats.truncated == 1 and stats.messages == 2
    assert "record 4" in stats.issues[0].location


def test_unknown_file_raises_with_its_location(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    with pytest.raises(ReadError) as caught:
        list(read_capture(path))
    assert caught.value.location is not None and caught.value.location.source == str(path)
    with pytest.raises(ReadError):
        list(read_capture(tmp_path / "missing.pcap"))


def test_collector_receives_datagrams_on_loopback() -> None:
    with FlowCollector("127.0.0.1", 0) as collector:
        host, port = collector.address
        assert host == "127.0.0.1" and port > 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for sequence in range(3):
                sender.sendto(encode_v9(FLOWS, T, sequence), (host, port))
            sender.sendto(b"\x00\x09\x00", (host, port))  # a cut header
        decoder = FlowDecoder()
        flows = []
        for message in collector.messages(idle_timeout=1.0, max_messages=4, poll=0.2):
            if message is not None:
                assert message.exporter == "127.0.0.1"
                flows.extend(decoder.decode(message.payload, message.exporter, message.time))
        assert len(flows) == 6
        assert decoder.stats.truncated == 1 and decoder.stats.sequence_gaps == 0
        assert collector.received == 4


def test_collector_yields_none_while_quiet_and_stops_after_duration() -> None:
    with FlowCollector("127.0.0.1", 0) as collector:
        ticks = list(collector.messages(duration=0.5, poll=0.1))
        assert ticks and all(t is None for t in ticks)


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:2055") == ("127.0.0.1", 2055)
    assert parse_listen("[::1]:4739") == ("::1", 4739)
    for bad in ("2055", "127.0.0.1:http", "::1:2055", "host:70000"):
        with pytest.raises(ConfigError):
            parse_listen(bad)
    with FlowCollector("127.0.0.1", 0) as taken, pytest.raises(ConfigError):
        FlowCollector("127.0.0.1", taken.address[1])


def test_pcap_header_byte_orders() -> None:
    little = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    big = struct.pack(">IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    nano = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1)
    assert [sniff_capture(h) for h in (little, big, nano)] == ["pcap"] * 3
    assert sniff_capture(b"\x0a\x0d\x0d\x0a" + b"\0" * 12) == "pcapng"
    assert sniff_capture(b"#separator\t") is None


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a", b"\x00\x0a"]),
    st.binary(max_size=400),
)
def test_fuzz_damaged_capture_files_never_crash(magic: bytes, body: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "damaged.cap"
        path.write_bytes(magic + body)
        stats, decoder = CaptureStats(), FlowDecoder()
        try:
            for message in read_capture(path, stats):
                decoder.decode(message.payload, message.exporter, message.time, message.where)
        except ReadError as exc:  # only a file-level problem may stop the reading
            assert exc.location is not None and exc.location.source == str(path)


def test_collector_on_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        collector = FlowCollector("::1", 0)
    except ConfigError as exc:
        pytest.skip(f"IPv6 loopback unavailable: {exc}")
    with collector, socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sender:
        sender.sendto(encode_ipfix(FLOWS, T, 0), ("::1", collector.address[1]))
        message = collector.receive(2.0)
        assert message is not None and message.exporter == "::1"
        assert len(FlowDecoder().decode(message.payload, message.exporter)) == 2
