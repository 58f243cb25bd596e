"""The detector's clock: flow time, moved by the flows, never by one sender's word.

The detector's clock is the newest flow end it accepted. A flow far ahead of it (more than
``max_jump_seconds``) would close every open window and make every real flow after it late, so
it is held as suspect instead. Such flows move the clock only when they *agree*: a run of them
that no flow nearer the clock interrupts, delivered in at least ``agreement_deliveries``
separate deliveries (``NetworkDetector.feed`` calls: a datagram each for the collector, a batch
of a file for ``network detect``), and, when deliveries say when they arrived (live), lasting
``agreement_seconds`` of arrival time, which no sender controls; for files, coming from two
senders or holding ``agreement_flows`` flows. A datagram of flows stamped in 2106 is one
delivery: it never moves the clock, whatever it holds. When the clock does follow, the held
flows are analysed (up to ``max_held_flows``; the rest are counted as lost).

Backwards: a clock started by far-future flows (the very first ones, which nothing could
contradict yet) is restarted by an uninterrupted run of flows far behind it as soon as that run
is larger than what the clock accepted since it started or last moved: the wrong era's open
windows are dropped (counted), and the detector starts again from the run. A clock that has
run on real traffic has accepted far more than any burst of old flows.

A sender is what a flow's ``origin`` names: the exporter's address, or the log file of a
firewall or Zeek line (``file#line``). What is held and set aside is counted per sender.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sentinelle.network.flow import FlowRecord

# Flow times the detector can place: from 1970 to the last day datetime (and every output)
# can write. Outside, a flow is set aside and counted.
EARLIEST = 0.0
LATEST = 253_402_214_400.0  # 9999-12-31T00:00:00Z
_SENDERS_NAMED = 1_000  # senders counted by name; the rest add up under "other"


def sender_of(flow: FlowRecord) -> str:
    """The exporter, or the file a logged flow came from (``origin`` is ``file#line``)."""
    origin = flow.origin
    name, sep, record = origin.rpartition("#")
    return name if sep and record.isdigit() else origin


@dataclass(slots=True)
class ClockStats:
    suspect_future_flows: int = 0  # far ahead of the clock, and never agreed with
    suspect_past_flows: int = 0  # far behind the clock, and never agreed with
    out_of_range_flows: int = 0  # a time no output can write (before 1970, after 9999)
    held_lost: int = 0  # agreed with, but over max_held: not analysed
    jumps: int = 0  # the clock followed a run of flows far ahead
    restarts: int = 0  # the clock went back to a run of flows far behind
    discarded_flows: int = 0  # in the open windows of an era a restart ended
    by_sender: dict[str, int] = field(default_factory=dict)  # set aside, per sender

    def set_aside(self, flow: FlowRecord, count: int = 1) -> None:
        name = sender_of(flow)
        by = self.by_sender
        if name not in by and len(by) >= _SENDERS_NAMED:
            name = "other"
        by[name] = by.get(name, 0) + count


@dataclass(slots=True)
class Run:
    """Consecutive flows far from the clock (all ahead, or all behind) waiting for agreement."""

    ahead: bool
    held: list[FlowRecord] = field(default_factory=list)
    count: int = 0
    deliveries: int = 0
    last_delivery: int = -1
    senders: set[str] = field(default_factory=set)
    first_arrival: float | None = None
    last_arrival: float | None = None

    def add(self, flow: FlowRecord, delivery: int, arrival: float | None, max_held: int) -> None:
        self.count += 1
        if len(self.held) < max_held:
            self.held.append(flow)
        if delivery != self.last_delivery:
            self.deliveries += 1
            self.last_delivery = delivery
            if arrival is not None:
                if self.first_arrival is None:
                    self.first_arrival = arrival
                self.last_arrival = arrival
        if len(self.senders) < 2:
            self.senders.add(sender_of(flow))

    def agreed(self, deliveries: int, seconds: float, flows: int) -> bool:
        if self.deliveries < deliveries:
            return False
        if self.first_arrival is not None and self.last_arrival is not None:
            # Live: whoever sends, the run must outlast ``seconds`` of the collector's clock,
            # which no sender controls, without one flow near the clock in between.
            return self.last_arrival - self.first_arrival >= seconds
        # Files: several senders (exporters, log files), or one sender's many flows.
        return len(self.senders) >= 2 or self.count >= flows

    def abandon(self, stats: ClockStats) -> None:
        """Nothing agreed: every flow of the run is set aside, counted per sender."""
        if self.ahead:
            stats.suspect_future_flows += self.count
        else:
            stats.suspect_past_flows += self.count
        per_sender: dict[str, tuple[FlowRecord, int]] = {}
        for flow in self.held:
            name = sender_of(flow)
            first, n = per_sender.get(name, (flow, 0))
            per_sender[name] = (first, n + 1)
        for first, n in per_sender.values():
            stats.set_aside(first, n)
        unheld = self.count - len(self.held)
        if unheld:
            stats.by_sender["not held"] = stats.by_sender.get("not held", 0) + unheld
