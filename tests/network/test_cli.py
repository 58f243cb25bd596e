"""``sentinelle network``: config, detect over a capture, collect over UDP on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from sentinelle.network.encode import encode_ipfix, encode_v9
from sentinelle.network.flow import FlowRecord

T0 = 1_700_006_400.0
CONFIG = """network:
  lateness_seconds: 0
  flood: {floor_pps: 100, floor_bps: 1.0e+12, floor_fps: 1.0e+9}
"""


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "sentinelle.cli.main", "network", *args]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_cli(*args), capture_output=True, text=True, check=False)


def _flood_messages(encode: object) -> list[bytes]:
    """Export packets of 60 s of 20 pps, with 300 SYN/s from 5 sources between 20 and 40 s."""
    flows = []
    for second in range(60):
        t = T0 + second
        flows += [FlowRecord(t, t, "10.0.0.1", "10.1.1.10", 5000, 443, 6, 20, 2000, 0x1B)]
        if 20 <= second < 40:
            flows += [
                FlowRecord(t, t, f"203.0.113.{k}", "10.1.1.10", 1024 + k, 80, 6, 60, 2400, 0x02)
                for k in range(5)
            ]
    chunks = [flows[i : i + 20] for i in range(0, len(flows), 20)]
    return [
        encode(chunk, chunk[-1].end + 1, n if encode is encode_v9 else 20 * n)  # type: ignore[operator]
        for n, chunk in enumerate(chunks)
    ]


def test_config_prints_the_effective_settings(tmp_path: Path) -> None:
    path = tmp_path / "net.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    done = _run("config", "--config", str(path))
    assert done.returncode == 0, done.stderr
    shown = yaml.safe_load(done.stdout)
    assert shown["flood"]["floor_pps"] == 100.0 and shown["window_seconds"] == 30.0
    path.write_text("flood:\n  floor: 1\n", encoding="utf-8")
    done = _run("config", "--config", str(path))
    assert done.returncode == 2
    assert f"{path}:2: unknown setting 'flood.floor'" in done.stderr


def test_detect_over_an_ipfix_file(tmp_path: Path) -> None:
    config, capture = tmp_path / "net.yaml", tmp_path / "flows.ipfix"
    config.write_text(CONFIG, encoding="utf-8")
    capture.write_bytes(b"".join(_flood_messages(encode_ipfix)))
    done = _run("detect", str(capture), "--config", str(config))
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["rule_id"] for r in records] == ["net-flood-start", "net-flood-end"]
    assert records[1]["details"]["top_sources"][0]["ip"].startswith("203.0.113.")
    assert "2 detections; 8 flow messages, 160 NetFlow records" in done.stderr


@pytest.mark.network
def test_collect_receives_netflow_on_loopback(tmp_path: Path) -> None:
    config, out = tmp_path / "net.yaml", tmp_path / "detections.jsonl"
    config.write_text(CONFIG, encoding="utf-8")
    messages = _flood_messages(encode_v9)
    collector = subprocess.Popen(
        _cli(
            "collect", "--listen", "127.0.0.1:0", "--config", str(config), "--output", str(out),
            "--max-messages", str(len(messages)), "--duration", "60",
        ),
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert collector.stderr is not None
        banner = collector.stderr.readline()
        assert "listening on 127.0.0.1:" in banner, banner
        port = int(banner.rsplit(":", 1)[1])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for message in messages:
                sender.sendto(message, ("127.0.0.1", port))
        _, rest = collector.communicate(timeout=60)
    finally:
        if collector.poll() is None:
            collector.kill()
            collector.communicate()
    assert collector.returncode == 0, rest
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["rule_id"] for r in records] == ["net-flood-start", "net-flood-end"]
    assert records[0]["first_seen"].startswith("2023-11-15T00:00:20")


def test_detect_with_the_hospital_model_groups_by_site_and_service(tmp_path: Path) -> None:
    from sentinelle.hospital import example_model_path

    # The worked example's PACS servers are 10.10.0.32/28 at site "cen", carrying "imaging".
    flows = []
    for i in range(12000):  # 200 SYN/s for a minute over four PACS servers
        t, server = T0 + i / 200, f"10.10.0.{33 + i % 4}"
        attacker = f"203.0.113.{100 + i % 50}"
        flows.append(FlowRecord(t, t, attacker, server, 1024 + i % 60000, 104, 6, 1, 60, 0x02))
    capture, config = tmp_path / "flows.ipfix", tmp_path / "net.yaml"
    chunks = [flows[i : i + 20] for i in range(0, len(flows), 20)]
    capture.write_bytes(b"".join(encode_ipfix(c, c[-1].end, 20 * n) for n, c in enumerate(chunks)))
    config.write_text(CONFIG, encoding="utf-8")
    model = str(example_model_path())
    done = _run("detect", str(capture), "--config", str(config), "--hospital", model)
    assert done.returncode == 0, done.stderr
    found = [json.loads(line) for line in done.stdout.splitlines()]
    groups = [r["group"] for r in found if r["rule_id"] == "net-flood-start"]
    # Each server gets 50 pps (under the floor); together, the site and the service do not.
    assert groups == [{"site": "cen"}, {"service": "imaging"}]


@pytest.mark.network
@pytest.mark.slow
def test_collect_ends_an_attack_when_exporters_fall_silent(tmp_path: Path) -> None:
    # Live flows (stamped now): a 4 s flood, then silence. The collector's flow clock goes on
    # with the wall clock while nothing arrives, so the end comes before the run stops.
    config, out = tmp_path / "net.yaml", tmp_path / "detections.jsonl"
    config.write_text(
        "step_seconds: 1\nwindow_seconds: 2\nlateness_seconds: 0\n"
        "flood: {floor_pps: 100, floor_bps: 1.0e+12, floor_fps: 1.0e+9}\n",
        encoding="utf-8",
    )
    collector = subprocess.Popen(
        _cli(
            "collect", "--listen", "127.0.0.1:0", "--config", str(config),
            "--output", str(out), "--duration", "12",
        ),
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert collector.stderr is not None
        port = int(collector.stderr.readline().rsplit(":", 1)[1])
        now = time.time()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for tick in range(40):  # 10 messages a second, 30 flows of 2 packets each
                t = now + tick / 10
                flows = [
                    FlowRecord(t, t, f"203.0.113.{k}", "10.1.1.10", 2000 + k, 80, 6, 2, 80, 0x02)
                    for k in range(30)
                ]
                sender.sendto(encode_ipfix(flows, t, 30 * tick), ("127.0.0.1", port))
                time.sleep(max(0.0, t + 0.1 - time.time()))
        _, rest = collector.communicate(timeout=60)
    finally:
        if collector.poll() is None:
            collector.kill()
            collector.communicate()
    assert collector.returncode == 0, rest
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["rule_id"] for r in records] == ["net-flood-start", "net-flood-end"]
    assert "input_ended" not in records[1]["details"]


def test_detect_says_why_a_capture_gives_no_flows(tmp_path: Path) -> None:
    from scapy.layers.dot11 import Dot11
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    wifi, tcp, empty = tmp_path / "wifi.pcap", tmp_path / "tcp.pcap", tmp_path / "empty.pcap"
    wrpcap(str(wifi), [Dot11() for _ in range(3)])  # IEEE 802.11: link type 105
    frame = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP() / TCP(dport=2055)
    wrpcap(str(tcp), [frame] * 4)
    wrpcap(str(empty), [])
    stats = tmp_path / "stats.json"
    done = _run("detect", str(wifi), str(tcp), str(empty), "--stats", str(stats))
    assert done.returncode == 1  # a file that cannot be read at all
    err = done.stderr.splitlines()
    assert (
        f"sentinelle network: {wifi}: link type 105 (IEEE 802.11) is not supported"
        " (supported: Ethernet, raw IP, Linux cooked (v1 and v2), BSD loopback)"
    ) in err
    assert f"sentinelle network: {tcp}: no flows: 4 packets, 4 not UDP, no flow message" in err
    assert (
        f"sentinelle network: {empty}: no flows: the file holds no packet, message or event"
    ) in err
    written = json.loads(stats.read_text())
    assert written["failed_files"] == [str(wifi)]
    assert [f["path"] for f in written["files_without_flows"]] == [str(tcp), str(empty)]
    assert written["losses"]["packets not UDP"] == 4


def test_detect_names_every_loss_in_the_summary_and_the_stats(tmp_path: Path) -> None:
    # One datagram from 2106 in the middle of the flood: set aside, named on stderr and in
    # --stats, with the sender it came from.
    late = 4_294_000_000.0
    far = [FlowRecord(late, late, "198.51.100.9", "10.1.1.10", 1, 80, 6, 1, 40, 2)]
    messages = _flood_messages(encode_ipfix)
    messages.insert(4, encode_ipfix(far, late, 0))
    config, capture, stats = tmp_path / "net.yaml", tmp_path / "flows.ipfix", tmp_path / "s.json"
    config.write_text(CONFIG, encoding="utf-8")
    capture.write_bytes(b"".join(messages))
    done = _run("detect", str(capture), "--config", str(config), "--stats", str(stats))
    assert done.returncode == 0, done.stderr
    assert [json.loads(x)["rule_id"] for x in done.stdout.splitlines()] == [
        "net-flood-start",
        "net-flood-end",
    ]
    assert (
        "sentinelle network: set aside, refused or lost:"
        " 1 flows far ahead of the clock, never agreed with"
    ) in done.stderr
    written = json.loads(stats.read_text())
    assert written["losses"]["flows far ahead of the clock, never agreed with"] == 1
    assert written["clock"]["set_aside_by_sender"] == {str(capture): 1}
