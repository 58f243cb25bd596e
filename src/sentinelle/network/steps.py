"""Per-step accumulation: what the flows of one step add up to, per destination, per prober and
per internal host.

Flows are only appended to their step's buffer as they arrive (the per-flow cost of detection
is one list append); the buffer is aggregated when its step closes, or earlier when it is full
(so memory stays bounded whatever the flow rate). Aggregation sorts the flows by destination
and sums each destination's packets and bytes with C-level ``sum(map(...))``; only the few
destinations busy enough to matter (or under attack) are walked flow by flow for their sources,
ports and SYN-without-ACK counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from itertools import accumulate
from operator import attrgetter
from typing import Any

from sentinelle.network.flood import (
    A_BYTES,
    A_FLOWS,
    A_OTHER,
    A_PACKETS,
    A_SAMPLES,
    A_SERVICES,
    A_SOURCES,
    A_SYN,
    A_TCP,
    A_UNATTRIBUTED,
    SAMPLES_PER_STEP,
)
from sentinelle.network.flow import FlowRecord
from sentinelle.network.scan import is_probe

_DST = attrgetter("dst")
_PACKETS = attrgetter("packets")
_BYTES = attrgetter("bytes")
_RBYTES = attrgetter("rbytes")
_SERVICES_PER_DESTINATION = 256  # (proto, port) pairs counted per destination and step
_PEERS_PER_HOST = 64


class StepBuffer:
    """The flows of one step waiting for aggregation, and what earlier flushes summed."""

    __slots__ = (
        "accs",
        "budget",
        "flows",
        "most_bytes",
        "most_packets",
        "outbound",
        "pieces",
        "probe_samples",
        "probes",
        "seen",
    )

    def __init__(self, source_budget: int) -> None:
        self.flows: list[FlowRecord] = []  # flows that end in this step
        self.pieces: list[FlowRecord] = []  # shares of longer flows begun in earlier steps
        self.accs: dict[str, list[Any]] = {}  # destination -> flood accumulator
        self.probes: dict[str, set[tuple[str, int, int]]] = {}  # source -> probed targets
        self.probe_samples: dict[str, list[FlowRecord]] = {}  # source -> a few of its probes
        self.outbound: dict[str, list[Any]] = {}  # internal host -> bytes sent outside...
        self.budget = source_budget  # sources still countable in this step
        self.seen: Counter[str] = Counter()  # flows per destination so far in this step
        self.most_packets = 0  # the largest flow so far in this step
        self.most_bytes = 0


class Overflow:
    """What the caps left out, counted."""

    __slots__ = ("destination_flows", "hosts", "probe_sources", "seen_resets", "source_packets")

    def __init__(self) -> None:
        self.destination_flows = 0
        self.source_packets = 0
        self.probe_sources = 0
        self.hosts = 0
        self.seen_resets = 0


class StepAggregator:
    def __init__(
        self,
        *,
        max_destinations: int,
        max_sources: int,
        max_probe_sources: int,
        max_targets: int,
        max_hosts: int,
        probe_packets: int,
        detail_from: tuple[float, float, float],
        attacked: set[str],
        tracked: set[str],
        internal: Callable[[str], bool],
        internal_cache: dict[str, bool],
    ) -> None:
        self.max_destinations = max_destinations
        self.max_sources = max_sources
        self.max_probe_sources = max_probe_sources
        self.max_targets = max_targets
        self.max_hosts = max_hosts
        self.probe_packets = probe_packets
        self.detail_from = detail_from
        self.attacked = attacked
        self.tracked = tracked
        self.internal = internal
        self.internal_cache = internal_cache  # the answers ``internal`` already gave
        self.overflow = Overflow()

    def aggregate(self, buf: StepBuffer) -> None:
        flows, pieces = buf.flows, buf.pieces
        buf.flows, buf.pieces = [], []
        if flows:
            self._destinations(buf, flows, new=True)
            self._probes(buf, flows)
        if pieces:
            self._destinations(buf, pieces, new=False)

    def _destinations(self, buf: StepBuffer, flows: list[FlowRecord], new: bool) -> None:
        internal = self.internal
        known = self.internal_cache.get
        per_destination = Counter(map(_DST, flows))
        # A destination whose flows in this step so far, even all at the largest size seen,
        # stay under an eighth of what gets a destination state, and which has none, cannot
        # matter to the flood detector: it is left out without looking at its flows (most
        # destinations are such). The buffer is summed in small chunks, so the counts of
        # flows per destination run over the whole step.
        seen = buf.seen
        if len(seen) > self.max_destinations * 4:
            seen.clear()  # bounded: the busy ones have accumulators and stay busy
            self.overflow.seen_resets += 1
        seen.update(per_destination)
        buf.most_packets = most_packets = max(buf.most_packets, *map(_PACKETS, flows))
        buf.most_bytes = most_bytes = max(buf.most_bytes, *map(_BYTES, flows))
        detail_packets, detail_bytes, detail_flows = self.detail_from
        tracked, accs = self.tracked, buf.accs
        busy: set[str] = set()
        outside: set[str] = set()
        for dst in per_destination:
            n = seen[dst]
            if (
                n * most_packets >= detail_packets
                or n * most_bytes >= detail_bytes
                or n >= detail_flows
                or dst in tracked
                or dst in accs
            ):
                busy.add(dst)
            dst_in = known(dst)
            if dst_in is None:
                dst_in = internal(dst)
            if not dst_in:
                outside.add(dst)
        if busy:
            self._busy(
                [f for f in flows if f.dst in busy] if busy != per_destination.keys() else flows,
                buf,
                new,
            )
        # Outbound volume: bytes internal hosts send to outside addresses.
        if outside:
            for f in [f for f in flows if f.dst in outside]:
                src_in = known(f.src)
                if src_in is None:
                    src_in = internal(f.src)
                if src_in and f.bytes:
                    self._outbound(buf, f.src, f.dst, f.bytes, f, new)
        if any(map(_RBYTES, flows)):
            for f in flows:
                if f.rbytes and f.dst not in outside and not internal(f.src):
                    self._outbound(buf, f.dst, f.src, f.rbytes, f, new)

    def _busy(self, flows: list[FlowRecord], buf: StepBuffer, new: bool) -> None:
        """Sum the flows of the destinations that matter, one slice of the sorted flows each."""
        accs = buf.accs
        detail_packets, detail_bytes, detail_flows = self.detail_from
        attacked = self.attacked
        flows.sort(key=_DST)
        packets_upto = [0, *accumulate(map(_PACKETS, flows))]
        bytes_upto = [0, *accumulate(map(_BYTES, flows))]
        low = 0
        for dst, n in Counter(map(_DST, flows)).items():
            high = low + n
            packets = packets_upto[high] - packets_upto[low]
            acc = accs.get(dst)
            if acc is None:
                if len(accs) >= self.max_destinations:
                    self.overflow.destination_flows += n if new else 0
                    low = high
                    continue
                acc = accs[dst] = [0, 0, 0, 0, 0, {}, {}, 0, 0, []]
            acc[A_PACKETS] += packets
            acc[A_BYTES] += bytes_upto[high] - bytes_upto[low]
            if new:
                acc[A_FLOWS] += n
            if (
                acc[A_PACKETS] >= detail_packets
                or acc[A_BYTES] >= detail_bytes
                or acc[A_FLOWS] >= detail_flows
                or dst in attacked
            ):
                self._detail(buf, acc, flows[low:high], new)
            else:
                acc[A_UNATTRIBUTED] += packets
            low = high

    def _detail(self, buf: StepBuffer, acc: list[Any], items: list[FlowRecord], new: bool) -> None:
        """Sources, ports and SYN-without-ACK counts of a busy destination, flow by flow."""
        sources: dict[str, int] = acc[A_SOURCES]
        services: dict[tuple[int, int], int] = acc[A_SERVICES]
        samples: list[FlowRecord] = acc[A_SAMPLES]
        if len(samples) < SAMPLES_PER_STEP:
            samples.extend(items[: SAMPLES_PER_STEP - len(samples)])
        max_sources = self.max_sources
        for f in items:
            packets = f.packets
            src = f.src
            seen = sources.get(src)
            if seen is not None:
                sources[src] = seen + packets
            elif len(sources) < max_sources and buf.budget > 0:
                sources[src] = packets
                buf.budget -= 1
            else:
                acc[A_OTHER] += packets
                self.overflow.source_packets += packets
            service = (f.proto, f.dport)
            if service in services or len(services) < _SERVICES_PER_DESTINATION:
                services[service] = services.get(service, 0) + packets
            flags = f.flags
            if new and flags is not None and f.proto == 6:
                acc[A_TCP] += 1
                if flags & 0x12 == 0x02:
                    acc[A_SYN] += 1

    def _probes(self, buf: StepBuffer, flows: list[FlowRecord]) -> None:
        # An acknowledged TCP flow is never a probe: ruled out before the full test.
        candidates = [
            f
            for f in flows
            if f.proto != 6
            or (f.flags is not None and f.flags & 0x12 == 0x02)
            or f.action is not None
            or f.state is not None
        ]
        probes, samples = buf.probes, buf.probe_samples
        for f in candidates:
            if not is_probe(f, self.probe_packets):
                continue
            targets = probes.get(f.src)
            if targets is None:
                if len(probes) >= self.max_probe_sources:
                    self.overflow.probe_sources += 1
                    continue
                targets = probes[f.src] = set()
                samples[f.src] = []
            if len(targets) < self.max_targets:
                targets.add((f.dst, f.proto, f.dport))
            kept = samples[f.src]
            if len(kept) < SAMPLES_PER_STEP:
                kept.append(f)

    def _outbound(
        self, buf: StepBuffer, host: str, peer: str, sent: int, f: FlowRecord, new: bool
    ) -> None:
        entry = buf.outbound.get(host)
        if entry is None:
            if len(buf.outbound) >= self.max_hosts:
                self.overflow.hosts += 1
                return
            entry = buf.outbound[host] = [0, 0, f.start, f.end, {}, []]
        entry[0] += sent
        entry[1] += 1 if new else 0
        entry[2] = min(entry[2], f.start)
        entry[3] = max(entry[3], f.end)
        peers = entry[4]
        if peer in peers or len(peers) < _PEERS_PER_HOST:
            peers[peer] = peers.get(peer, 0) + sent
        if len(entry[5]) < SAMPLES_PER_STEP:
            entry[5].append(f)
