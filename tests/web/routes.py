"""The route table, walked: every URL pattern with its name, view and a way to fill it in."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver


@dataclass(frozen=True, slots=True)
class Route:
    name: str  # "namespace:name" (or the pattern when unnamed)
    pattern: str
    callback: Any
    arguments: tuple[str, ...]  # the URL's keyword arguments


def walk(
    patterns: list[URLPattern | URLResolver] | None = None, namespace: str = "", prefix: str = ""
) -> Iterator[Route]:
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            space = namespace
            if entry.namespace:
                space = f"{namespace}{entry.namespace}:"
            yield from walk(entry.url_patterns, space, prefix + str(entry.pattern))
        else:
            full = prefix + str(entry.pattern)
            name = f"{namespace}{entry.name}" if entry.name else full
            converters = getattr(entry.pattern, "converters", {})
            yield Route(name, full, entry.callback, tuple(converters))
