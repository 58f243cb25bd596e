"""The network detector: floods, scans and outbound volume over one stream of flow records.

``NetworkDetector.feed`` takes flow records in roughly time order (as exporters send them) and
appends each one to the buffer of the step it ended in (``steps.py`` sums the buffers); a flow
longer than a step is shared out over the steps it covers. The clock is the newest flow end
seen: a step closes ``lateness_seconds`` after the clock passed it, and then the flood, scan and
outbound trackers look at it. A flow for a step already closed is counted as late, and a flow far
ahead of the clock is held as suspect (one corrupt timestamp must not close every window) until
flows from several deliveries agree on it; ``clock.py`` says when, and what is set aside.

Everything kept is capped: flows buffered per step, destinations and sources per step, subjects
with a baseline, scan sources, hosts; every cap that bites is counted.
"""

from __future__ import annotations

import ipaddress
import socket
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from itertools import chain
from operator import attrgetter
from typing import Any

from sentinelle.detections import Detection
from sentinelle.network.clock import EARLIEST, LATEST, ClockStats, Run
from sentinelle.network.config import NetworkConfig
from sentinelle.network.exfil import ExfilTracker
from sentinelle.network.flood import FloodTracker
from sentinelle.network.flow import FlowRecord
from sentinelle.network.scan import ScanTracker
from sentinelle.network.steps import StepAggregator, StepBuffer

_MAX_SPREAD_STEPS = 720
_END = attrgetter("end")
# A step's buffer is summed whenever it holds this many flows: few flows wait in memory, which
# keeps the garbage collector's work (it walks every waiting flow) small.
_FLUSH_FLOWS = 4_096


@dataclass(slots=True)
class DetectStats:
    flows: int = 0
    late_flows: int = 0  # ended in a step already closed
    clipped_flows: int = 0  # started before the oldest open step; that part was not counted
    steps_closed: int = 0
    detections: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in self.__slots__}
        out["detections"] = dict(sorted(self.detections.items()))
        return out


