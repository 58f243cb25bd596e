"""NetFlow v5/v9/IPFIX over UDP: datagrams journaled whole (the detector decodes them with the
flow decoders), checked for a flow header first, with a real exporter (Debian's softflowd)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from sentinelle.network.encode import encode_ipfix, encode_v5, encode_v9
from sentinelle.network.flow import FlowRecord
from sentinelle.network.netflow import FlowDecoder
from sentinelle.service.inputs import InputLimits, InputsConfig
from sentinelle.service.inputs.datagram import check_flow
from sentinelle.service.journal import Journal
from sentinelle.service.records import RecordKind
from tests.network.test_softflowd import MAC_A, MAC_B, needs_softflowd, run_softflowd
from tests.service.harness import Metrics, running_inputs, wait_records

pytestmark = pytest.mark.network

LOOPBACK = ("127.0.0.1", 0)


def test_check_flow_accepts_the_three_versions_and_names_what_is_wrong() -> None:
    assert check_flow(b"\x00\x05" + b"\x00\x00" + bytes(20))[1] == ""  # v5, no record
    assert check_flow(b"\x00\x05\x00\x02" + bytes(20))[1] == "truncated"  # two records missing
    assert check_flow(b"\x00\x09\x00\x00" + bytes(16))[1] == ""
    assert check_flow(b"\x00\x0a\x00\x10" + bytes(12))[1] == ""  # IPFIX, length 16
    assert check_flow(b"\x00\x0a\x00\x20" + bytes(12))[1] == "bad-length"
    assert check_flow(b"<13>syslog on the flow port")[1] == "not-netflow"
    assert check_flow(b"\x00")[1] == "not-netflow"
    assert check_flow(b"\x00\x09\x00\x00")[1] == "truncated"


def test_flow_datagrams_are_journaled_whole_and_decode(journal: Journal, journal_dir: Path) -> None:
    metrics = Metrics()
    t0 = 1_700_000_000.0
    flows = [
        FlowRecord(t0 + i, t0 + i + 1, "10.0.0.1", "10.0.0.2", 1000 + i, 443, 6, 3, 1500)
        for i in range(5)
    ]
    datagrams = [
        encode_v5(flows, t0 + 10, 0),
        encode_v9(flows, t0 + 10, 0),
        encode_ipfix(flows, t0 + 10, 0),
        b"not a flow at all",
    ]
    with running_inputs(InputsConfig(netflow=LOOPBACK), journal) as (inputs, _):
        address = inputs.addresses["netflow"]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for datagram in datagrams:
                sock.sendto(datagram, address)
        records = wait_records(journal_dir, 3)
        time.sleep(0.2)
    assert {(r.input, r.kind, r.sender) for r in records} == {
        ("netflow", RecordKind.FLOW, "127.0.0.1")
    }
    decoder = FlowDecoder()
    decoded = [f for r in records for f in decoder.decode(r.data, r.sender, r.received, "test")]
    assert len(decoded) == 15 and decoder.stats.problems == 0
    assert sorted(r.data for r in records) == sorted(datagrams[:3])
    assert metrics.delta("malformed", input="netflow", reason="not-netflow") == 1


def _small_capture(path: Path) -> int:
    """A few seconds of clients talking to a server: the number of distinct connections."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.packet import Packet
    from scapy.utils import wrpcap

    packets: list[Packet] = []
    for n in range(40):
        for step, flags in enumerate(("S", "A", "PA", "FA")):
            packet = (
                Ether(src=MAC_A, dst=MAC_B)
                / IP(src=f"10.0.0.{1 + n % 8}", dst="10.1.1.10")
                / TCP(sport=40000 + n, dport=443, flags=flags)
                / (b"x" * (100 if step == 2 else 0))
            )
            packet.time = 1_700_000_000.0 + n * 0.1 + step * 0.01
            packets.append(packet)
    wrpcap(str(path), packets)
    return 40


@needs_softflowd
@pytest.mark.slow
@pytest.mark.parametrize("version", [5, 9, 10], ids=["netflow-v5", "netflow-v9", "ipfix"])
def test_softflowd_exports_into_the_journal(
    journal: Journal, journal_dir: Path, tmp_path: Path, version: int
) -> None:
    capture = tmp_path / "clients.pcap"
    connections = _small_capture(capture)
    limits = InputLimits(udp_linger=0.001)
    with running_inputs(InputsConfig(netflow=LOOPBACK, limits=limits), journal) as (inputs, _):
        run_softflowd(capture, version, inputs.addresses["netflow"], tmp_path)
        records = wait_records(journal_dir, 1)
        time.sleep(0.5)  # the last datagrams on loopback
        records = wait_records(journal_dir, len(records))
    assert records and {r.input for r in records} == {"netflow"}
    decoder = FlowDecoder()
    flows = [f for r in records for f in decoder.decode(r.data, r.sender, r.received, "journal")]
    assert decoder.stats.problems == 0, decoder.stats.issues
    # Each connection is a flow each way (softflowd's bidirectional records count once).
    assert len({f.sport for f in flows if f.dport == 443}) == connections
