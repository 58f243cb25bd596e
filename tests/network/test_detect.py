"""The detectors on flows built in the test: each test states its traffic and what it expects."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from sentinelle.detections import Detection
from sentinelle.network.config import (
    BaselineConfig,
    ExfilConfig,
    FloodConfig,
    NetworkConfig,
    ScanConfig,
)
from sentinelle.network.detect import NetworkDetector
from sentinelle.network.flow import FlowRecord

T0 = 1_700_006_400.0  # a multiple of every step and window used here (00:00:00 UTC + k days)
SYN, SYN_ACK = 0x02, 0x1B

# Floors low enough for a few hundred flows a second; bits and flows per second off unless a
# test turns them on.
CONFIG = NetworkConfig(
    step_seconds=5.0,
    window_seconds=30.0,
    lateness_seconds=0.0,
    baseline=BaselineConfig(timezone="UTC", min_samples=3, slot_min_samples=3, alpha=0.3),
    flood=FloodConfig(floor_pps=100.0, floor_bps=1e12, floor_fps=1e9),
)


def traffic(
    dst: str,
    start: float,
    seconds: int,
    pps: int,
    sources: list[str],
    flags: int | None = SYN_ACK,
    dport: int = 443,
    size: int = 100,
) -> Iterator[FlowRecord]:
    """One-packet flows, ``pps`` a second, sources taken in turn."""
    n = 0
    for second in range(seconds):
        for i in range(pps):
            t = start + second + i / pps
            src = sources[n % len(sources)]
            n += 1
            yield FlowRecord(t, t, src, dst, 1024 + n % 60000, dport, 6, 1, size, flags)


def flow(
    t: float,
    src: str,
    dst: str,
    dport: int = 443,
    packets: int = 1,
    nbytes: int = 100,
    flags: int | None = SYN_ACK,
    seconds: float = 0.0,
    action: str | None = None,
    rbytes: int = 0,
) -> FlowRecord:
    """One TCP flow from ``t`` lasting ``seconds``."""
    return FlowRecord(
        t, t + seconds, src, dst, 1024, dport, 6, packets, nbytes, flags, 0, rbytes, action
    )


def run(flows: list[FlowRecord], config: NetworkConfig = CONFIG, **kw: object) -> list[Detection]:
    """The flows in time order, fed in batches of 512 as ``network detect`` feeds a file's."""
    detector = NetworkDetector(config, **kw)  # type: ignore[arg-type]
    flows.sort(key=lambda f: f.end)
    found = []
    for i in range(0, len(flows), 512):
        found += detector.feed(flows[i : i + 512])
    return found + detector.finish()


CLIENTS = [f"10.0.0.{i}" for i in range(1, 21)]
BOTS = [f"203.0.113.{i}" for i in range(1, 201)]
HEAVY = ["198.51.100.7", "198.51.100.8"]


def test_flood_start_within_one_window_then_end_with_peaks_and_top_sources() -> None:
    # Normal: 20 pps from clients for 10 minutes. Flood: 2,000 SYN/s from 200 bots plus two
    # heavy sources (400 pps each) between 300 s and 420 s.
    flows = list(traffic("10.1.1.10", T0, 600, 20, CLIENTS))
    flows += traffic("10.1.1.10", T0 + 300, 120, 1200, BOTS, flags=SYN, dport=80)
    flows += traffic("10.1.1.10", T0 + 300, 120, 800, HEAVY, flags=SYN, dport=80)
    found = run(flows)
    assert [d.rule_id for d in found] == ["net-flood-start", "net-flood-end"]
    start, end = found
    assert start.group == end.group == {"dst_ip": "10.1.1.10"}
    assert start.first_seen == T0 + 300
    assert start.timestamp is not None and T0 + 300 < start.timestamp <= T0 + 300 + 30
    assert (start.level, start.rule_type, start.tags[:2]) == (
        "high",
        "network",
        ("attack.impact", "attack.t1498"),
    )
    assert end.last_seen == T0 + 420
    assert end.timestamp is not None and T0 + 420 < end.timestamp <= T0 + 420 + 2 * 30
    details = end.details
    assert details["peak_pps"] == 2020.0
    assert details["peak_bps"] == 2020.0 * 100 * 8
    assert sorted(s["ip"] for s in details["top_sources"][:2]) == HEAVY
    # Sources are counted once the destination is busy in a step: the first few packets of
    # the flood's first step (under an eighth of a step's share of the floor) are not.
    assert 400 * 120 - 10 <= details["top_sources"][0]["packets"] <= 400 * 120
    assert details["peak_sources"] == 200 + 2 + 20
    assert details["vector"] == "syn-flood"
    assert 0.98 < details["syn_without_ack_share"] < 1.0
    top_port = details["top_ports"][0]
    assert (top_port["proto"], top_port["port"]) == ("tcp", 80)
    assert 2000 * 120 - 10 <= top_port["packets"] <= 2000 * 120
    # The attack's totals run from its first step until its end was decided.
    normal = 20 * (end.timestamp - (T0 + 300))
    assert details["packets"] == 2000 * 120 + normal
    (tcp,) = details["top_protocols"]
    assert tcp["proto"] == "tcp" and tcp["packets"] + details["unattributed_packets"] == (
        2000 * 120 + normal
    )
    assert details["duration_seconds"] == 120.0
    assert start.details["attack_id"] == end.details["attack_id"]


