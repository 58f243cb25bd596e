"""Scans: one source probing many ports of a host (vertical) or many hosts (horizontal).

Only probe-like flows count: a TCP flow that sent SYN and never ACK, a connection a firewall
denied, a Zeek connection left unanswered, an ICMP echo request. Completed connections never
count, so a busy proxy or resolver talking to thousands of servers is not a scanner. Each source
keeps the targets (host, port) it probed with the step they were last seen in, over a sliding
window; a source is reported once per scan episode and may be reported again after a quiet
window.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sentinelle.detections import Detection
from sentinelle.network.config import NetworkConfig
from sentinelle.network.flow import DENIED_ACTIONS, TCP_ACK, TCP_SYN, FlowRecord, proto_name

SCAN_TAGS = ("attack.discovery", "attack.t1046")
SAMPLES_PER_SCAN = 12
_UNANSWERED = frozenset({"S0", "REJ", "RSTOS0", "RSTR", "SH", "OTH"})
_ICMP_ECHO = (8 << 8, 128 << 8)  # echo request as type*256+code, IPv4 and IPv6


def is_probe(flow: FlowRecord, max_packets: int) -> bool:
    """Whether a flow looks like a probe rather than a conversation."""
    if flow.action is not None:
        return flow.action in DENIED_ACTIONS
    if flow.state is not None:
        return flow.state in _UNANSWERED
    proto = flow.proto
    if proto == 6:
        flags = flow.flags
        return flags is not None and flags & TCP_SYN != 0 and flags & TCP_ACK == 0
    if proto in (1, 58):
        return flow.dport in _ICMP_ECHO and flow.packets <= max_packets
    return False


@dataclass(slots=True)
class _Source:
    targets: dict[tuple[str, int, int], int]  # (host, proto, port) -> last step seen
    last_step: int
    reported: set[str]  # kinds reported in the current episode
    overflow: int = 0
    samples: list[FlowRecord] = field(default_factory=list)  # a few probes, for the report


@dataclass(slots=True)
class ScanStats:
    probes: int = 0
    sources_evicted: int = 0
    targets_dropped: int = 0
    sources_not_tracked: int = 0  # probing too slowly in their first step to be followed
    scans: int = 0


class ScanTracker:
    def __init__(self, config: NetworkConfig) -> None:
        self.config = config.scan
        self.step_seconds = config.step_seconds
        self.window_steps = max(1, round(config.scan.window_seconds / config.step_seconds))
        self.stats = ScanStats()
        self._least = min(config.scan.min_ports, config.scan.min_hosts)
        self._least_per_step = max(1, self._least // (2 * self.window_steps))
        self._sources: OrderedDict[str, _Source] = OrderedDict()

    @property
    def source_count(self) -> int:
        return len(self._sources)

    def close_step(
        self,
        step: int,
        probes: dict[str, set[tuple[str, int, int]]],
        samples: dict[str, list[FlowRecord]] | None = None,
    ) -> list[Detection]:
        out: list[Detection] = []
        horizon = step - self.window_steps
        cap = self.config.max_targets_per_source
        for src, targets in probes.items():
            self.stats.probes += len(targets)
            state = self._sources.pop(src, None)
            if state is None:
                if len(targets) < self._least_per_step:
                    # Under half the pace a scan needs: not worth state. This is what keeps a
                    # flood from spoofed sources (one SYN each) from filling the tracker.
                    self.stats.sources_not_tracked += 1
                    continue
                state = _Source({}, step, set())
            self._sources[src] = state  # most recently active last, for eviction
            if step - state.last_step > self.window_steps:
                state.reported.clear()  # a quiet window ends the episode
                state.samples = []
            state.last_step = step
            if samples is not None and len(state.samples) < SAMPLES_PER_SCAN:
                state.samples.extend(samples.get(src, ())[: SAMPLES_PER_SCAN - len(state.samples)])
            known = state.targets
            if len(known) + len(targets) > cap:
                for target in [t for t, seen in known.items() if seen <= horizon]:
                    del known[target]
            for target in targets:
                if target in known or len(known) < cap:
                    known[target] = step
                else:
                    state.overflow += 1
                    self.stats.targets_dropped += 1
            if len(known) >= self._least:
                out.extend(self._evaluate(src, state, step, horizon))
        self._evict()
        return out

    def _evict(self) -> None:
        while len(self._sources) > self.config.max_sources:
            self._sources.popitem(last=False)
            self.stats.sources_evicted += 1

    def _evaluate(self, src: str, state: _Source, step: int, horizon: int) -> list[Detection]:
        ports_by_host: dict[str, set[tuple[int, int]]] = {}
        hosts_by_port: dict[tuple[int, int], set[str]] = {}
        hosts: set[str] = set()
        for (host, proto, port), seen in state.targets.items():
            if seen <= horizon:
                continue
            ports_by_host.setdefault(host, set()).add((proto, port))
            hosts_by_port.setdefault((proto, port), set()).add(host)
            hosts.add(host)
        out: list[Detection] = []
        if ports_by_host and "ports" not in state.reported:
            host, ports = max(ports_by_host.items(), key=lambda item: len(item[1]))
            if len(ports) >= self.config.min_ports:
                state.reported.add("ports")
                out.append(self._detection(src, "ports", step, {"dst_ip": host}, ports, hosts))
        if len(hosts) >= self.config.min_hosts and "hosts" not in state.reported:
            state.reported.add("hosts")
            services = set(hosts_by_port)
            out.append(self._detection(src, "hosts", step, {}, services, hosts, hosts_by_port))
        self.stats.scans += len(out)
        return out

    def _detection(
        self,
        src: str,
        kind: str,
        step: int,
        group: dict[str, Any],
        ports: set[tuple[int, int]],
        hosts: set[str],
        hosts_by_port: dict[tuple[int, int], set[str]] | None = None,
    ) -> Detection:
        seen = [s for s in self._sources[src].targets.values() if s > step - self.window_steps]
        first = min(seen) * self.step_seconds
        last = (step + 1) * self.step_seconds
        top_ports: list[dict[str, Any]]
        if hosts_by_port is not None:
            ranked = Counter({key: len(h) for key, h in hosts_by_port.items()}).most_common(5)
            top_ports = [
                {"proto": proto_name(p), "port": port, "hosts": n} for (p, port), n in ranked
            ]
        else:
            top_ports = [{"proto": proto_name(p), "port": port} for p, port in sorted(ports)[:20]]
        details: dict[str, Any] = {
            "kind": "vertical" if kind == "ports" else "horizontal",
            "distinct_ports": len(ports),
            "distinct_hosts": len(hosts),
            "ports": top_ports,
            "hosts_sample": sorted(hosts)[:10],
            "window_seconds": self.config.window_seconds,
            "targets_dropped": self._sources[src].overflow,
            "sample_records": sorted({f.origin for f in self._sources[src].samples}),
        }
        title = "Port scan of one host" if kind == "ports" else "Host sweep"
        return Detection(
            rule_id=f"net-scan-{kind}",
            rule_title=title,
            level="medium",
            timestamp=last,
            tags=SCAN_TAGS,
            rule_type="network",
            group={"src_ip": src, **group},
            first_seen=first,
            last_seen=last,
            value=float(len(ports) if kind == "ports" else len(hosts)),
            details=details,
            events=tuple(f.event for f in self._sources[src].samples if f.event is not None),
        )
