"""Reading a hostile YAML file as a tree of nodes that remember their line.

The hospital model is written by people and may come from anywhere, so it is composed (never
constructed) with PyYAML's ``SafeLoader``: no Python objects, no aliases (they allow "billion
laughs" blow-ups and make the error locations ambiguous), a bounded size, depth and node count.
Values are then read through :class:`Reader`, which records every problem with its ``file:line``
and lets the caller go on, so one run reports every mistake in the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from sentinelle.errors import ConfigError, Location

MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 32
MAX_NODES = 500_000

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_FLOAT = "tag:yaml.org,2002:float"
_PLAIN_TAGS = frozenset(
    {
        _STR,
        _INT,
        _BOOL,
        _NULL,
        _FLOAT,
        "tag:yaml.org,2002:seq",
        "tag:yaml.org,2002:map",
    }
)


class _Refused(Exception):
    """Raised inside the composer; turned into a located ConfigError by :func:`compose_file`."""

    def __init__(self, message: str, mark: yaml.Mark | None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


class _GuardedLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases and bounds the depth and number of nodes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def _mark(self) -> yaml.Mark | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        mark: yaml.Mark | None = getattr(event, "start_mark", None)
        return mark

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            raise _Refused("YAML aliases (*name) are not allowed here", self._mark())
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _Refused(f"more than {MAX_NODES} YAML nodes", self._mark())
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(f"nested deeper than {MAX_DEPTH} levels", self._mark())
            node: yaml.Node | None = super().compose_node(parent, index)
            return node
        finally:
            self._depth -= 1


def _line(mark: yaml.Mark | None) -> int | None:
    return None if mark is None else mark.line + 1


def compose_file(path: Path) -> yaml.Node | None:
    """The node tree of a one-document YAML file (None when empty); ConfigError when unreadable."""
    source = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ConfigError(f"file is {size} bytes, more than {MAX_BYTES}", Location(source))
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", Location(source)) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError("not valid UTF-8", Location(source, line)) from exc
    loader: _GuardedLoader | None = None
    try:
        loader = _GuardedLoader(text)  # its reader already refuses control characters
        return loader.get_single_node()
    except _Refused as exc:
        raise ConfigError(exc.message, Location(source, _line(exc.mark))) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise ConfigError(f"invalid YAML: {reason}", Location(source, _line(mark))) from exc
    except yaml.reader.ReaderError as exc:  # a control character: no mark, but a position
        line = text[: exc.position].count("\n") + 1
        reason = f"character U+{exc.character:04X} is not allowed in YAML"
        raise ConfigError(reason, Location(source, line)) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", Location(source)) from exc
    finally:
        if loader is not None:
            loader.dispose()


class Reader:
    """Typed access to YAML nodes; every mistake is recorded in ``problems`` with its line.

    Each ``want_*`` method returns None (after recording why) when the node is not of the wanted
    shape, so callers skip that field and keep validating the rest of the file.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[ConfigError] = []

    def at(self, node: yaml.Node | None) -> Location:
        return Location(self.source, None if node is None else _line(node.start_mark))

    def problem(self, node: yaml.Node | None, message: str) -> None:
        self.problems.append(ConfigError(message, self.at(node)))

    def mapping(self, node: yaml.Node, what: str) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        """A mapping with string keys, as ``key -> (key node, value node)``; duplicates refused."""
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{what} must be a mapping, not {_kind(node)}")
            return None
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.problem(key_node, "YAML merge keys (<<) are not allowed here")
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR:
                self.problem(key_node, f"keys of {what} must be plain strings")
                continue
            key = str(key_node.value)
            if key in out:
                first = _line(out[key][0].start_mark)
                self.problem(key_node, f"duplicate key {key!r} in {what} (first at line {first})")
                continue
            out[key] = (key_node, value_node)
        return out

    def fields(
        self,
        node: yaml.Node,
        what: str,
        required: tuple[str, ...],
        optional: tuple[str, ...],
    ) -> dict[str, yaml.Node] | None:
        """A mapping whose keys are checked against the known ones (typos are errors)."""
        items = self.mapping(node, what)
        if items is None:
            return None
        known = set(required) | set(optional)
        for key, (key_node, _) in items.items():
            if key not in known:
                hint = ", ".join(sorted(known))
                self.problem(key_node, f"unknown field {key!r} in {what} (known: {hint})")
        for key in required:
            if key not in items:
                self.problem(node, f"{what} has no {key!r}")
        return {k: v for k, (_, v) in items.items() if k in known}

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node] | None:
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, f"{what} must be a list, not {_kind(node)}")
            return None
        return list(node.value)

    def string(self, node: yaml.Node, what: str, *, max_len: int = 4096) -> str | None:
        # Numbers are accepted as text (a phone extension, a site code "44") but not null/bools,
        # which are nearly always a mistake in a string field.
        if not isinstance(node, yaml.ScalarNode) or node.tag not in (_STR, _INT, _FLOAT):
            self.problem(node, f"{what} must be a text value, not {_kind(node)}")
            return None
        text = str(node.value).strip()
        if not text:
            self.problem(node, f"{what} is empty")
            return None
        if len(text) > max_len:
            self.problem(node, f"{what} is longer than {max_len} characters")
            return None
        return text

    def integer(self, node: yaml.Node, what: str, *, minimum: int = 0) -> int | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag != _INT:
            self.problem(node, f"{what} must be a whole number, not {_kind(node)}")
            return None
        try:
            value = int(str(node.value).replace("_", ""), 0)
        except ValueError:
            self.problem(node, f"{what} is not a number: {node.value!r}")
            return None
        if value < minimum:
            self.problem(node, f"{what} must be at least {minimum}")
            return None
        return value

    def boolean(self, node: yaml.Node, what: str) -> bool | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag != _BOOL:
            self.problem(node, f"{what} must be true or false, not {_kind(node)}")
            return None
        return str(node.value).lower() in ("true", "yes", "on")

    def strings(self, node: yaml.Node, what: str) -> list[tuple[str, yaml.Node]]:
        """A list of text values, each with its node (for later, located, checks)."""
        items = self.sequence(node, what)
        if items is None:
            return []
        out: list[tuple[str, yaml.Node]] = []
        for item in items:
            text = self.string(item, f"an item of {what}")
            if text is not None:
                out.append((text, item))
        return out

    def check_tags(self, node: yaml.Node) -> None:
        """Refuse explicit tags (``!!python/...``, ``!custom``) anywhere under ``node``."""
        for sub in _walk(node):
            if sub.tag not in _PLAIN_TAGS:
                self.problem(sub, f"YAML tag {sub.tag!r} is not allowed here")


def _walk(node: yaml.Node) -> Iterator[yaml.Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
        elif isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                stack.extend((key, value))


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == _NULL:
        return "empty"
    if node.tag == _BOOL:
        return f"the boolean {node.value}"
    return f"{node.value!r}"
