"""Which files under a path are rule files (kept apart from the loader: no pySigma import)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sentinelle.errors import Location, RuleError

RULE_SUFFIXES = (".yml", ".yaml")


def rule_files(paths: Sequence[str | Path]) -> tuple[list[Path], list[RuleError]]:
    """Expand files and directories into the sorted list of rule files they hold."""
    files: list[Path] = []
    errors: list[RuleError] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.suffix in RULE_SUFFIXES and p.is_file())
            )
        elif path.is_file():
            files.append(path)
        else:
            errors.append(RuleError("no such file or directory", Location(str(path))))
    return files, errors
