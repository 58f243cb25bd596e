"""Unusual outbound volume: bytes each internal host sends outside, against its own baseline.

Bytes count as outbound when an internal host sends them to an address outside the internal
networks: the forward bytes of flows it opened and the reverse bytes of flows opened towards
it. They are summed over fixed windows (ten minutes by default); at the end of each window the
total is compared with the host's floor and learned baseline (time-of-day aware), and the
window is learned when it was normal.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sentinelle.detections import Detection
from sentinelle.network.baseline import Baseline, SlotClock
from sentinelle.network.config import NetworkConfig
from sentinelle.network.flow import FlowRecord

EXFIL_RULE_ID = "net-exfil-volume"  # hospital.locate.SOURCE_IS_SUBJECT: placed by its sender
EXFIL_TAGS = ("attack.exfiltration", "attack.t1048")
_MAX_PEERS = 64  # external peers remembered per host and window
_SAMPLES = 12  # flow records kept per host and window, so that a detection points back


@dataclass(slots=True)
class _Host:
    baseline: Baseline | None = None
    bytes: int = 0
    flows: int = 0
    first: float = 0.0
    last: float = 0.0
    peers: dict[str, int] = field(default_factory=dict)
    peers_dropped: int = 0
    samples: list[FlowRecord] = field(default_factory=list)  # a few flows, for the report


@dataclass(slots=True)
class ExfilStats:
    hosts_evicted: int = 0
    windows_evaluated: int = 0
    alerts: int = 0


class ExfilTracker:
    def __init__(self, config: NetworkConfig) -> None:
        self.config = config
        self.exfil = config.exfil
        self.step_seconds = config.step_seconds
        self.window_steps = max(1, round(config.exfil.window_seconds / config.step_seconds))
        self.clock = SlotClock(config.baseline)
        self.stats = ExfilStats()
        self._hosts: OrderedDict[str, _Host] = OrderedDict()
        self._window: int | None = None
        lift = max(self.exfil.factor, 1.0 + self.exfil.deviations)
        self._baseline_from = self.exfil.floor_bytes / lift

    @property
    def host_count(self) -> int:
        return len(self._hosts)

    def close_step(self, step: int, outbound: dict[str, list[Any]]) -> list[Detection]:
        """``outbound`` maps an internal host to [bytes, flows, first, last, {peer: bytes}]."""
        out: list[Detection] = []
        window = step // self.window_steps
        if self._window is not None and window != self._window:
            out.extend(self._close_window(self._window))
        self._window = window
        for host, (nbytes, flows, first, last, peers, samples) in outbound.items():
            state = self._hosts.pop(host, None)
            if state is None:
                state = _Host(first=first)
            self._hosts[host] = state  # most recently active last, for eviction
            if not state.bytes and not state.flows:
                state.first = first
            state.bytes += nbytes
            state.flows += flows
            state.last = max(state.last, last)
            if len(state.samples) < _SAMPLES:
                state.samples.extend(samples[: _SAMPLES - len(state.samples)])
            known = state.peers
            for peer, n in peers.items():
                if peer in known or len(known) < _MAX_PEERS:
                    known[peer] = known.get(peer, 0) + n
                else:
                    state.peers_dropped += 1
        while len(self._hosts) > self.exfil.max_hosts:
            self._hosts.popitem(last=False)
            self.stats.hosts_evicted += 1
        return out

    def finish(self) -> list[Detection]:
        if self._window is None:
            return []
        window, self._window = self._window, None
        return self._close_window(window)

    def _close_window(self, window: int) -> list[Detection]:
        out: list[Detection] = []
        start = window * self.window_steps * self.step_seconds
        slot = self.clock.slot(start)
        exfil = self.exfil
        for host in list(self._hosts):
            state = self._hosts[host]
            if not state.bytes and not state.flows:
                if state.baseline is None:
                    del self._hosts[host]
                continue
            self.stats.windows_evaluated += 1
            value = float(state.bytes)
            threshold = exfil.floor_bytes
            if state.baseline is not None:
                threshold = state.baseline.thresholds(
                    slot, (exfil.floor_bytes,), exfil.factor, exfil.deviations, self.config.baseline
                )[0]
            if value > threshold:
                self.stats.alerts += 1
                out.append(self._detection(host, state, window, threshold))
            elif state.baseline is not None or value >= self._baseline_from:
                if state.baseline is None:
                    state.baseline = Baseline(1, self.config.baseline.slots_per_day)
                state.baseline.update(slot, (value,), self.config.baseline.alpha)
            state.bytes = state.flows = state.peers_dropped = 0
            state.peers = {}
            state.samples = []
        return out

    def _detection(self, host: str, state: _Host, window: int, threshold: float) -> Detection:
        seconds = self.window_steps * self.step_seconds
        end = (window + 1) * seconds
        ranked = sorted(state.peers.items(), key=lambda item: -item[1])[: self.exfil.top]
        baseline_mean = None
        if state.baseline is not None:
            slot = self.clock.slot(window * seconds)
            baseline_mean = state.baseline.mean_dev(slot, 0, self.config.baseline.slot_min_samples)[
                0
            ]
        details: dict[str, Any] = {
            "bytes_out": state.bytes,
            "flows": state.flows,
            "bps": round(8.0 * state.bytes / seconds, 3),
            "threshold_bytes": round(threshold, 3),
            "baseline_bytes": None if baseline_mean is None else round(baseline_mean, 3),
            "window_seconds": seconds,
            "top_destinations": [{"ip": ip, "bytes": n} for ip, n in ranked],
            "destinations_dropped": state.peers_dropped,
            "sample_records": sorted({f.origin for f in state.samples}),
        }
        return Detection(
            rule_id=EXFIL_RULE_ID,
            rule_title="Unusual outbound volume from an internal host",
            level="high",
            timestamp=end,
            tags=EXFIL_TAGS,
            rule_type="network",
            group={"src_ip": host},
            first_seen=state.first,
            last_seen=state.last,
            value=float(state.bytes),
            details=details,
            events=tuple(f.event for f in state.samples if f.event is not None),
        )
