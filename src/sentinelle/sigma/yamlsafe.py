"""Safe YAML for untrusted rule files: bounded size, bounded node count and depth, no aliases.

PyYAML's safe loader already refuses arbitrary Python objects; on top of it a rule file may not
use anchors or aliases (the "billion laughs" expansion), duplicate mapping keys (ambiguous: YAML
keeps the last one silently), more than ``MAX_NODES`` nodes, ``MAX_DOCUMENTS`` documents or
nesting deeper than ``MAX_DEPTH``, nor integers longer than ``MAX_INTEGER_CHARS`` (a 5,000-digit
number is no event id or count, and Python refuses to print one). The node graph is checked
before any Python object is built, so a hostile file costs at most its parse; a value the safe
constructor cannot build (the date 0000-01-01) is an error at its document, never a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from sentinelle.errors import Location, RuleError
from sentinelle.sigma.files import MAX_RULE_FILE_BYTES

MAX_BYTES = MAX_RULE_FILE_BYTES
MAX_NODES = 100_000
MAX_DEPTH = 64
MAX_DOCUMENTS = 1_000
MAX_INTEGER_CHARS = 64
_INT_TAG = "tag:yaml.org,2002:int"

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """One document of a YAML stream and the 1-based line it starts on."""

    data: Any
    line: int


def load_yaml_documents(text: str | bytes, source: str) -> list[YamlDocument]:
    """Parse every document of ``text``; raise ``RuleError`` with a location on any violation."""
    if len(text) > MAX_BYTES:
        raise RuleError(
            f"file is {len(text)} bytes, more than the {MAX_BYTES} allowed", Location(source)
        )
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise RuleError(
                f"not UTF-8 text ({exc.reason} at byte {exc.start})", Location(source)
            ) from None
    loader = _Loader(text)
    docs: list[YamlDocument] = []
    budget = [MAX_NODES]
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            line = node.start_mark.line + 1
            if len(docs) >= MAX_DOCUMENTS:
                raise RuleError(
                    f"more than {MAX_DOCUMENTS} YAML documents in one file", Location(source, line)
                )
            _check_node(node, source, budget, set(), 0)
            try:
                data = loader.construct_document(node)
            except (ValueError, OverflowError, TypeError) as exc:
                # The safe constructor builds dates, floats and base64 with Python's own types,
                # which raise plain errors on values such as 0000-01-01 or !!float x.
                raise RuleError(f"invalid YAML value: {exc}", Location(source, line)) from None
            docs.append(YamlDocument(data, line))
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        raise RuleError(
            f"invalid YAML: {exc.problem or exc.context}", Location(source, line)
        ) from None
    except yaml.YAMLError as exc:
        raise RuleError(f"invalid YAML: {exc}", Location(source)) from None
    finally:
        loader.dispose()
    return docs


def _check_node(
    node: yaml.Node, source: str, budget: list[int], seen: set[int], depth: int
) -> None:
    line = node.start_mark.line + 1
    if id(node) in seen:
        # The composer hands back the same node object for every alias of an anchor.
        raise RuleError(
            "YAML aliases and anchors are not allowed in rule files", Location(source, line)
        )
    seen.add(id(node))
    budget[0] -= 1
    if budget[0] < 0:
        raise RuleError(f"more than {MAX_NODES} YAML nodes", Location(source, line))
    if depth > MAX_DEPTH:
        raise RuleError(f"YAML nested deeper than {MAX_DEPTH} levels", Location(source, line))
    if node.tag == _INT_TAG and len(node.value) > MAX_INTEGER_CHARS:
        raise RuleError(
            f"a number of {len(node.value)} characters (at most {MAX_INTEGER_CHARS}; quote it "
            "to match it as text)",
            Location(source, line),
        )
    if isinstance(node, yaml.MappingNode):
        keys: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.tag == "tag:yaml.org,2002:merge":
                    raise RuleError(
                        "YAML merge keys (<<) are not allowed",
                        Location(source, key.start_mark.line + 1),
                    )
                if key.value in keys:
                    raise RuleError(
                        f"duplicate key {key.value!r} (YAML would silently keep only the last one)",
                        Location(source, key.start_mark.line + 1),
                    )
                keys.add(key.value)
            _check_node(key, source, budget, seen, depth + 1)
            _check_node(value, source, budget, seen, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _check_node(item, source, budget, seen, depth + 1)


def find_text_line(text: str, needle: str, *, after: int = 1) -> int | None:
    """The 1-based number of the first line at or after ``after`` that holds ``needle``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if number >= after and needle in line:
            return number
    return None
