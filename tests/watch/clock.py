"""A simulated clock for the scheduler: sleeping advances time at once."""

from __future__ import annotations

import asyncio


class SimulatedClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.t = 0.0
        self.start = start

    def now(self) -> float:
        return self.t

    def wall(self) -> float:
        return self.start + self.t

    async def sleep(self, seconds: float) -> None:
        # Let every task that is ready run at the current time first (a check just started),
        # then jump: nothing else happens while the scheduler sleeps.
        for _ in range(3):
            await asyncio.sleep(0)
        self.t += max(seconds, 0.0)
