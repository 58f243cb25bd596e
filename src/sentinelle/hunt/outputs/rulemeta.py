"""What a timeline says about the rule behind a detection: its file, author, dates, status.

The engine keeps only what matching needs, so the rule's other header fields are read from its
file when a column first asks for them, once per rule file (a hunt's detections come from a
few hundred rules at most). A file that is gone, too large or not YAML gives empty cells, not
an error: the timeline is already written around it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# Rule files are a few kB; the rule loader refuses far smaller ones than this.
_MAX_FILE = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RuleMeta:
    path: str = ""
    author: str = ""
    date: str = ""
    modified: str = ""
    status: str = ""

    @property
    def file_name(self) -> str:
        return Path(self.path).name if self.path else ""


def _text(value: Any) -> str:
    if value is None:
        return ""
    return str(value).replace("-", "/") if hasattr(value, "isoformat") else str(value)


def _read(path: str) -> dict[str, dict[str, Any]]:
    """The header of every rule document in ``path``, by rule id."""
    try:
        file = Path(path)
        if file.stat().st_size > _MAX_FILE:
            return {}
        docs = list(yaml.safe_load_all(file.read_text(encoding="utf-8", errors="replace")))
    except (OSError, yaml.YAMLError, ValueError, RecursionError):
        return {}
    found: dict[str, dict[str, Any]] = {}
    for doc in docs:
        if isinstance(doc, dict) and isinstance(doc.get("id"), str):
            found[doc["id"]] = doc
    return found


class RuleCatalog:
    """Rule ids to their files, and their header fields read on first use."""

    def __init__(self, rule_files: Mapping[str, str] | None = None) -> None:
        self._files = dict(rule_files or {})
        self._read: dict[str, dict[str, dict[str, Any]]] = {}
        self._meta: dict[str, RuleMeta] = {}

    def path(self, rule_id: str) -> str:
        return self._files.get(rule_id, "")

    def meta(self, rule_id: str) -> RuleMeta:
        known = self._meta.get(rule_id)
        if known is not None:
            return known
        path = self._files.get(rule_id, "")
        header: dict[str, Any] = {}
        if path:
            if path not in self._read:
                self._read[path] = _read(path)
            header = self._read[path].get(rule_id, {})
        meta = RuleMeta(
            path=path,
            author=_text(header.get("author")),
            date=_text(header.get("date")),
            modified=_text(header.get("modified")),
            status=_text(header.get("status")),
        )
        self._meta[rule_id] = meta
        return meta
