"""What a probe saw: one result per run, with its status, its reason in words and its time."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    UP = "up"
    DEGRADED = "degraded"  # answers, but slowly, or its certificate expires soon
    DOWN = "down"
    UNKNOWN = "unknown"  # could not be probed from here (ICMP not allowed, a documentation name)
    MAINTENANCE = "maintenance"  # inside a declared maintenance window

    @property
    def counts_for_uptime(self) -> bool:
        """Whether a result says something about availability (maintenance and unknown do not)."""
        return self in (Status.UP, Status.DEGRADED, Status.DOWN)

    @property
    def available(self) -> bool:
        return self in (Status.UP, Status.DEGRADED)


@dataclass(frozen=True, slots=True)
class Result:
    """One run of one probe. ``elapsed`` is the response time in seconds, when there was one."""

    probe: str
    status: Status
    reason: str
    checked: float  # seconds since the epoch, when the run ended
    elapsed: float | None = None
