"""End to end with a real exporter: scapy writes a capture with a SYN flood amid normal traffic,
softflowd (Debian package) turns it into NetFlow v9 and IPFIX sent to our collector on
127.0.0.1, and the detector must report the flood's start, end and top sources.

softflowd 1.1.0 reading a capture file (``-r``) waits on its control socket before it reads
anything, so the test drives it with ``softflowctl``: one command to start, ``shutdown`` to
flush every flow and exit. CI installs it (see .ci/run); without it these tests skip.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from sentinelle.detections import Detection
from sentinelle.network.capture import Message
from sentinelle.network.collector import FlowCollector
from sentinelle.network.config import FloodConfig, NetworkConfig
from sentinelle.network.detect import NetworkDetector
from sentinelle.network.netflow import FlowDecoder

pytestmark = [pytest.mark.network, pytest.mark.slow]

SOFTFLOWD = shutil.which("softflowd") or (
    "/usr/sbin/softflowd" if Path("/usr/sbin/softflowd").exists() else None
)
SOFTFLOWCTL = shutil.which("softflowctl") or (
    "/usr/sbin/softflowctl" if Path("/usr/sbin/softflowctl").exists() else None
)
needs_softflowd = pytest.mark.skipif(
    SOFTFLOWD is None or SOFTFLOWCTL is None,
    reason="softflowd not installed (Debian: apt-get install -y softflowd; CI installs it)",
)

# Fixed addresses: without them scapy tries to resolve the MAC of every packet.
MAC_A, MAC_B = "02:00:00:00:00:01", "02:00:00:00:00:02"
T0 = 1_700_000_000.0
VICTIM = "10.1.1.10"
FLOOD_START, FLOOD_END = 40.0, 70.0  # seconds after T0
HEAVY = ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
LIGHT = [f"198.51.100.{i}" for i in range(10, 40)]
SERVER_WEB = "10.1.1.20"


def _write_capture(path: Path) -> None:
    """150 s of clients talking to two servers, and a 30 s SYN flood on the victim."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Packet
    from scapy.utils import wrpcap

    rnd = random.Random(7)
    packets: list[Packet] = []

    def add(t: float, pkt: Packet) -> None:
        pkt.time = T0 + t
        packets.append(pkt)

    for tick in range(300):  # normal traffic every 0.5 s for 150 s
        t = tick * 0.5
        client = f"10.0.0.{1 + tick % 5}"
        port = 50000 + tick % 5
        ask = IP(src=client, dst=VICTIM) / TCP(sport=port, dport=443, flags="PA")
        answer = IP(src=VICTIM, dst=client) / TCP(sport=443, dport=port, flags="PA")
        lookup = IP(src=client, dst=SERVER_WEB) / UDP(sport=40000 + tick, dport=53)
        add(t, Ether(src=MAC_A, dst=MAC_B) / ask / (b"q" * 200))
        add(t + 0.1, Ether(src=MAC_A, dst=MAC_B) / answer / (b"r" * 900))
        add(t + 0.2, Ether(src=MAC_A, dst=MAC_B) / lookup / (b"d" * 40))
    # The flood: 250 SYN/s, three heavy sources sending half of it.
    count = int((FLOOD_END - FLOOD_START) * 250)
    for i in range(count):
        t = FLOOD_START + i / 250
        src = HEAVY[i % 3] if i % 2 == 0 else rnd.choice(LIGHT)
        syn = TCP(sport=rnd.randrange(1024, 65535), dport=80, flags="S")
        add(t, Ether(src=MAC_A, dst=MAC_B) / IP(src=src, dst=VICTIM) / syn)
    packets.sort(key=lambda p: float(p.time))
    wrpcap(str(path), packets)


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("softflowd") / "flood.pcap"
    _write_capture(path)
    return path


