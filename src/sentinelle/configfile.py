"""YAML settings files into frozen dataclasses, every error with its file and line.

Two configurations share this loader: the network detectors' thresholds
(``sentinelle.network.config``) and ``sentinelle serve``'s (``sentinelle.service.config``). A
file lists only what it changes; the dataclass's defaults fill the rest. The loader walks
PyYAML's node tree (not the loaded values) so that every error can name the line of the key
or value at fault: an unknown key, a key given twice, a wrong type, a negative or NaN number.

Each caller adds its own rules through :class:`Checks`: which numbers may be zero, and a hook
that sees every value once it is typed (a time zone, a network, an upper bound).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sentinelle.errors import ConfigError, Location

# key (the field's name), value (typed), name (dotted, for messages), where (file and line)
ValueCheck = Callable[[str, Any, str, Location], None]


@dataclass(frozen=True, slots=True)
class Checks:
    """A configuration's own rules on top of the types: numbers are positive, except those
    named in ``may_be_zero``; ``value`` sees every typed value and raises ConfigError."""

    may_be_zero: frozenset[str] = frozenset()
    value: ValueCheck | None = None


def node_line(node: yaml.Node) -> int:
    """The 1-based line a node starts on."""
    return int(node.start_mark.line) + 1


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", Location(str(path))) from exc


def compose(text: str, source: str) -> yaml.Node | None:
    """The file's node tree (None when empty); malformed YAML is a ConfigError with its line."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(
            f"not valid YAML: {getattr(exc, 'problem', exc)}", Location(source, line)
        ) from exc


def build_section(
    cls: type[Any], node: yaml.Node, source: str, prefix: str = "", checks: Checks = Checks()
) -> Any:
    """An instance of the dataclass ``cls`` from a mapping node: the keys it gives over the
    defaults; nested dataclasses from nested mappings (``prefix`` names where we are)."""
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(
            f"{prefix.rstrip('.') or 'top level'}: expected a mapping",
            Location(source, node_line(node)),
        )
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value)
        name = f"{prefix}{key}"
        where = Location(source, node_line(key_node))
        if key not in known:
            raise ConfigError(
                f"unknown setting {name!r} (known: {', '.join(sorted(known))})", where
            )
        if key in values:
            raise ConfigError(f"setting {name!r} given twice", where)
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            values[key] = build_section(
                typing.cast(type[Any], hint), value_node, source, f"{name}.", checks
            )
        else:
            values[key] = _scalar(hint, key, value_node, source, name, checks)
    try:
        return cls(**values)
    except ConfigError as exc:  # the dataclass's own checks (__post_init__): point at the section
        raise ConfigError(exc.message, Location(source, node_line(node))) from None


def _scalar(hint: Any, key: str, node: yaml.Node, source: str, name: str, checks: Checks) -> Any:
    where = Location(source, node_line(node))
    value = _typed(hint, node, name, where)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and (
        math.isnan(value) or value < 0 or (value == 0 and key not in checks.may_be_zero)
    ):
        raise ConfigError(
            f"{name}: must be {'>= 0' if key in checks.may_be_zero else '> 0'}", where
        )
    if checks.value is not None:
        checks.value(key, value, name, where)
    return value


def _typed(hint: Any, node: yaml.Node, name: str, where: Location) -> Any:
    if hint == tuple[str, ...]:
        if not isinstance(node, yaml.SequenceNode) or not all(
            isinstance(item, yaml.ScalarNode) for item in node.value
        ):
            raise ConfigError(f"{name}: expected a list of strings", where)
        return tuple(str(item.value) for item in node.value)
    if not isinstance(node, yaml.ScalarNode):
        raise ConfigError(f"{name}: expected a single value", where)
    value = yaml.safe_load(yaml.serialize(node))
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name}: expected text, got {node.value!r}", where)
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name}: expected true or false, got {node.value!r}", where)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name}: expected a whole number, got {node.value!r}", where)
        return value
    if hint is float:
        if isinstance(value, str):
            # YAML 1.1 reads 1e9 or 1.0e12 (no sign in the exponent) as text.
            with contextlib.suppress(ValueError):
                value = float(value.replace("_", ""))
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{name}: expected a number, got {node.value!r}", where)
        return float(value)
    raise ConfigError(f"{name}: unsupported setting type {hint!r}", where)


def plain(value: Any) -> Any:
    """A configuration as plain YAML-ready values (dataclasses as mappings, tuples as lists)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    return value
