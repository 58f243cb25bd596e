"""Reading a hostile YAML file as a tree of nodes that remember their line.

The hospital model is written by people and may come from anywhere, so it is composed (never
constructed) with PyYAML's ``SafeLoader``: no Python objects, no aliases (they allow "billion
laughs" blow-ups and make the error locations ambiguous), a bounded size, depth and node count.
Values are then read through :class:`Reader`, which records every problem with its ``file:line``
and lets the caller go on, so one run reports every mistake in the file.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    """Raised while composing; turned into a located ConfigError by :func:`compose_file`."""

    def __init__(self, message: str, mark: yaml.Mark | None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


# libyaml scans and parses in C (ten times faster than PyYAML's Python scanner, which made a
# 2 MB model take seconds); its absence only costs speed.
_PARSER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()


@dataclass(slots=True)
class Document:
    """A composed file: its root node (None when empty) and the nodes whose tag is not plain
    (explicit ``!tags``, timestamps), which :meth:`Reader.check_tags` refuses."""

    root: yaml.Node | None
    tagged: list[yaml.Node]


def _compose(data: bytes) -> Document:
    """The node tree of one YAML document, built from the parser's events without recursion.

    PyYAML's own composer recurses and cannot be bounded from outside when libyaml runs it, so
    the tree is built here: aliases are refused, and the depth and the number of nodes are
    counted as the events come, so a hostile file is refused before it costs memory.
    """
    scalar_event, alias_event = yaml.ScalarEvent, yaml.AliasEvent
    mapping_start, sequence_start = yaml.MappingStartEvent, yaml.SequenceStartEvent
    closing = (yaml.SequenceEndEvent, yaml.MappingEndEvent)
    scalar_node, sequence_node, mapping_node = yaml.ScalarNode, yaml.SequenceNode, yaml.MappingNode
    resolve: Any = _RESOLVER.resolve  # untyped in PyYAML's stubs
    plain_tags: dict[str, str] = {}  # what a plain scalar resolves to: values repeat a lot
    # The open collections: their value lists, and for mappings the key waiting for its value.
    items: list[list[Any]] = []
    nodes: list[yaml.Node] = []
    keys: list[yaml.Node | None] = []
    maps: list[bool] = []
    root: yaml.Node | None = None
    tagged: list[yaml.Node] = []
    documents = count = 0
    parser = _PARSER(data)
    try:
        while parser.check_event():
            event = parser.get_event()
            kind = type(event)
            node: yaml.Node
            if kind is scalar_event:
                tag = event.tag
                if tag is None or tag == "!":
                    value = event.value
                    if event.implicit[0]:
                        tag = plain_tags.get(value)
                        if tag is None:
                            tag = resolve(scalar_node, value, event.implicit)
                            if len(plain_tags) < 65_536:
                                plain_tags[value] = tag
                    else:
                        tag = resolve(scalar_node, value, event.implicit)
                node = scalar_node(tag, event.value, event.start_mark, event.end_mark, event.style)
            elif kind is mapping_start or kind is sequence_start:
                if len(nodes) >= MAX_DEPTH:
                    raise _Refused(f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
                cls = mapping_node if kind is mapping_start else sequence_node
                tag = event.tag
                if tag is None or tag == "!":
                    tag = resolve(cls, None, event.implicit)
                node = cls(tag, [], event.start_mark, None, flow_style=event.flow_style)
            elif kind in closing:
                nodes.pop().end_mark = event.end_mark
                items.pop()
                keys.pop()
                maps.pop()
                continue
            elif kind is alias_event:
                raise _Refused("YAML aliases (*name) are not allowed here", event.start_mark)
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise _Refused("expected a single document in the file", event.start_mark)
                continue
            else:  # stream start and end, document end
                continue
            count += 1
            if count > MAX_NODES:
                raise _Refused(f"more than {MAX_NODES} YAML nodes", event.start_mark)
            if tag not in _PLAIN_TAGS:
                tagged.append(node)
            if not nodes:
                root = node
            elif not maps[-1]:
                items[-1].append(node)
            elif keys[-1] is None:
                keys[-1] = node
            else:
                items[-1].append((keys[-1], node))
                keys[-1] = None
            if kind is not scalar_event:
                nodes.append(node)
                items.append(node.value)
                keys.append(None)
                maps.append(kind is mapping_start)
    finally:
        parser.dispose()
    return Document(root, tagged)


def _line(mark: yaml.Mark | None) -> int | None:
    return None if mark is None else mark.line + 1


def compose_file(path: Path) -> Document:
    """The node tree of a one-document YAML file; ConfigError when unreadable or refused."""
    source = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ConfigError(f"file is {size} bytes, more than {MAX_BYTES}", Location(source))
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", Location(source)) from exc
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError("not valid UTF-8", Location(source, line)) from exc
    try:
        return _compose(data)  # the parser refuses control characters
    except _Refused as exc:
        raise ConfigError(exc.message, Location(source, _line(exc.mark))) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise ConfigError(f"invalid YAML: {reason}", Location(source, _line(mark))) from exc
    except yaml.reader.ReaderError as exc:  # a control character: no mark, but a position
        line = data[: exc.position].count(b"\n") + 1
        reason = f"character U+{exc.character:04X} is not allowed in YAML"
        raise ConfigError(reason, Location(source, line)) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", Location(source)) from exc


class Reader:
    """Typed access to YAML nodes; every mistake is recorded in ``problems`` with its line.

    Each ``want_*`` method returns None (after recording why) when the node is not of the wanted
    shape, so callers skip that field and keep validating the rest of the file.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[ConfigError] = []
        self._lines: dict[int | None, Location] = {}  # one per line: a list on one line shares it

    def at(self, node: yaml.Node | None) -> Location:
        line = None if node is None else node.start_mark.line + 1
        found = self._lines.get(line)
        if found is None:
            found = self._lines[line] = Location(self.source, line)
        return found

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

    def check_tags(self, document: Document) -> None:
        """Refuse explicit tags (``!!python/...``, ``!custom``) and timestamps anywhere."""
        for node in document.tagged:
            self.problem(node, f"YAML tag {node.tag!r} is not allowed here")


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
