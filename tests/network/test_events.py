"""Firewall and Zeek events as flows: the converter, then whole files through the readers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sentinelle.events import event_from_mapping
from sentinelle.network.config import FloodConfig, NetworkConfig, ScanConfig
from sentinelle.network.detect import NetworkDetector
from sentinelle.network.flow import (
    TCP_ACK,
    TCP_SYN,
    ConversionStats,
    flow_from_event,
    merge_by_time,
)
from sentinelle.network.flow import flows_from_batches as batches_to_flows

T0 = 1_709_467_200.0  # 2024-03-03 12:00:00 UTC


def test_zeek_connection_becomes_a_flow_with_handshake_flags() -> None:
    fields = {
        "src_ip": "10.1.1.5", "dst_ip": "10.1.9.9", "src_port": 51000, "dst_port": 445,
        "proto": "tcp", "duration": 1.5, "bytes_out": 2048, "bytes_in": 512,
        "packets_out": 10, "packets_in": 8, "conn_state": "SF",
    }  # fmt: skip
    flow = flow_from_event(event_from_mapping(fields, "conn.log", 9, T0))
    assert flow is not None
    assert (flow.start, flow.end, flow.proto, flow.packets, flow.rbytes) == (
        T0,
        T0 + 1.5,
        6,
        10,
        512,
    )
    assert flow.flags == TCP_SYN | TCP_ACK and not flow.syn_without_ack
    assert flow.origin == "conn.log#9"
    fields["conn_state"] = "S0"
    flow = flow_from_event(event_from_mapping(fields, "conn.log", 10, T0))
    assert flow is not None and flow.syn_without_ack


def test_firewall_log_without_counts_is_one_packet_with_unknown_flags() -> None:
    fields = {"src_ip": "192.0.2.44", "dst_ip": "10.0.0.5", "src_port": "40000",
              "dst_port": 445, "proto": "TCP", "action": "BLOCK"}  # fmt: skip
    flow = flow_from_event(event_from_mapping(fields, "fw.log", 3, T0))
    assert flow is not None
    assert (flow.packets, flow.bytes, flow.flags, flow.action, flow.sport) == (
        1,
        0,
        None,
        "block",
        40000,
    )


@pytest.mark.parametrize(
    ("fields", "timestamp", "reason"),
    [
        ({"src_ip": "10.0.0.1", "dst_ip": "10.0.0.2", "proto": "tcp"}, None, "no timestamp"),
        ({"dst_ip": "10.0.0.2", "proto": "tcp"}, T0, "no src_ip/dst_ip"),
        ({"src_ip": "a", "dst_ip": "b", "proto": "carrier-pigeon"}, T0, "unknown proto"),
        ({"src_ip": "a", "dst_ip": "b", "proto": 6, "dst_port": 70000}, T0, "bad port"),
        ({"src_ip": "a", "dst_ip": "b", "proto": "udp", "bytes_out": "many"}, T0, "bad byte"),
        ({"src_ip": "a", "dst_ip": "b", "proto": "udp", "duration": -3}, T0, "bad duration"),
    ],
)
def test_unusable_events_are_skipped_with_their_place_and_reason(
    fields: dict[str, object], timestamp: float | None, reason: str
) -> None:
    stats = ConversionStats()
    assert flow_from_event(event_from_mapping(fields, "fw.log", 12, timestamp), stats) is None
    assert stats.skipped == 1
    assert stats.issues[0].location == "fw.log#12"
    assert stats.issues[0].reason.startswith(reason)


ZEEK_HEADER = """#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tconn
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\torig_pkts\tresp_pkts
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tcount\tcount
"""


def _row(t: float, uid: str, orig: str, resp: str, rest: str) -> str:
    return f"{t:.6f}\t{uid}\t{orig}\t{resp}\ttcp\t{rest}"


def _write_conn_log(path: Path) -> None:
    """10 minutes of web sessions to 10.1.1.10; from 300 s to 360 s, 100 unanswered SYN/s."""
    rows = []
    for i in range(600 * 2):
        t = T0 + i / 2
        client = f"10.0.0.{1 + i % 9}\t{50000 + i % 9}"
        rows.append(_row(t, f"C{i}", client, "10.1.1.10\t443", "ssl\t0.4\t900\t5000\tSF\t8\t9"))
    for i in range(60 * 100):
        t = T0 + 300 + i / 100
        src = "198.51.100.1" if i % 2 else f"203.0.113.{i % 97}"
        rows.append(_row(t, f"F{i}", f"{src}\t{1024 + i}", "10.1.1.10\t80", "-\t-\t-\t-\tS0\t1\t0"))
    rows.sort(key=lambda row: float(row.split("\t", 1)[0]))
    path.write_text(ZEEK_HEADER + "\n".join(rows) + "\n", encoding="utf-8")


def _write_firewall_log(path: Path) -> None:
    """A FortiGate denying one host's sweep of port 445 across 80 hosts."""
    lines = []
    for i in range(80):
        t = T0 + 400 + i * 0.5
        ns = int(t * 1e9)
        lines.append(
            f'<189>date=2024-03-03 time=12:06:40 devname="FGT-HOSP-01" devid="FG100F" '
            f'eventtime={ns} tz="+0000" logid="0000000013" type="traffic" subtype="forward" '
            f'level="notice" srcip=10.6.6.6 srcport={40000 + i} srcintf="port2" '
            f'dstip=10.2.{i // 200}.{i % 200 + 1} dstport=445 dstintf="port3" proto=6 '
            f'action="deny" policyid=99 service="SMB" sentbyte=0 rcvdbyte=0 sentpkt=1'
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


CONFIG = NetworkConfig(
    lateness_seconds=0.0,
    flood=FloodConfig(floor_pps=40.0, floor_bps=1e12, floor_fps=1e9),
    scan=ScanConfig(min_hosts=50),
)


def test_conn_log_and_firewall_syslog_through_the_readers(tmp_path: Path) -> None:
    from sentinelle.readers import read_file

    conn, firewall = tmp_path / "conn.log", tmp_path / "firewall.log"
    _write_conn_log(conn)
    _write_firewall_log(firewall)
    detector = NetworkDetector(CONFIG)
    stats = ConversionStats()
    found = []
    # The two logs cover the same minutes: their flows are merged by time.
    streams = [
        (flow for flows in batches_to_flows(read_file(path), stats) for flow in flows)
        for path in (conn, firewall)
    ]
    found.extend(detector.feed(merge_by_time(streams)))
    found.extend(detector.finish())
    assert stats.skipped == 0 and stats.read_issues == 0, stats.issues
    assert stats.flows == 1200 + 6000 + 80
    rules = [(d.rule_id, d.group) for d in found]
    assert rules == [
        ("net-flood-start", {"dst_ip": "10.1.1.10"}),
        ("net-flood-end", {"dst_ip": "10.1.1.10"}),
        ("net-scan-hosts", {"src_ip": "10.6.6.6"}),
    ]
    start, end, sweep = found
    assert start.first_seen == T0 + 300
    assert start.timestamp is not None and start.timestamp <= T0 + 300 + CONFIG.window_seconds
    assert end.details["top_sources"][0] == {"ip": "198.51.100.1", "packets": 3000}
    assert end.details["syn_without_ack_share"] > 0.9
    # The detection names some of the log lines it comes from.
    samples = end.details["sample_records"]
    assert samples and all(ref.startswith(f"{conn}#") for ref in samples)
    assert end.events and {ev.ref for ev in end.events} <= set(samples)
    assert all(ev.fields["dst_ip"] == "10.1.1.10" for ev in end.events)
    assert sweep.details["ports"][0]["port"] == 445
    assert sweep.events and all(ev.fields["action"] == "deny" for ev in sweep.events)
    assert all(ref.startswith(f"{firewall}#") for ref in sweep.details["sample_records"])


def test_network_detect_command_over_files(tmp_path: Path) -> None:
    conn, firewall = tmp_path / "conn.log", tmp_path / "firewall.log"
    _write_conn_log(conn)
    _write_firewall_log(firewall)
    config = tmp_path / "network.yaml"
    config.write_text(
        "network:\n  lateness_seconds: 0\n  flood:\n    floor_pps: 40\n"
        "    floor_bps: 1.0e12\n    floor_fps: 1.0e9\n",
        encoding="utf-8",
    )
    out, stats = tmp_path / "detections.jsonl", tmp_path / "stats.json"
    missing = tmp_path / "missing.log"
    done = subprocess.run(
        [
            sys.executable, "-m", "sentinelle.cli.main", "network", "detect",
            str(conn), str(missing), str(firewall),
            "--config", str(config), "--output", str(out), "--stats", str(stats),
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr  # one file was missing; the others were read
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["rule_id"] for r in records] == [
        "net-flood-start",
        "net-flood-end",
        "net-scan-hosts",
    ]
    assert records[0]["rule_type"] == "network" and records[0]["group"] == {"dst_ip": "10.1.1.10"}
    summary = json.loads(stats.read_text())
    assert summary["events"]["flows"] == 7280
    assert summary["detector"]["detections"]["net-flood-start"] == 1
    assert "missing.log" in done.stderr


VENDOR_LINES = {
    # pfSense filterlog: a blocked SYN to RDP
    "pfsense": (
        "<134>Mar  3 12:00:01 fw01 filterlog[8123]: 5,,,1000000103,em0,match,block,in,4,0"
        "x0,,64,12345,0,DF,6,tcp,60,203.0.113.7,10.1.2.3,51514,3389,0,S,1234567,,64240,,m"
        "ss"
    ),
    # FortiGate traffic log: an accepted HTTPS session with its counters
    "fortigate": (
        '<189>date=2024-03-03 time=12:00:03 devname="FGT" devid="FG100F" eventtime=170946'
        '7203000000000 tz="+0000" logid="0000000013" type="traffic" subtype="forward" lev'
        'el="notice" srcip=10.20.0.15 srcport=49822 dstip=198.51.100.20 dstport=443 proto'
        '=6 action="accept" sentbyte=1520 rcvdbyte=88210 sentpkt=14 rcvdpkt=70'
    ),
    # Stormshield: a blocked DICOM connection
    "stormshield": (
        '<13>id=firewall time="2024-03-03 12:00:04" fw="SN-PACS" tz=+0000 startime="2024-'
        '03-03 12:00:03" pri=5 srcif="in" src=10.30.1.9 srcport=52000 dst=10.30.2.4 dstpo'
        "rt=104 ipproto=tcp proto=dicom action=block sent=0 rcvd=0"
    ),
    # iptables through UFW: a blocked SMB probe
    "iptables": (
        "Mar  3 12:00:05 gw kernel: [123456.789] [UFW BLOCK] IN=eth0 OUT= MAC=00:11:22:33"
        ":44:55:66:77:88:99:aa:bb:08:00 SRC=192.0.2.44 DST=10.0.0.5 LEN=60 TOS=0x00 PREC="
        "0x00 TTL=52 ID=4242 DF PROTO=TCP SPT=40000 DPT=445 WINDOW=29200 RES=0x00 SYN URG"
        "P=0"
    ),
}


@pytest.mark.parametrize(
    ("vendor", "expected"),
    [
        ("pfsense", ("203.0.113.7", "10.1.2.3", 3389, "block", True)),
        ("fortigate", ("10.20.0.15", "198.51.100.20", 443, "accept", False)),
        ("stormshield", ("10.30.1.9", "10.30.2.4", 104, "block", True)),
        ("iptables", ("192.0.2.44", "10.0.0.5", 445, "block", True)),
    ],
)
def test_firewall_vendors_become_flows(
    tmp_path: Path, vendor: str, expected: tuple[str, str, int, str, bool]
) -> None:
    from sentinelle.network.scan import is_probe
    from sentinelle.readers import read_file

    path = tmp_path / f"{vendor}.log"
    path.write_text(VENDOR_LINES[vendor] + "\n", encoding="utf-8")
    stats = ConversionStats()
    flows = [f for batch in batches_to_flows(read_file(path), stats) for f in batch]
    assert stats.skipped == 0 and len(flows) == 1, stats.issues
    (flow,) = flows
    src, dst, dport, action, probe = expected
    assert (flow.src, flow.dst, flow.dport, flow.proto, flow.action) == (src, dst, dport, 6, action)
    assert is_probe(flow, 3) is probe


def test_hostile_zeek_lines_cost_only_themselves(tmp_path: Path) -> None:
    # Lines an attacker can plant in a conn.log: counts past 64 bits, a time past any date, a
    # connection in 2106 first of all, NaN and infinite durations. The flood is detected as it
    # is without them, and each line is counted where it was set aside.
    clean, planted = tmp_path / "clean" / "conn.log", tmp_path / "planted" / "conn.log"
    clean.parent.mkdir()
    planted.parent.mkdir()
    _write_conn_log(clean)
    lines = clean.read_text(encoding="utf-8").splitlines(keepends=True)
    header = [x for x in lines if x.startswith("#")]
    body = [x for x in lines if not x.startswith("#")]
    hostile = [
        _row(4_294_000_000.0, "H1", "10.6.6.6\t1", "10.1.1.10\t80", "-\t1.0\t5\t5\tS0\t1\t0"),
        _row(T0 + 1, "H2", "10.6.6.6\t2", "10.1.1.10\t80", f"-\t1.0\t{10**23}\t5\tS0\t1\t0"),
        "1e300\tH3\t10.6.6.6\t3\t10.1.1.10\t80\ttcp\t-\t1.0\t5\t5\tS0\t1\t0",
        _row(T0 + 2, "H4", "10.6.6.6\t4", "10.1.1.10\t80", "-\tnan\t5\t5\tS0\t1\t0"),
        _row(T0 + 3, "H5", "10.6.6.6\t5", "10.1.1.10\t80", "-\tinf\t5\t5\tS0\t1\t0"),
    ]
    middle = len(body) // 2
    rows = [hostile[0] + "\n", *body[:middle], *(x + "\n" for x in hostile[1:]), *body[middle:]]
    planted.write_text("".join(header + rows), encoding="utf-8")
    config = tmp_path / "network.yaml"
    config.write_text(
        "network:\n  lateness_seconds: 0\n  flood: {floor_pps: 40, floor_bps: 1.0e12,"
        " floor_fps: 1.0e9}\n",
        encoding="utf-8",
    )

    def detect(path: Path) -> tuple[list[dict[str, object]], dict[str, object]]:
        """The detections without the line numbers they cite (the planted lines shift them)."""
        stats = path.parent / "stats.json"
        done = subprocess.run(
            [
                *(sys.executable, "-m", "sentinelle.cli.main", "network", "detect"),
                *(path.name, "--config", str(config), "--stats", str(stats)),
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=path.parent,
        )
        assert done.returncode == 0, done.stderr
        found = [json.loads(line) for line in done.stdout.splitlines()]
        for record in found:
            del record["details"]["sample_records"], record["events"]
        return found, json.loads(stats.read_text())

    expected, _ = detect(clean)
    found, stats = detect(planted)
    assert found == expected and len(found) == 2
    losses = stats["losses"]
    assert isinstance(losses, dict)
    # The 2106 line came first and started the clock; the real lines restarted it.
    assert losses["flows of a wrong clock era discarded at a restart"] == 1
    assert losses["log events that are no usable flow"] == 3  # no time; NaN and inf durations