def test_baseline_raises_the_threshold_of_a_busy_destination_only() -> None:
    # Both destinations get 150 pps at 600 s (above the 100 pps floor). The busy one has run at
    # 90 pps for ten minutes before, so 150 pps is within its normal; the quiet one has not.
    flows = list(traffic("10.1.1.20", T0, 900, 90, CLIENTS))
    flows += traffic("10.1.1.20", T0 + 900, 60, 60, CLIENTS)  # 90 + 60 = 150 pps
    flows += traffic("10.1.1.30", T0 + 900, 60, 150, CLIENTS)
    starts = [d.group["dst_ip"] for d in run(flows) if d.rule_id == "net-flood-start"]
    assert starts == ["10.1.1.30"]
    # Over four times its normal is an attack even for the busy one.
    flows = list(traffic("10.1.1.20", T0, 900, 90, CLIENTS))
    flows += traffic("10.1.1.20", T0 + 900, 60, 500, BOTS, flags=SYN)
    starts = [d.group["dst_ip"] for d in run(flows) if d.rule_id == "net-flood-start"]
    assert starts == ["10.1.1.20"]


def test_baseline_is_time_of_day_aware() -> None:
    # Two 12-hour slots: the server is busy by day (90 pps) and quiet at night (5 pps).
    config = replace(CONFIG, baseline=replace(CONFIG.baseline, slots_per_day=2, min_samples=3))
    day, night = T0 + 12 * 3600, T0 + 86400  # slot 1 (12:00-24:00), then slot 0 (00:00-12:00)
    learn = list(traffic("10.1.1.40", day, 600, 90, CLIENTS))
    learn += traffic("10.1.1.40", night, 600, 5, CLIENTS)
    # The next day, 150 pps by day is normal; 150 pps at night is not.
    by_day = learn + list(traffic("10.1.1.40", day + 86400, 60, 150, CLIENTS))
    at_night = learn + list(traffic("10.1.1.40", night + 86400, 60, 150, CLIENTS))
    assert not [d for d in run(by_day, config) if d.rule_id == "net-flood-start"]
    assert [d.rule_id for d in run(at_night, config)][:1] == ["net-flood-start"]


def test_long_flow_is_spread_over_its_steps() -> None:
    # 9,000 packets in one flow record: over 60 s it is 150 pps; in 5 s it would be 1,800.
    long_flow = flow(T0, "10.0.0.1", "10.1.1.50", packets=9000, nbytes=9_000_000, seconds=60)
    config = replace(CONFIG, flood=replace(CONFIG.flood, floor_pps=200.0))
    assert run([long_flow], config) == []
    burst = replace(long_flow, start=T0 + 55)
    assert [d.rule_id for d in run([burst], config)] == ["net-flood-start", "net-flood-end"]


