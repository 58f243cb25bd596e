"""Network detection cost: flow records decoded alone, then decoded and detected, in one run.

1. Throughput. The same IPFIX messages (30 records each, templates resent every 32 messages
   as exporters do) are decoded alone and decoded + fed to the detector with the default
   settings, message by message side by side (see ``paired``), three rounds. The workload is
   a hospital's traffic (4,000 clients, 2,000 servers, some outside) with a SYN flood and a
   port scan in the middle, so that every detector works. Prints records/s of both and their
   ratio (target >= 0.5).
2. Memory. Fresh child processes decode and detect the same number of records spread over
   N and then 10 x N distinct destinations, with floors low enough that destinations get
   state (and attacks open), and report their peak RSS: with state bounded by the caps, 10x
   the destinations must not cost anything near 10x the memory.

Run: ``.venv/bin/python bench/network.py`` (``--records N`` to change the workload size).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from _common import ratio, run_child_json
from sentinelle.network.config import FloodConfig, NetworkConfig
from sentinelle.network.detect import NetworkDetector
from sentinelle.network.encode import encode_ipfix
from sentinelle.network.flow import FlowRecord
from sentinelle.network.netflow import FlowDecoder

T0 = 1_700_006_400.0
PER_MESSAGE = 30
TEMPLATE_EVERY = 32
FLOWS_PER_SECOND = 2_000  # of traffic time: the workload covers records / 2,000 seconds


def workload(records: int, destinations: int, seed: int = 11) -> Iterator[FlowRecord]:
    """Hospital traffic in time order; a SYN flood in the second quarter, a scan in the third."""
    rng = random.Random(seed)
    flood_from, flood_to = records // 4, records // 2
    for i in range(records):
        t = T0 + i / FLOWS_PER_SECOND
        if flood_from <= i < flood_to and i % 3 == 0:
            src = f"203.0.{rng.randrange(64)}.{rng.randrange(256)}"
            # Bots resending SYNs on one source port: 40 packets per flow record.
            sport = rng.randrange(1024, 65535)
            yield FlowRecord(t, t, src, "10.1.1.10", sport, 80, 6, 40, 1600, 0x02)
            continue
        if 2 * records // 3 <= i < 2 * records // 3 + 400:
            yield FlowRecord(t, t, "10.0.66.6", "10.1.9.9", 4444, 1 + i % 1000, 6, 1, 44, 0x02)
            continue
        client = rng.randrange(4000)
        src = f"10.0.{client // 250}.{client % 250}"
        server = rng.randrange(destinations)
        if server % 10 == 0:
            dst = f"198.{18 + server // 65536 % 2}.{server // 256 % 256}.{server % 256}"
        else:
            dst = f"10.{1 + server // 62500}.{server // 250 % 250}.{server % 250}"
        packets = rng.randrange(1, 40)
        yield FlowRecord(
            t, t + rng.random() * 4, src, dst, rng.randrange(1024, 65535),
            rng.choice((443, 443, 443, 80, 445, 53, 3389, 104)), 6,
            packets, packets * rng.randrange(60, 1400), 0x1B,
        )  # fmt: skip


def messages(records: int, destinations: int) -> Iterator[bytes]:
    chunk: list[FlowRecord] = []
    count = sent = 0
    for flow in workload(records, destinations):
        chunk.append(flow)
        if len(chunk) == PER_MESSAGE:
            templates = count % TEMPLATE_EVERY == 0
            yield encode_ipfix(chunk, chunk[-1].end, sent, with_templates=templates)
            sent += len(chunk)
            count += 1
            chunk = []
    if chunk:
        yield encode_ipfix(chunk, chunk[-1].end, sent, with_templates=count % TEMPLATE_EVERY == 0)


def paired(data: list[bytes], config: NetworkConfig) -> tuple[float, float, int, list[str]]:
    """Seconds of decoding alone and of decoding + detecting, message by message.

    Each message is decoded by one decoder (alone), then decoded by a second decoder and fed to
    the detector, and both are timed right next to each other: a neighbour's load on this shared
    machine then weighs on both alike, which separate passes cannot promise.
    """
    alone, decoder, detector = FlowDecoder(), FlowDecoder(), NetworkDetector(config)
    clock = time.perf_counter
    decode_seconds = detect_seconds = 0.0
    records = 0
    found: list[str] = []
    for message in data:
        start = clock()
        alone.decode(message, "192.0.2.1")
        middle = clock()
        flows = decoder.decode(message, "192.0.2.1")
        found.extend(d.rule_id for d in detector.feed(flows))
        end = clock()
        decode_seconds += middle - start
        detect_seconds += end - middle
        records += len(flows)
    start = clock()
    found.extend(d.rule_id for d in detector.finish())
    detect_seconds += clock() - start
    return decode_seconds, detect_seconds, records, found


def stress_config() -> NetworkConfig:
    """Floors so low that busy destinations get state and attacks open: the caps hold memory."""
    floors = FloodConfig(floor_pps=0.5, floor_bps=400.0, floor_fps=0.1)
    return replace(NetworkConfig(), flood=floors)


def memory_child(records: int, destinations: int, stress: bool) -> None:
    """Run in a fresh interpreter: decode + detect, streaming, then print one JSON line."""
    decoder = FlowDecoder()
    detector = NetworkDetector(stress_config() if stress else NetworkConfig())
    start = time.perf_counter()
    for message in messages(records, destinations):
        detector.feed(decoder.decode(message, "192.0.2.1"))
    detector.finish()
    summary = detector.summary()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "peak_rss_mb": peak,
                "seconds": time.perf_counter() - start,
                "subjects": summary["flood"]["subjects"],
                "subjects_evicted": summary["flood"]["subjects_evicted"],
                "baselines": summary["flood"]["baselines"],
                "destination_overflow_flows": summary["detector"]["destination_overflow_flows"],
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--destinations", type=int, default=2_000)
    args = parser.parse_args()
    data = list(messages(args.records, args.destinations))
    config = NetworkConfig()
    rounds = [paired(data, config) for _ in range(3)]
    decode_seconds, detect_seconds, records, rules = min(rounds, key=lambda r: r[0] + r[1])
    decode_rate, detect_rate = records / decode_seconds, records / detect_seconds
    ratios = sorted(ratio(r[0], r[1]) for r in rounds)
    print(f"workload: {records:,} flow records in {len(data):,} IPFIX messages")
    print(f"detections: {', '.join(sorted(set(rules)))}")
    print(f"decode only:       {decode_rate:12,.0f} records/s")
    print(f"decode + detect:   {detect_rate:12,.0f} records/s")
    print(
        f"ratio:             {ratio(detect_rate, decode_rate):12.2f}  (target >= 0.5; "
        f"rounds {', '.join(f'{r:.2f}' for r in ratios)})"
    )

    bench_dir = str(Path(__file__).resolve().parent)
    code = (
        f"import sys; sys.path.insert(0, {bench_dir!r}); import network; "
        "network.memory_child(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == 'stress')"
    )
    n = args.destinations * 5
    for mode in ("default", "stress"):
        few = run_child_json(code, str(args.records), str(n), mode)
        many = run_child_json(code, str(args.records), str(10 * n), mode)
        for label, result in ((f"{n:,} destinations", few), (f"{10 * n:,}", many)):
            print(
                f"peak RSS, {mode} settings, {label:>18s}: "
                f"{float(str(result['peak_rss_mb'])):6.1f} MB  (subjects {result['subjects']}, "
                f"evicted {result['subjects_evicted']}, baselines {result['baselines']})"
            )
        rss_ratio = ratio(float(str(many["peak_rss_mb"])), float(str(few["peak_rss_mb"])))
        print(f"peak RSS ratio, {mode} settings (10 x N / N): {rss_ratio:.2f}")


if __name__ == "__main__":
    main()
