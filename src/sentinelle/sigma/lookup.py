"""Finding a rule's file by its id, for pages that show the rule behind a detection.

Reading every rule with pySigma to learn its id would cost seconds; the id is a top-level
``id:`` line in a Sigma file, so one pass over the files' text builds the index, kept until a
folder of the set changes (its modification time). The file found is read again and its YAML
checked to carry the id, so an ``id:`` inside a block scalar never misleads.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from sentinelle.sigma.files import rule_files

_ID_LINE = re.compile(rb"^id:[ \t]*['\"]?([^'\"\s#]+)", re.MULTILINE)
MAX_RULE_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class RuleSource:
    path: Path
    text: str


class RuleIndex:
    """Rule id -> file over some rule paths (files or folders), rebuilt when they change."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = [Path(p) for p in paths]
        self._lock = threading.Lock()
        self._stamp: tuple[float, ...] | None = None
        self._index: dict[str, Path] = {}

    def _current_stamp(self) -> tuple[float, ...]:
        stamps: list[float] = []
        for path in self.paths:
            try:
                stamps.append(path.stat().st_mtime)
            except OSError:
                stamps.append(-1.0)
            if path.is_dir():
                stamps.extend(d.stat().st_mtime for d in path.rglob("*") if d.is_dir())
        return tuple(stamps)

    def _build(self) -> dict[str, Path]:
        index: dict[str, Path] = {}
        files, _errors = rule_files(self.paths)
        for file in files:
            try:
                with file.open("rb") as handle:
                    data = handle.read(MAX_RULE_BYTES)
            except OSError:
                continue
            for match in _ID_LINE.finditer(data):
                index.setdefault(match.group(1).decode("utf-8", "replace"), file)
        return index

    def find(self, rule_id: str) -> RuleSource | None:
        """The file of the rule with this id and its text, or None."""
        if not rule_id:
            return None
        with self._lock:
            stamp = self._current_stamp()
            if stamp != self._stamp:
                self._index = self._build()
                self._stamp = stamp
            path = self._index.get(rule_id)
        if path is None:
            return None
        try:
            text = path.read_bytes()[:MAX_RULE_BYTES].decode("utf-8", "replace")
        except OSError:
            return None
        try:
            documents = list(yaml.safe_load_all(text))
        except yaml.YAMLError:
            return None
        if not any(isinstance(d, dict) and str(d.get("id")) == rule_id for d in documents):
            return None
        return RuleSource(path, text)
