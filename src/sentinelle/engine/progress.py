"""How compiling a rule set reports its progress (a cold compile of SigmaHQ takes seconds).

The engine only calls these two methods; the command line draws them (or not).
"""

from __future__ import annotations

from typing import Protocol


class CompileProgress(Protocol):
    def stage(self, name: str, total: int) -> None:
        """A new stage begins (``reading rule files``...), with ``total`` steps (0: unknown)."""

    def advance(self, count: int = 1) -> None:
        """``count`` more steps of the current stage are done."""