def _spread(f: FlowRecord, s_start: int, s_end: int, step_seconds: float) -> list[FlowRecord]:
    """A long flow's packets and bytes shared evenly over its steps, one piece per step; the
    first piece keeps the flow's flags and verdict (it is the one that counts as a new flow)."""
    if s_end - s_start >= _MAX_SPREAD_STEPS:
        s_start = s_end - _MAX_SPREAD_STEPS + 1
    n = s_end - s_start + 1
    out = []
    for i in range(n):
        at = max(f.start, (s_start + i) * step_seconds)
        share = replace(
            f,
            start=at,
            end=min(f.end, (s_start + i + 1) * step_seconds),
            packets=f.packets * (i + 1) // n - f.packets * i // n,
            bytes=f.bytes * (i + 1) // n - f.bytes * i // n,
            rpackets=f.rpackets * (i + 1) // n - f.rpackets * i // n,
            rbytes=f.rbytes * (i + 1) // n - f.rbytes * i // n,
        )
        if i:
            share.flags = share.action = share.state = None
        out.append(share)
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
        self.locate = locate
        self.stats = DetectStats()
        self.clock = ClockStats()
        self._step = cfg.step_seconds
        self._lateness = cfg.lateness_seconds
        self._open: dict[int, StepBuffer] = {}
        self._next: int | None = None  # the oldest step not closed yet
        self.newest = float("-inf")  # the clock: the newest flow end accepted
        self._run: Run | None = None  # flows far from the clock, waiting for agreement
        self._delivery = 0  # feed calls so far
        self._era_accepted = 0  # flows accepted since the clock started or last moved far
        self._era_closed = 0  # steps closed when it did
        self._internal = _Internal(cfg.internal_networks)
        self._source_budget = cfg.flood.max_source_entries_per_step
        self._build_trackers()

    def _build_trackers(self) -> None:
        cfg = self.config
        self.flood = FloodTracker(cfg, self.locate)
        self.scan = ScanTracker(cfg)
        self.exfil = ExfilTracker(cfg)
        # With a hospital model every destination may add to a site's or service's top lists.
        detail = (0.0, 0.0, 0.0) if self.locate is not None else self.flood.detail_from
        self._steps = StepAggregator(
            max_destinations=cfg.flood.max_destinations,
            max_sources=cfg.flood.max_sources_per_step,
            max_probe_sources=cfg.scan.max_sources,
            max_targets=cfg.scan.max_targets_per_source,
            max_hosts=cfg.exfil.max_hosts,
            probe_packets=cfg.scan.probe_max_packets,
            detail_from=detail,
            attacked=self.flood.attacked,
            tracked=self.flood.tracked,
            internal=self._internal,
            internal_cache=self._internal.cache,
        )

    # -- input -----------------------------------------------------------------------------

    def feed(self, flows: Iterable[FlowRecord], received: float | None = None) -> list[Detection]:
        """Add one delivery of flows (a datagram's, a batch of a file's); returns the detections
        of the steps their arrival closed. ``received`` is when the delivery arrived (wall
        clock), which lets the clock follow one sender's far jump only if it lasts
        (``clock.py``)."""
        self._delivery += 1
        out: list[Detection] = []
        pending: Iterator[FlowRecord] | None = iter(flows)
        while pending is not None:
            pending = self._feed(pending, received, out)
        return out

    def _feed(
        self, flows: Iterator[FlowRecord], received: float | None, out: list[Detection]
    ) -> Iterator[FlowRecord] | None:
        """Feed until the input ends (None) or the clock jumps or restarts: then what is left,
        the held flows first, to be fed against the new clock."""
        stats = self.stats
        step_seconds = self._step
        max_jump = self.config.max_jump_seconds
        opened = self._open
        newest = self.newest
        started = self._next is not None
        first_open: int = self._next if self._next is not None else 0
        last_step: int | None = None
        current: StepBuffer | None = None
        count = accepted = 0
        try:
            for f in flows:
                count += 1
                end = f.end
                if end > newest:
                    if not end <= LATEST:
                        self._out_of_range(f)
                        continue
                    if started and end - newest > max_jump:
                        self._era_accepted += accepted
                        accepted = 0
                        if self._far(f, True, received):
                            return chain(self._agreed(), flows)
                        continue
                    if self._run is not None:
                        self._abandon()
                    if not started:
                        if not end >= EARLIEST:
                            self._out_of_range(f)
                            continue
                        first_open = self._start(f)
                        started = True
                        self.newest = newest = end
                    else:
                        self.newest = newest = end
                        closable = int((end - self._lateness) // step_seconds)
                        if closable > first_open:
                            out.extend(self._close_until(closable))
                            first_open = closable
                            last_step = None
                elif not newest - end <= max_jump:  # far behind, or not a number
                    if not end >= EARLIEST:
                        self._out_of_range(f)
                        continue
                    self._era_accepted += accepted
                    accepted = 0
                    if self._far(f, False, received):
                        self._restart()
                        return chain(self._agreed(), flows)
                    continue
                elif self._run is not None:
                    self._abandon()
                if end < EARLIEST:
                    # Near the epoch a time before 1970 is within a jump of the clock; it is
                    # still one no output can write, whatever the clock says.
                    self._out_of_range(f)
                    continue
                step = int(end // step_seconds)
                if step < first_open:
                    stats.late_flows += 1
                    continue
                accepted += 1
                if end - f.start > step_seconds:
                    self._add_long(f, step, first_open)
                    last_step = None
                    continue
                # A flow up to one step long counts whole in the step it ended in: an error of
                # at most one step, where sharing it out would double the work for many flows.
                if step != last_step:
                    current = opened.get(step)
                    if current is None:
                        current = opened[step] = StepBuffer(self._source_budget)
                    last_step = step
                assert current is not None
                current.flows.append(f)
                if len(current.flows) >= _FLUSH_FLOWS:
                    self._steps.aggregate(current)
        finally:
            stats.flows += count
            self._era_accepted += accepted
        return None

    def _start(self, f: FlowRecord) -> int:
        """The clock starts with its first flow: the oldest open step is where that flow began
        (as far back as a long flow is ever spread, whatever its start says)."""
        earliest = f.end - _MAX_SPREAD_STEPS * self._step
        begun = f.start if earliest <= f.start <= f.end else f.end
        first_open = min(int(begun // self._step), int((f.end - self._lateness) // self._step))
        self._next = first_open
        self._new_era()
        return first_open

    def _new_era(self) -> None:
        self._era_accepted = 0
        self._era_closed = self.stats.steps_closed

    def _out_of_range(self, f: FlowRecord) -> None:
        self.clock.out_of_range_flows += 1
        self.clock.set_aside(f)

    def _far(self, f: FlowRecord, ahead: bool, received: float | None) -> bool:
        """Hold a flow far from the clock; whether the run it belongs to now agrees."""
        run = self._run
        if run is not None and run.ahead != ahead:
            self._abandon()
            run = None
        if run is None:
            run = self._run = Run(ahead)
        cfg = self.config
        run.add(f, self._delivery, received, cfg.max_held_flows)
        if not ahead:
            # Backwards, a run restarts the clock once it is larger than what the clock
            # accepted since it started (or last moved): a clock started by a few flows from
            # the future gives way to the real ones; a long-running one never to a burst.
            return run.count > self._era_accepted
        return run.agreed(cfg.agreement_deliveries, cfg.agreement_seconds, cfg.agreement_flows)

    def _abandon(self) -> None:
        assert self._run is not None
        self._run.abandon(self.clock)
        self._run = None

    def _agreed(self) -> list[FlowRecord]:
        """The held flows of the run that agreed, oldest first; the clock moves to the first."""
        run = self._run
        assert run is not None
        self._run = None
        self.clock.held_lost += run.count - len(run.held)
        held = sorted(run.held, key=_END)
        if run.ahead:
            self.clock.jumps += 1
            self.newest = held[0].end
            self._new_era()
        return held

    def _restart(self) -> None:
        """Forget the era of a clock that a larger, agreeing run of older flows contradicts."""
        self.clock.restarts += 1
        self.clock.discarded_flows += self._era_accepted
        closed = self.stats.steps_closed > self._era_closed
        self._open.clear()
        self._next = None
        self.newest = float("-inf")
        if closed:
            # Windows of the wrong era were closed: the trackers hold state at its times.
            self._build_trackers()

    def _add_long(self, f: FlowRecord, step: int, first_open: int) -> None:
        start = int(f.start // self._step)
        if start < first_open:
            self.stats.clipped_flows += 1
            start = first_open
        for i, piece in enumerate(_spread(f, start, step, self._step)):
            buf = self._open.get(start + i)
            if buf is None:
                buf = self._open[start + i] = StepBuffer(self._source_budget)
            (buf.pieces if i else buf.flows).append(piece)

    # -- clock -----------------------------------------------------------------------------

    def advance(self, now: float) -> list[Detection]:
        """Move the clock to ``now`` (flow time) without new flows: quiet steps close."""
        if self._next is None or not EARLIEST <= now <= LATEST:
            return []
        closable = int((now - self._lateness) // self._step)
        if closable <= self._next:
            return []
        self.newest = max(self.newest, now)
        return self._close_until(closable)

    def finish(self) -> list[Detection]:
        """End of input: close every step, let open attacks end, flush the outbound window."""
        out: list[Detection] = []
        if self._run is not None:
            self._abandon()  # the input ended before the far flows agreed
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
        buf = self._open.pop(step, None)
        out: list[Detection] = []
        if buf is None:
            out.extend(self.flood.close_step(step, {}))
        else:
            self._steps.aggregate(buf)
            out.extend(self.flood.close_step(step, buf.accs))
            if buf.probes:
                out.extend(self.scan.close_step(step, buf.probes, buf.probe_samples))
            out.extend(self.exfil.close_step(step, buf.outbound))
        return self._count(out)

    def _count(self, detections: list[Detection]) -> list[Detection]:
        for det in detections:
            self.stats.detections[det.rule_id] += 1
        return detections

    def summary(self) -> dict[str, Any]:
        """Counters of the detector and its trackers, for reports."""
        clock = self.clock
        return {
            "clock": {
                **{k: getattr(clock, k) for k in clock.__slots__ if k != "by_sender"},
                "newest": None if self.newest == float("-inf") else self.newest,
                "held": 0 if self._run is None else self._run.count,
                "set_aside_by_sender": dict(sorted(clock.by_sender.items())),
            },
            "detector": {
                **self.stats.as_dict(),
                "destination_overflow_flows": self._steps.overflow.destination_flows,
                "source_overflow_packets": self._steps.overflow.source_packets,
                "probe_overflow": self._steps.overflow.probe_sources,
                "outbound_host_overflow": self._steps.overflow.hosts,
            },
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