def test_flows_per_second_and_bits_per_second_floors() -> None:
    config = replace(CONFIG, flood=FloodConfig(floor_pps=1e9, floor_bps=1e6, floor_fps=1e9))
    big = list(traffic("10.1.1.60", T0, 60, 10, CLIENTS, size=20_000))  # 1.6 Mbit/s
    assert [d.rule_id for d in run(big, config)][:1] == ["net-flood-start"]
    config = replace(CONFIG, flood=FloodConfig(floor_pps=1e9, floor_bps=1e12, floor_fps=50.0))
    many = list(traffic("10.1.1.60", T0, 60, 80, CLIENTS))
    found = run(many, config)
    assert [d.rule_id for d in found] == ["net-flood-start", "net-flood-end"]
    assert found[-1].details["peak_flows_per_s"] == 80.0


def test_sites_and_services_from_the_hospital_model() -> None:
    places = {
        "10.1.1.10": {"site": "Nantes", "service": "PACS"},
        "10.1.1.11": {"site": "Nantes", "service": "PACS"},
    }
    # Each server alone stays under the floor (60 pps); the PACS service gets 120 pps.
    flows = list(traffic("10.1.1.10", T0, 120, 60, BOTS, flags=SYN))
    flows += traffic("10.1.1.11", T0, 120, 60, BOTS, flags=SYN)
    found = run(flows, locate=places.get)
    groups = [d.group for d in found if d.rule_id == "net-flood-start"]
    assert groups == [{"site": "Nantes"}, {"service": "PACS"}]


def test_vertical_and_horizontal_scans_but_not_busy_clients() -> None:
    flows = [  # 150 ports of one host in 15 s, SYN only
        flow(T0 + i * 0.1, "10.0.9.9", "10.1.1.70", 1 + i, flags=SYN) for i in range(150)
    ]
    flows += [  # 60 hosts on port 445, denied by the firewall (no TCP flags in such logs)
        flow(T0 + i, "10.0.8.8", f"10.2.0.{i}", 445, flags=None, action="deny") for i in range(60)
    ]
    flows += [  # a proxy reaching 300 servers with completed connections: not a scan
        flow(T0 + i * 0.2, "10.0.7.7", f"192.0.2.{i % 250}", packets=9) for i in range(300)
    ]
    found = run(flows)
    assert [(d.rule_id, d.group) for d in found] == [
        ("net-scan-ports", {"src_ip": "10.0.9.9", "dst_ip": "10.1.1.70"}),
        ("net-scan-hosts", {"src_ip": "10.0.8.8"}),
    ]
    vertical, horizontal = found
    assert vertical.details["distinct_ports"] >= 100 and vertical.tags[1] == "attack.t1046"
    assert horizontal.details["distinct_hosts"] == 50  # decided as soon as it reached 50
    assert horizontal.details["ports"][0] == {"proto": "tcp", "port": 445, "hosts": 50}


