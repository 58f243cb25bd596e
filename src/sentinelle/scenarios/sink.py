"""Where generated records gather before they are written, each file in time order.

Generators add records in whatever order is natural to them (one behaviour after another); the
sink sorts each file by time when it writes it, and numbers Windows records then, so record ids
grow with time as in a real log. Ties keep insertion order, which keeps the output deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson


@dataclass(slots=True)
class _File:
    kind: str  # "windows" (EVTX-JSON documents) or "text" (ready lines)
    header: Callable[[float, float], list[str]] | None = None
    footer: Callable[[float, float], list[str]] | None = None
    first_record: int = 1
    records: list[tuple[float, int, Any]] = field(default_factory=list)


class LogSink:
    """Collects records per output file (paths relative to the scenario directory)."""

    def __init__(self) -> None:
        self._files: dict[str, _File] = {}
        self._seq = 0

    def _file(self, path: str, kind: str) -> _File:
        f = self._files.get(path)
        if f is None:
            f = self._files[path] = _File(kind)
        elif f.kind != kind:
            raise ValueError(f"{path}: mixing {f.kind} and {kind} records")
        return f

    def add_windows(self, path: str, ts: float, document: dict[str, Any]) -> None:
        self._seq += 1
        self._file(path, "windows").records.append((ts, self._seq, document))

    def add_line(self, path: str, ts: float, line: str) -> None:
        self._seq += 1
        self._file(path, "text").records.append((ts, self._seq, line))

    def set_first_record(self, path: str, first: int) -> None:
        """Windows logs do not start at record 1 on a machine that has run for a while."""
        self._file(path, "windows").first_record = first

    def set_frame(
        self,
        path: str,
        header: Callable[[float, float], list[str]],
        footer: Callable[[float, float], list[str]] | None = None,
    ) -> None:
        """Lines written before and after the records, given the first and last record time."""
        f = self._file(path, "text")
        f.header = header
        f.footer = footer

    def counts(self) -> dict[str, int]:
        """Records per file, for the files that have any (only those are written)."""
        return {path: len(f.records) for path, f in sorted(self._files.items()) if f.records}

    def write(self, out_dir: Path) -> list[Path]:
        """Write every file under ``out_dir``; returns the paths written, sorted."""
        written: list[Path] = []
        for rel in sorted(self._files):
            f = self._files[rel]
            if not f.records:
                continue  # a machine with nothing on a channel tonight has no file
            f.records.sort(key=lambda r: (r[0], r[1]))
            target = out_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            first_ts, last_ts = f.records[0][0], f.records[-1][0]
            with target.open("wb") as fh:
                if f.header is not None:
                    fh.write("".join(f"{line}\n" for line in f.header(first_ts, last_ts)).encode())
                if f.kind == "windows":
                    for number, (_, _, doc) in enumerate(f.records, start=f.first_record):
                        doc["Event"]["System"]["EventRecordID"] = number
                        fh.write(orjson.dumps(doc))
                        fh.write(b"\n")
                else:
                    for _, _, line in f.records:
                        fh.write(line.encode())
                        fh.write(b"\n")
                if f.footer is not None:
                    fh.write("".join(f"{line}\n" for line in f.footer(first_ts, last_ts)).encode())
            written.append(target)
        return written
