"""An emulation of what a Timesketch JSONL import demands of each line and of the whole file.

Timesketch reads each line as a JSON object, requires ``message``, ``datetime`` and
``timestamp_desc``, and indexes it into OpenSearch with dynamic mapping, which:

* expands a dotted key (``a.b``) into an object ``a`` holding ``b``, so a line cannot have both
  ``a`` as a value and ``a.b``, nor can two lines of one index disagree on it;
* fixes a field's type from the first value it sees (first seen wins): a later value of
  another kind is refused (a hex string where an integer was mapped);
* caps the number of mapped fields; Timesketch maps each text field with sub-fields, and an
  import of a few hundred distinct keys already fails (google/timesketch#3889).

``check_lines`` applies those rules to a file's lines and returns the refusals, so a test can
say which line broke which rule.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

REQUIRED = ("message", "datetime", "timestamp_desc")
# Mappings an OpenSearch index takes (index.mapping.total_fields.limit, Timesketch's ceiling).
MAPPING_LIMIT = 1000
MAPPINGS_PER_STRING = 3  # the field, its keyword and its second sub-field


class DuplicateKey(ValueError):
    pass


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKey(key)
        out[key] = value
    return out


def _kind(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        kinds = {_kind(v) for v in value} - {None}
        return kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else None)
    return "object"


@dataclass
class ImportState:
    """The index's mapping as lines arrive: field path -> type."""

    mapping: dict[str, str] = field(default_factory=dict)
    refusals: list[str] = field(default_factory=list)
    lines: int = 0

    @property
    def mapped_fields(self) -> int:
        return sum(MAPPINGS_PER_STRING if k == "string" else 1 for k in self.mapping.values())

    def add(self, number: int, line: str) -> None:
        self.lines += 1
        try:
            obj = json.loads(line, object_pairs_hook=_unique)
        except DuplicateKey as exc:
            self.refusals.append(f"line {number}: duplicate key {exc}")
            return
        except ValueError as exc:
            self.refusals.append(f"line {number}: not JSON ({exc})")
            return
        if not isinstance(obj, dict):
            self.refusals.append(f"line {number}: not an object")
            return
        for key in REQUIRED:
            if not isinstance(obj.get(key), str) or not obj[key]:
                self.refusals.append(f"line {number}: {key} missing or not a non-empty string")
                return
        try:
            when = datetime.fromisoformat(obj["datetime"])
        except ValueError:
            self.refusals.append(f"line {number}: datetime {obj['datetime']!r} is not ISO 8601")
            return
        if when.tzinfo is None:
            self.refusals.append(f"line {number}: datetime has no time zone")
        if when.year == 1970:
            self.refusals.append(f"line {number}: dated 1970 ({obj['datetime']})")
        if "timestamp" in obj and not isinstance(obj["timestamp"], int):
            self.refusals.append(f"line {number}: timestamp is not an integer")
        leaves = self._expand(number, obj)
        if leaves is None:
            return
        for path, value in leaves:
            kind = _kind(value)
            if kind is None:
                continue
            if kind == "mixed":
                self.refusals.append(f"line {number}: {path} mixes types in one array")
                continue
            seen = self.mapping.setdefault(path, kind)
            if seen != kind:
                self.refusals.append(f"line {number}: {path} is {kind}, mapped as {seen}")
        if self.mapped_fields > MAPPING_LIMIT:
            self.refusals.append(
                f"line {number}: {len(self.mapping)} fields ({self.mapped_fields} mappings) "
                f"pass the limit of {MAPPING_LIMIT}"
            )

    def _expand(self, number: int, obj: dict[str, Any]) -> list[tuple[str, Any]] | None:
        """The leaf paths of ``obj`` after dotted keys are expanded, or None on a conflict."""
        tree: dict[str, Any] = {}
        for key, value in obj.items():
            parts = key.split(".")
            node = tree
            for part in parts[:-1]:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    self.refusals.append(f"line {number}: {key} expands into value {part!r}")
                    return None
                node = child
            if parts[-1] in node:
                self.refusals.append(f"line {number}: {key} collides with another key")
                return None
            node[parts[-1]] = value
        leaves: list[tuple[str, Any]] = []

        def walk(prefix: str, node: dict[str, Any]) -> None:
            for name, value in node.items():
                path = f"{prefix}.{name}" if prefix else name
                if isinstance(value, dict):
                    if self.mapping.get(path, "object") != "object":
                        self.refusals.append(f"line {number}: {path} is an object, mapped as value")
                        continue
                    self.mapping[path] = "object"
                    walk(path, value)
                else:
                    leaves.append((path, value))

        walk("", tree)
        return leaves


def check_lines(lines: Iterable[str]) -> ImportState:
    state = ImportState()
    for number, line in enumerate(lines, start=1):
        if line.strip():
            state.add(number, line)
    return state
