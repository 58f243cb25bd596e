"""The network detector: floods, scans and outbound volume over one stream of flow records.

``NetworkDetector.feed`` takes flow records in roughly time order (as exporters send them) and
adds each one to the accumulators of the step it belongs to; a flow spanning several steps is
spread over them. The clock is the newest flow end seen: a step closes ``lateness_seconds``
after the clock passed it, and then the flood, scan and outbound trackers look at it. A flow
for a step already closed is counted as late, and a flow far ahead of the clock is held as
suspect (one corrupt timestamp must not close every window), until enough of them agree.

Everything kept is capped: destinations and sources per step, subjects with a baseline, scan
sources, hosts; every cap that bites is counted in ``stats``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sentinelle.detections import Detection
from sentinelle.network.config import NetworkConfig
from sentinelle.network.exfil import ExfilTracker
from sentinelle.network.flood import (
    A_BYTES,
    A_FLOWS,
    A_OTHER,
    A_PACKETS,
    A_SERVICES,
    A_SOURCES,
    A_SYN,
    A_TCP,
    FloodTracker,
)
from sentinelle.network.flow import FlowRecord
from sentinelle.network.scan import ScanTracker, is_probe

_SERVICES_PER_DESTINATION = 256  # (proto, port) pairs counted per destination and step
_FUTURE_AGREEMENT = 64  # consecutive far-ahead flows after which the clock follows them
_MAX_SPREAD_STEPS = 720


@dataclass(slots=True)
class DetectStats:
    flows: int = 0
    late_flows: int = 0  # ended in a step already closed
    clipped_flows: int = 0  # started before the oldest open step; that part was not counted
    suspect_future_flows: int = 0
    destination_overflow_flows: int = 0
    source_overflow_packets: int = 0
    probe_overflow: int = 0
    steps_closed: int = 0
    detections: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in self.__slots__}
        out["detections"] = dict(sorted(self.detections.items()))
        return out


def _spread(f: FlowRecord, s_start: int, s_end: int) -> list[tuple[int, int, int, int, int]]:
    """A long flow's packets and bytes shared evenly over its steps: (step, packets, bytes,
    reverse bytes, new flows); the flow counts as new in its first step only."""
    if s_end - s_start >= _MAX_SPREAD_STEPS:
        s_start = s_end - _MAX_SPREAD_STEPS + 1
    n = s_end - s_start + 1
    out = []
    for i in range(n):
        out.append(
            (
                s_start + i,
                f.packets * (i + 1) // n - f.packets * i // n,
                f.bytes * (i + 1) // n - f.bytes * i // n,
                f.rbytes * (i + 1) // n - f.rbytes * i // n,
                1 if i == 0 else 0,
            )
        )
    return out


class _Internal:
    """Membership of addresses in the internal networks, cached per address (bounded)."""

    def __init__(self, networks: Iterable[str]) -> None:
        v4: list[tuple[int, int]] = []
        self._v6: list[ipaddress.IPv6Network] = []
        for text in networks:
            net = ipaddress.ip_network(text, strict=False)
            if isinstance(net, ipaddress.IPv4Network):
                v4.append((int(net.network_address), int(net.broadcast_address)))
            else:
                self._v6.append(net)
        self._v4 = tuple(v4)
        self.cache: dict[str, bool] = {}

    def __call__(self, ip: str) -> bool:
        known = self.cache.get(ip)
        if known is not None:
            return known
        if len(self.cache) >= 65_536:
            self.cache.clear()
        result = False
        try:
            if ":" in ip:
                address = ipaddress.IPv6Address(ip)
                result = any(address in net for net in self._v6)
            else:
                value = int.from_bytes(socket.inet_aton(ip), "big")
                result = any(low <= value <= high for low, high in self._v4)
        except (OSError, ValueError):
            result = False
        self.cache[ip] = result
        return result


class NetworkDetector:
    """Floods, scans and outbound volume from flow records; see the module docstring.

    ``locate(ip)`` (optional, from the hospital model) returns a mapping with ``site`` and
    ``service`` keys for an address: rates are then also tracked per site and per service.
    """

    def __init__(
        self,
        config: NetworkConfig | None = None,
        locate: Callable[[str], Mapping[str, Any] | None] | None = None,
    ) -> None:
        self.config = config or NetworkConfig()
        cfg = self.config
        self.flood = FloodTracker(cfg, locate)
        self.scan = ScanTracker(cfg)
        self.exfil = ExfilTracker(cfg)
        self.stats = DetectStats()
        self._step = cfg.step_seconds
        self._lateness = cfg.lateness_seconds
        self._open: dict[int, tuple[dict[str, Any], dict[str, Any], dict[str, Any], list[int]]] = {}
        self._next: int | None = None  # the oldest step not closed yet
        self.newest = float("-inf")  # the clock: the newest flow end seen
        self._future_run = 0
        self._internal = _Internal(cfg.internal_networks)
        self._max_dst = cfg.flood.max_destinations
        self._max_src = cfg.flood.max_sources_per_step
        self._probe_packets = cfg.scan.probe_max_packets
        self._max_scan_sources = cfg.scan.max_sources
        self._max_targets = cfg.scan.max_targets_per_source

    # -- input -----------------------------------------------------------------------------

    def feed(self, flows: Iterable[FlowRecord]) -> list[Detection]:
        """Add flows; returns the detections of the steps their arrival closed."""
        out: list[Detection] = []
        stats = self.stats
        step_seconds = self._step
        max_jump = self.config.max_jump_seconds
        opened = self._open
        max_dst, max_src = self._max_dst, self._max_src
        max_probe_sources, max_targets = self._max_scan_sources, self._max_targets
        probe_packets = self._probe_packets
        internal = self._internal
        internal_cache = internal.cache
        outbound = self._outbound
        for f in flows:
            stats.flows += 1
            end = f.end
            if end > self.newest:
                if end - self.newest > max_jump and self._next is not None:
                    self._future_run += 1
                    if self._future_run < _FUTURE_AGREEMENT:
                        stats.suspect_future_flows += 1
                        continue
                self._future_run = 0
                self.newest = end
                closable = int((end - self._lateness) // step_seconds)
                if self._next is None:
                    self._next = min(int(f.start // step_seconds), closable)
                elif closable > self._next:
                    out.extend(self._close_until(closable))
            else:
                self._future_run = 0
            first_open = self._next
            assert first_open is not None
            s_end = int(end // step_seconds)
            if s_end < first_open:
                stats.late_flows += 1
                continue
            s_start = int(f.start // step_seconds)
            if s_start < first_open:
                stats.clipped_flows += 1
                s_start = first_open
            src, dst, proto, flags = f.src, f.dst, f.proto, f.flags
            if s_start == s_end:
                pieces: Any = ((s_end, f.packets, f.bytes, f.rbytes, 1),)
            else:
                pieces = _spread(f, s_start, s_end)
            for step, packets, nbytes, rbytes, count in pieces:
                bucket = opened.get(step)
                if bucket is None:
                    bucket = opened[step] = self._new_bucket()
                # Flood accumulators.
                accs = bucket[0]
                acc = accs.get(dst)
                if acc is None:
                    if len(accs) >= max_dst:
                        stats.destination_overflow_flows += count
                    else:
                        acc = accs[dst] = [0, 0, 0, 0, 0, {}, {}, 0]
                if acc is not None:
                    acc[A_PACKETS] += packets
                    acc[A_BYTES] += nbytes
                    acc[A_FLOWS] += count
                    if flags is not None and proto == 6:
                        acc[A_TCP] += count
                        if flags & 0x12 == 0x02:
                            acc[A_SYN] += count
                    sources = acc[A_SOURCES]
                    seen = sources.get(src)
                    if seen is not None:
                        sources[src] = seen + packets
                    elif len(sources) < max_src and bucket[3][0] > 0:
                        sources[src] = packets
                        bucket[3][0] -= 1
                    else:
                        acc[A_OTHER] += packets
                        stats.source_overflow_packets += packets
                    services = acc[A_SERVICES]
                    service = (proto, f.dport)
                    if service in services or len(services) < _SERVICES_PER_DESTINATION:
                        services[service] = services.get(service, 0) + packets
                # Scans: probe-like flows only, counted once, in the step they started.
                if (
                    count
                    and (
                        proto != 6
                        or f.action is not None
                        or f.state is not None
                        or (flags is not None and flags & 0x12 == 0x02)
                    )
                    and is_probe(f, probe_packets)
                ):
                    probes = bucket[1]
                    targets = probes.get(src)
                    if targets is None:
                        if len(probes) < max_probe_sources:
                            targets = probes[src] = set()
                        else:
                            stats.probe_overflow += 1
                    if targets is not None and len(targets) < max_targets:
                        targets.add((dst, proto, f.dport))
                # Outbound volume of internal hosts.
                src_in = internal_cache.get(src)
                if src_in is None:
                    src_in = internal(src)
                dst_in = internal_cache.get(dst)
                if dst_in is None:
                    dst_in = internal(dst)
                if src_in != dst_in:
                    if src_in and nbytes:
                        outbound(bucket[2], src, dst, nbytes, count, f.start, end)
                    elif dst_in and rbytes:
                        outbound(bucket[2], dst, src, rbytes, count, f.start, end)
        return out

    def _new_bucket(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], list[int]]:
        # destination accumulators, probes per source, outbound per host, source budget
        return ({}, {}, {}, [self.config.flood.max_source_entries_per_step])

    def _outbound(
        self,
        outbound: dict[str, Any],
        host: str,
        peer: str,
        sent: int,
        flows: int,
        start: float,
        end: float,
    ) -> None:
        entry = outbound.get(host)
        if entry is None:
            if len(outbound) >= self.config.exfil.max_hosts:
                return
            entry = outbound[host] = [0, 0, start, end, {}]
        entry[0] += sent
        entry[1] += flows
        entry[2] = min(entry[2], start)
        entry[3] = max(entry[3], end)
        peers = entry[4]
        if peer in peers or len(peers) < 64:
            peers[peer] = peers.get(peer, 0) + sent

    # -- clock -----------------------------------------------------------------------------

    def advance(self, now: float) -> list[Detection]:
        """Move the clock to ``now`` (flow time) without new flows: quiet steps close."""
        if self._next is None:
            return []
        closable = int((now - self._lateness) // self._step)
        if closable <= self._next:
            return []
        self.newest = max(self.newest, now)
        return self._close_until(closable)

    def finish(self) -> list[Detection]:
        """End of input: close every step, let open attacks end, flush the outbound window."""
        out: list[Detection] = []
        if self._next is not None:
            last = max(self._open, default=self._next - 1) + 1
            out.extend(self._close_until(max(last, self._next)))
            limit = self.flood.steps_per_window * (self.config.flood.end_windows + 1) + 1
            for _ in range(limit):
                if not self.flood.open_attacks:
                    break
                ended = self._close_until(self._next + 1)
                for det in ended:
                    det.details["input_ended"] = True
                out.extend(ended)
        out.extend(self._count(self.exfil.finish()))
        return out

    def _close_until(self, target: int) -> list[Detection]:
        out: list[Detection] = []
        assert self._next is not None
        s = self._next
        while s < target:
            if s in self._open or self.flood.open_attacks:
                out.extend(self._close(s))
                s += 1
                continue
            later = [k for k in self._open if s < k < target]
            s = min(later) if later else target
            self.flood.forget_until(s - 1 - self.flood.steps_per_window)
        self._next = max(self._next, target)
        return out

    def _close(self, step: int) -> list[Detection]:
        self.stats.steps_closed += 1
        bucket = self._open.pop(step, None)
        out: list[Detection] = []
        if bucket is None:
            out.extend(self.flood.close_step(step, {}))
        else:
            out.extend(self.flood.close_step(step, bucket[0]))
            if bucket[1]:
                out.extend(self.scan.close_step(step, bucket[1]))
            out.extend(self.exfil.close_step(step, bucket[2]))
        return self._count(out)

    def _count(self, detections: list[Detection]) -> list[Detection]:
        for det in detections:
            self.stats.detections[det.rule_id] += 1
        return detections

    def summary(self) -> dict[str, Any]:
        """Counters of the detector and its trackers, for reports."""
        return {
            "detector": self.stats.as_dict(),
            "flood": {
                "subjects": self.flood.subject_count,
                "open_attacks": self.flood.open_attacks,
                **{k: getattr(self.flood.stats, k) for k in self.flood.stats.__slots__},
            },
            "scan": {
                "sources": self.scan.source_count,
                **{k: getattr(self.scan.stats, k) for k in self.scan.stats.__slots__},
            },
            "exfil": {
                "hosts": self.exfil.host_count,
                **{k: getattr(self.exfil.stats, k) for k in self.exfil.stats.__slots__},
            },
        }
