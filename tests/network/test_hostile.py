"""What an attacker who can send datagrams (or write log lines) may do to the network detectors.

The rule every test here checks: the attacker's input may cost its own records, never a
neighbour's, and what is set aside is counted and named. Each test runs a real exporter's
traffic (a SYN flood) with and without the hostile input and compares the detections.
"""

from __future__ import annotations

import json
import pickle
import struct
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import pytest

from sentinelle.network.config import BaselineConfig, FloodConfig, NetworkConfig
from sentinelle.network.detect import NetworkDetector
from sentinelle.network.encode import encode_ipfix
from sentinelle.network.flow import FlowRecord
from sentinelle.network.netflow import FlowDecoder

T0 = 1_700_006_400.0
EXPORTER = "192.0.2.1"
CONFIG = NetworkConfig(
    lateness_seconds=0.0,
    baseline=BaselineConfig(timezone="UTC"),
    flood=FloodConfig(floor_pps=100.0, floor_bps=1e12, floor_fps=1e9),
)


def flood_flows() -> list[FlowRecord]:
    """120 s of 20 pps to a server, with 300 SYN/s from 5 sources between 40 and 80 s."""
    flows = []
    for second in range(120):
        t = T0 + second
        flows.append(FlowRecord(t, t, "10.0.0.1", "10.1.1.10", 5000, 443, 6, 20, 2000, 0x1B))
        if 40 <= second < 80:
            flows += [
                FlowRecord(t, t, f"203.0.113.{k}", "10.1.1.10", 1024 + k, 80, 6, 60, 2400, 0x02)
                for k in range(5)
            ]
    return flows


def exporter_messages(templates_every: int = 0) -> list[tuple[bytes, float]]:
    """The real exporter's IPFIX messages (20 records each) and when each was sent; the
    templates go with the first message only, unless ``templates_every`` says otherwise."""
    flows = flood_flows()
    out = []
    for n, i in enumerate(range(0, len(flows), 20)):
        chunk = flows[i : i + 20]
        sent = chunk[-1].end + 1
        with_templates = n == 0 or bool(templates_every and n % templates_every == 0)
        out.append((encode_ipfix(chunk, sent, i, with_templates=with_templates), sent))
    return out


def run(
    messages: Iterable[tuple[bytes, float]], checkpoint_at: int = -1
) -> tuple[FlowDecoder, list[str]]:
    """Decode and detect message by message, as the collector does (the arrival time with
    each); the detections as JSON. At ``checkpoint_at`` the state is pickled and restored, as
    the service does."""
    decoder, detector = FlowDecoder(CONFIG.decoder), NetworkDetector(CONFIG)
    found = []
    for n, (payload, received) in enumerate(messages):
        if n == checkpoint_at:
            decoder, detector = pickle.loads(pickle.dumps((decoder, detector)))
        flows = decoder.decode(payload, EXPORTER, received)
        found += detector.feed(flows, received)
    found += detector.finish()
    lines = [
        json.dumps([d.rule_id, d.group, d.timestamp, d.first_seen, d.last_seen, d.details])
        for d in found
    ]
    return decoder, lines


def template_flood(datagrams: int, per_datagram: int, sent: float) -> list[tuple[bytes, float]]:
    """Spoofed datagrams from the exporter's address, each defining ``per_datagram`` templates
    in an observation domain of its own (and never any data)."""
    out = []
    for n in range(datagrams):
        records = b""
        for template_id in range(256, 256 + per_datagram):
            fields = ((8, 4), (12, 4), (2, 4))
            records += struct.pack(">HH", template_id, len(fields))
            records += b"".join(struct.pack(">HH", *f) for f in fields)
        body = struct.pack(">HH", 2, 4 + len(records)) + records
        header = struct.pack(">HHIII", 10, 16 + len(body), int(sent), 0, 1000 + n)
        out.append((header + body, sent))
    return out


def test_a_template_flood_in_other_domains_evicts_nothing_of_the_exporter() -> None:
    clean = exporter_messages()
    decoder, expected = run(clean)
    assert [json.loads(line)[0] for line in expected] == ["net-flood-start", "net-flood-end"]
    # 300 spoofed datagrams with 6,000 templates (over the cache's 4,096) after the first message.
    attacked = [clean[0], *template_flood(300, 20, clean[0][1]), *clean[1:]]
    flooded, found = run(attacked)
    assert found == expected
    assert flooded.stats.records == decoder.stats.records == 320
    assert flooded.stats.unknown_template_sets == 0
    # What the flood cost is its own, counted per exporter and domain.
    counts = flooded.stats.templates
    assert counts.taken + counts.refused >= 6_000 - 4_096
    assert all(name.startswith(f"{EXPORTER} v10 domain 1") for name in counts.by_exporter)


def year_2106_datagram(header_time: float, received: float) -> tuple[bytes, float]:
    """One datagram of 64 flow records that end in 2106, one second apart."""
    late = 4_294_000_000.0  # 2106-01-28
    flows = [
        FlowRecord(late + i, late + i, "198.51.100.66", "10.1.1.10", 4000 + i, 80, 6, 1, 40, 2)
        for i in range(64)
    ]
    return encode_ipfix(flows, header_time, 0), received


@pytest.mark.parametrize("where", ["first", "middle"])
@pytest.mark.parametrize("header", ["2106", "now"])
def test_one_datagram_from_2106_does_not_move_the_clock(where: str, header: str) -> None:
    clean = exporter_messages(templates_every=1)
    _, expected = run(clean)
    at = 0 if where == "first" else len(clean) // 3
    received = clean[at][1]
    header_time = 4_294_000_064.0 if header == "2106" else received
    hostile = year_2106_datagram(header_time, received)
    decoder, found = run([*clean[:at], hostile, *clean[at:]])
    assert found == expected
    if header == "now":
        # Flows far from their message's export time: set aside by the decoder, per exporter.
        assert decoder.stats.far_from_header_by_exporter == {EXPORTER: 64}


