"""What an attacker who can send datagrams (or write log lines) may do to the network detectors.

The rule every test here checks: the attacker's input may cost its own records, never a
neighbour's, and what is set aside is counted and named. Each test runs a real exporter's
traffic (a SYN flood) with and without the hostile input and compares the detections.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable

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


def run(messages: Iterable[tuple[bytes, float]]) -> tuple[FlowDecoder, list[str]]:
    """Decode and detect message by message, as the collector does; the detections as JSON."""
    decoder, detector = FlowDecoder(CONFIG.decoder), NetworkDetector(CONFIG)
    found = []
    for payload, received in messages:
        flows = decoder.decode(payload, EXPORTER, received)
        found += detector.feed(flows)
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