def test_outbound_volume_of_an_internal_host() -> None:
    config = replace(CONFIG, exfil=ExfilConfig(window_seconds=600.0, floor_bytes=1e9))
    gigabyte = 1_000_000_000
    flows = [  # 1.5 GB to two external hosts within ten minutes
        flow(T0 + 10 * i, "10.3.3.3", f"198.51.100.{i % 2}", nbytes=gigabyte // 20, seconds=5)
        for i in range(30)
    ]
    flows += [  # 5 GB between two internal hosts (a backup): not outbound
        flow(T0 + i, "10.3.3.4", "10.9.9.9", 873, nbytes=gigabyte // 2, seconds=1)
        for i in range(10)
    ]
    # An outside client downloading 1.2 GB from an internal server: outbound for the server.
    flows.append(flow(T0, "192.0.2.5", "10.3.3.5", seconds=300, rbytes=1_200_000_000))
    found = [d for d in run(flows, config) if d.rule_id == "net-exfil-volume"]
    assert sorted(d.group["src_ip"] for d in found) == ["10.3.3.3", "10.3.3.5"]
    leak = next(d for d in found if d.group["src_ip"] == "10.3.3.3")
    assert leak.value == 1.5e9 and leak.tags == ("attack.exfiltration", "attack.t1048")
    assert [p["ip"] for p in leak.details["top_destinations"]] == ["198.51.100.0", "198.51.100.1"]


def test_state_is_bounded_and_every_cap_is_counted() -> None:
    config = replace(
        CONFIG,
        flood=replace(CONFIG.flood, max_destinations=50, max_sources_per_step=10),
        scan=ScanConfig(max_sources=20),
    )
    detector = NetworkDetector(config)
    # 400 destinations, 40 per step, each busy enough to learn a baseline (and keep state).
    flows = [
        flow(T0 + k / 8, f"10.4.0.{k % 30}", f"10.5.{k // 250}.{k % 250}", packets=1000)
        for k in range(400)
    ]
    # Then 100 destinations in one step (over 50), and 30 sources to one destination (over 10).
    later = T0 + 100
    flows += [flow(later, "10.4.1.1", f"10.6.0.{k}", packets=1000) for k in range(100)]
    flows += [flow(later + 10, f"10.4.2.{k}", "10.7.0.1", packets=100) for k in range(30)]
    detector.feed(flows)
    detector.finish()
    assert detector.flood.subject_count <= 50
    summary = detector.summary()
    assert summary["flood"]["subjects_evicted"] >= 350
    assert summary["detector"]["destination_overflow_flows"] > 0
    assert summary["detector"]["source_overflow_packets"] > 0
    assert summary["scan"]["sources"] <= 20


def test_late_and_far_future_flows_are_counted_not_used() -> None:
    detector = NetworkDetector(replace(CONFIG, lateness_seconds=10.0))
    normal = list(traffic("10.1.1.10", T0, 120, 5, CLIENTS))
    detector.feed(normal)
    late = flow(T0 + 5, "10.0.0.1", "10.1.1.10")
    future = flow(T0 + 9e8, "10.0.0.1", "10.1.1.10")
    detector.feed([late, future])
    detector.feed(traffic("10.1.1.10", T0 + 120, 60, 5, CLIENTS))
    detector.finish()
    assert (detector.stats.late_flows, detector.clock.suspect_future_flows) == (1, 1)
    assert detector.newest < T0 + 200  # the one corrupt timestamp did not move the clock


def test_spoofed_flood_sources_do_not_fill_the_scan_tracker() -> None:
    # 5,000 sources sending one SYN each: probes, but nowhere near a scan's pace.
    detector = NetworkDetector(CONFIG)
    detector.feed(
        flow(T0 + i / 1000, f"100.64.{i // 250}.{i % 250}", "10.1.1.10", 80, flags=SYN)
        for i in range(5000)
    )
    detector.finish()
    assert detector.scan.source_count == 0
    assert detector.summary()["scan"]["sources_not_tracked"] == 5000


def test_outbound_baseline_is_per_host() -> None:
    # Host .10 sends 300 MB every ten minutes for 80 minutes: that is its normal. Then it and a
    # host never seen before each send 1.5 GB (over the 1 GB floor): only the newcomer is
    # unusual (and .10 learns it: its mean rises to about 660 MB). Later .10 sends 10 GB: over
    # ten times its normal, it is reported too.
    config = replace(CONFIG, exfil=ExfilConfig(window_seconds=600.0, floor_bytes=1e9))
    mega = 1_000_000
    flows = [
        flow(T0 + 600 * w + 60, "10.3.3.10", "198.51.100.9", nbytes=300 * mega) for w in range(8)
    ]
    flows.append(flow(T0 + 600 * 8 + 60, "10.3.3.10", "198.51.100.9", nbytes=1500 * mega))
    flows.append(flow(T0 + 600 * 8 + 60, "10.3.3.11", "198.51.100.9", nbytes=1500 * mega))
    flows.append(flow(T0 + 600 * 9 + 60, "10.3.3.10", "198.51.100.9", nbytes=10_000 * mega))
    found = [d for d in run(flows, config) if d.rule_id == "net-exfil-volume"]
    assert [(d.group["src_ip"], d.value) for d in found] == [
        ("10.3.3.11", 1.5e9),
        ("10.3.3.10", 1e10),
    ]
    assert found[1].details["baseline_bytes"] is not None
    assert found[1].details["sample_records"] == [""]  # flows built here name no origin