def test_the_clock_follows_a_real_change_that_lasts() -> None:
    # The exporter's clock moves a day ahead and stays there: after agreement (8 datagrams over
    # 60 s of arrival) the detector follows, and the flows it held are analysed.
    detector = NetworkDetector(CONFIG)
    flows = flood_flows()
    shifted = [replace(f, start=f.start + 86_400, end=f.end + 86_400) for f in flows]
    found = []
    for i in range(0, len(flows), 20):
        found += detector.feed(flows[i : i + 20], received=T0 + i)
    for i in range(0, len(shifted), 20):
        found += detector.feed(shifted[i : i + 20], received=T0 + 400 + i)
    found += detector.finish()
    assert detector.clock.jumps == 1 and detector.clock.held_lost == 0
    starts = [d.first_seen for d in found if d.rule_id == "net-flood-start"]
    assert starts == [T0 + 40, T0 + 86_400 + 40]


def test_a_burst_from_the_future_between_two_datagrams_never_agrees() -> None:
    # 20 spoofed datagrams from 2106 in one second of arrival, two senders: not 60 s.
    detector = NetworkDetector(CONFIG)
    detector.feed([FlowRecord(T0, T0, "10.0.0.1", "10.1.1.10", 1, 2, 6, 1, 40, 2, origin="a")])
    for n in range(20):
        late = 4_294_000_000.0 + n
        far = FlowRecord(late, late, "10.0.0.9", "10.1.1.10", 1, 2, 6, 1, 40, 2, origin=f"s{n % 2}")
        detector.feed([far], received=T0 + n / 20)
    detector.feed([FlowRecord(T0, T0, "10.0.0.1", "10.1.1.10", 1, 2, 6, 1, 40, 2, origin="a")])
    assert detector.newest == T0 and detector.clock.jumps == 0
    assert detector.clock.suspect_future_flows == 20
    assert detector.clock.by_sender == {"s0": 10, "s1": 10}


def test_state_checkpoints_in_the_middle_of_the_input() -> None:
    clean = exporter_messages()
    _, expected = run(clean)
    _, found = run(clean, checkpoint_at=len(clean) // 2)
    assert found == expected


def _detect(*paths: Path) -> subprocess.CompletedProcess[str]:
    config = paths[0].parent.parent / "net.yaml"
    config.write_text(
        "network:\n  lateness_seconds: 0\n  baseline: {timezone: UTC}\n"
        "  flood: {floor_pps: 100, floor_bps: 1.0e+12, floor_fps: 1.0e+9}\n",
        encoding="utf-8",
    )
    # Run where the files are and name them plainly: detections name their sample files.
    return subprocess.run(
        [sys.executable, "-m", "sentinelle.cli.main", "network", "detect", "-c", str(config)]
        + [p.name for p in paths],
        capture_output=True,
        text=True,
        check=False,
        cwd=paths[0].parent,
    )


@pytest.mark.parametrize("where", ["first", "middle"])
def test_network_detect_gives_the_same_lines_with_a_2106_datagram_in_the_file(
    tmp_path: Path, where: str
) -> None:
    clean = exporter_messages(templates_every=1)
    (tmp_path / "plain").mkdir()
    (tmp_path / "attacked").mkdir()
    # The same name: detections name the file their sample records come from.
    plain, attacked = tmp_path / "plain" / "flows.ipfix", tmp_path / "attacked" / "flows.ipfix"
    plain.write_bytes(b"".join(m for m, _ in clean))
    at = 0 if where == "first" else len(clean) // 2
    hostile, _ = year_2106_datagram(4_294_000_064.0, 0.0)
    attacked.write_bytes(
        b"".join([*(m for m, _ in clean[:at]), hostile, *(m for m, _ in clean[at:])])
    )
    expected, found = _detect(plain), _detect(attacked)
    assert expected.returncode == found.returncode == 0, found.stderr
    lines = expected.stdout.splitlines()
    assert len(lines) == 2 and found.stdout.splitlines() == lines


def test_a_planted_line_keeps_its_place_among_several_files(tmp_path: Path) -> None:
    # Two exporters' files; one has a 2106 record first. Its other flows still meet the
    # other file's in time order (else they would all come last, and late).
    flows = flood_flows()
    victim_half = [f for f in flows if f.src.startswith("203.")]
    normal_half = [f for f in flows if not f.src.startswith("203.")]
    (tmp_path / "in").mkdir()
    a, b = tmp_path / "in" / "a.ipfix", tmp_path / "in" / "b.ipfix"
    hostile, _ = year_2106_datagram(4_294_000_064.0, 0.0)
    a.write_bytes(
        hostile
        + b"".join(
            encode_ipfix(victim_half[i : i + 20], victim_half[i].end + 1, i)
            for i in range(0, len(victim_half), 20)
        )
    )
    b.write_bytes(
        b"".join(
            encode_ipfix(normal_half[i : i + 20], normal_half[i].end + 1, i)
            for i in range(0, len(normal_half), 20)
        )
    )
    found = _detect(a, b)
    assert found.returncode == 0, found.stderr
    assert [json.loads(x)["rule_id"] for x in found.stdout.splitlines()] == [
        "net-flood-start",
        "net-flood-end",
    ]