def run_softflowd(capture: Path, version: int, target: tuple[str, int], workdir: Path) -> None:
    """Run softflowd over ``capture`` exporting to ``target`` until every flow is sent."""
    assert SOFTFLOWD is not None and SOFTFLOWCTL is not None
    host, port = target
    control = workdir / f"v{version}.ctl"
    with (workdir / f"softflowd-v{version}.log").open("wb") as log:
        exporter = subprocess.Popen(
            [
                SOFTFLOWD, "-d", "-a", "-r", str(capture), "-n", f"{host}:{port}",
                "-v", str(version), "-p", str(workdir / f"v{version}.pid"), "-c", str(control),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 20
            while not control.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert control.exists(), "softflowd did not open its control socket"
            _control(control, "statistics")  # lets softflowd start reading the capture
            # Depending on its mode softflowd exits by itself at the end of the capture, or
            # waits: then ``shutdown`` makes it expire and export every flow.
            if _wait_processed(exporter, control, deadline):
                _control(control, "shutdown")
            exporter.wait(timeout=20)
        finally:
            if exporter.poll() is None:
                exporter.kill()
                exporter.wait()


def _export(capture: Path, version: int, workdir: Path) -> list[Message]:
    """Run softflowd over the capture towards a collector on 127.0.0.1; the datagrams."""
    received: list[Message] = []
    with contextlib.ExitStack() as stack:
        collector = stack.enter_context(FlowCollector("127.0.0.1", 0))
        stop = threading.Event()

        def receive() -> None:
            while not stop.is_set():
                message = collector.receive(0.2)
                if message is not None:
                    received.append(message)

        receiver = threading.Thread(target=receive)
        receiver.start()
        try:
            run_softflowd(capture, version, collector.address, workdir)
        finally:
            time.sleep(0.5)  # the last datagrams are in flight on loopback
            stop.set()
            receiver.join()
    return received


def _control(control: Path, command: str) -> str:
    """Send a control command, retrying while the socket is not listening yet."""
    assert SOFTFLOWCTL is not None
    for _ in range(50):
        done = subprocess.run(
            [SOFTFLOWCTL, "-c", str(control), command],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        if done.returncode == 0:
            return done.stdout
        time.sleep(0.1)
    raise AssertionError(f"softflowctl {command} failed: {done.stderr.strip()}")


def _wait_processed(exporter: subprocess.Popen[bytes], control: Path, deadline: float) -> bool:
    """Until softflowd has read the whole capture: True if it is still running then."""
    previous = ""
    while time.monotonic() < deadline:
        time.sleep(0.3)
        if exporter.poll() is not None or not control.exists():
            return False
        try:
            stats = _control(control, "statistics")
        except AssertionError:
            return exporter.poll() is None and control.exists()
        line = next((s for s in stats.splitlines() if "Packets processed" in s), "")
        if line and line == previous and not line.endswith(" 0"):
            return True
        previous = line
    return exporter.poll() is None


def _detect(messages: list[Message]) -> tuple[FlowDecoder, NetworkDetector, list[Detection]]:
    base = NetworkConfig()
    # Floors sized for this small capture; softflowd flushes most flows at shutdown, out of
    # time order, so the lateness covers the whole replay.
    config = replace(
        base,
        step_seconds=2.0,
        window_seconds=10.0,
        lateness_seconds=400.0,
        flood=FloodConfig(floor_pps=60.0, floor_bps=1e9, floor_fps=50.0),
    )
    decoder = FlowDecoder()
    detector = NetworkDetector(config)
    found: list[Detection] = []
    for message in messages:
        flows = decoder.decode(message.payload, message.exporter, message.time, message.where)
        found.extend(detector.feed(flows))
    found.extend(detector.finish())
    return decoder, detector, found


@needs_softflowd
@pytest.mark.parametrize("version", [9, 10], ids=["netflow-v9", "ipfix"])
def test_softflowd_flood_start_end_and_top_sources(
    capture: Path, tmp_path: Path, version: int
) -> None:
    messages = _export(capture, version, tmp_path)
    assert messages, "no datagram reached the collector"
    decoder, detector, found = _detect(messages)

    stats = decoder.stats
    assert stats.records > 7000  # 7,500 flood flows plus the normal ones
    assert stats.problems == 0, stats.issues
    assert stats.templates.learned >= 1
    assert stats.sequence_gaps == 0, stats.issues

    starts = [d for d in found if d.rule_id == "net-flood-start"]
    ends = [d for d in found if d.rule_id == "net-flood-end"]
    assert [d.group for d in starts] == [{"dst_ip": VICTIM}]
    assert [d.group for d in ends] == [{"dst_ip": VICTIM}]
    start, end = starts[0], ends[0]
    window = detector.config.window_seconds
    real_start, real_end = T0 + FLOOD_START, T0 + FLOOD_END
    # The start is decided within one window of the flood's real start.
    assert start.timestamp is not None
    assert real_start <= start.timestamp <= real_start + window
    assert start.first_seen is not None and abs(start.first_seen - real_start) <= 2.0
    assert end.last_seen is not None and abs(end.last_seen - real_end) <= 2.0
    assert end.timestamp is not None and end.timestamp > real_end
    assert start.rule_type == "network" and "attack.t1498" in start.tags

    details = end.details
    top = [entry["ip"] for entry in details["top_sources"][:3]]
    assert sorted(top) == HEAVY
    assert details["syn_without_ack_share"] > 0.95
    assert details["vector"] == "syn-flood"
    top_port = details["top_ports"][0]
    assert (top_port["proto"], top_port["port"]) == ("tcp", 80)
    # All 7,500 SYNs, but for the few before the victim was busy enough to count by port.
    assert top_port["packets"] + details["unattributed_packets"] >= 7500
    assert top_port["packets"] >= 7400
    assert 240 <= details["peak_pps"] <= 260
    assert details["peak_sources"] == len(HEAVY) + len(LIGHT) + 5  # and the 5 clients
