"""Logsource mapping: which events a rule's logsource means, read from a YAML data file.

The default mapping ships as ``logsources.yml`` next to this module; a user file of the same
shape is read first, so its entries win for the logsources it names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from sentinelle.errors import ConfigError, Location, RuleError
from sentinelle.sigma.files import read_rule_file
from sentinelle.sigma.yamlsafe import load_yaml_documents

# Fields every Windows event carries, whatever its channel (set by the readers from <System>).
COMMON_FIELDS = frozenset(
    {
        "EventID",
        "Channel",
        "Computer",
        "Provider_Name",
        "Provider_Guid",
        "EventRecordID",
        "Level",
        "Task",
        "Opcode",
        "Keywords",
        "Version",
        "TimeCreated",
        "UserID",
    }
)

LogsourceKey = tuple[str | None, str | None, str | None]  # product, category, service


@dataclass(frozen=True, slots=True)
class Source:
    """One place a logsource's events come from, and how rule fields are named there."""

    channel: str | None
    event_ids: tuple[int, ...] = ()
    where: tuple[tuple[str, tuple[str | int, ...]], ...] = ()
    fields: tuple[tuple[str, tuple[str, ...]], ...] = ()  # rule field -> event field(s)
    available: frozenset[str] | None = None  # None: any field may be present

    @property
    def label(self) -> str:
        ids = ",".join(str(i) for i in self.event_ids)
        return f"{self.channel or '*'}" + (f"/{ids}" if ids else "")

    def event_fields(self, rule_field: str) -> tuple[str, ...]:
        """The event field(s) a rule field reads on this source; empty when the source lacks it.

        Several names are alternatives for one field, of which an event has at most one (for
        example ``ThreatName`` and ``Threat Name``, depending on how the log was exported).
        """
        for name, targets in self.fields:
            if name == rule_field:
                return targets
        if self.available is None or rule_field in self.available or rule_field in COMMON_FIELDS:
            return (rule_field,)
        return ()


@dataclass(slots=True)
class LogsourceMap:
    entries: dict[LogsourceKey, tuple[Source, ...]] = field(default_factory=dict)
    origin: list[str] = field(default_factory=list)

    def sources(
        self, product: str | None, category: str | None, service: str | None
    ) -> tuple[Source, ...]:
        """The sources of a logsource; empty when the mapping lacks it (the rule never fires)."""
        key = (_norm(product), _norm(category), _norm(service))
        return self.entries.get(key, ())


def _norm(value: str | None) -> str | None:
    return value.lower() if value else None


def load_logsource_map(extra: Sequence[Path] = ()) -> LogsourceMap:
    """The shipped mapping, with the entries of ``extra`` files taking precedence."""
    mapping = LogsourceMap()
    for path in extra:
        try:
            text = read_rule_file(path)
        except RuleError as exc:
            raise ConfigError(exc.message, exc.location) from None
        _merge(mapping, text, str(path))
    default = resources.files("sentinelle.sigma").joinpath("logsources.yml")
    _merge(mapping, default.read_bytes(), "sentinelle/sigma/logsources.yml")
    return mapping


def default_logsource_text() -> bytes:
    return resources.files("sentinelle.sigma").joinpath("logsources.yml").read_bytes()


def _merge(mapping: LogsourceMap, text: bytes, origin: str) -> None:
    try:
        docs = load_yaml_documents(text, origin)
    except RuleError as exc:
        raise ConfigError(exc.message, exc.location) from None
    if len(docs) != 1 or not isinstance(docs[0].data, Mapping):
        raise ConfigError("a logsource mapping is one YAML mapping", Location(origin, 1))
    data = docs[0].data
    if data.get("version") != 1:
        raise ConfigError(
            "unsupported logsource mapping version (expected `version: 1`)", Location(origin, 1)
        )
    items = data.get("logsources")
    if not isinstance(items, list):
        raise ConfigError("`logsources` must be a list", Location(origin, 1))
    mapping.origin.append(origin)
    for number, item in enumerate(items, start=1):
        where = Location(origin, None, record=number)
        if not isinstance(item, Mapping) or not isinstance(item.get("logsource"), Mapping):
            raise ConfigError("each entry needs a `logsource` mapping", where)
        ls = item["logsource"]
        key = (_norm(ls.get("product")), _norm(ls.get("category")), _norm(ls.get("service")))
        if key in mapping.entries:
            continue  # an earlier (user) file already defines this logsource
        srcs = item.get("sources")
        if not isinstance(srcs, list) or not srcs:
            raise ConfigError("each entry needs a non-empty `sources` list", where)
        mapping.entries[key] = tuple(_source(s, where) for s in srcs)


def _source(raw: Any, where: Location) -> Source:
    if not isinstance(raw, Mapping):
        raise ConfigError("a source is a mapping", where)
    unknown = set(raw) - {"channel", "event_ids", "where", "fields", "available"}
    if unknown:
        raise ConfigError(f"unknown source key(s): {', '.join(sorted(unknown))}", where)
    channel = raw.get("channel")
    if channel is not None and not isinstance(channel, str):
        raise ConfigError("`channel` must be a string", where)
    ids = raw.get("event_ids") or []
    if not isinstance(ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in ids
    ):
        raise ConfigError("`event_ids` must be a list of integers", where)
    cond: list[tuple[str, tuple[str | int, ...]]] = []
    for name, values in (raw.get("where") or {}).items():
        vals = values if isinstance(values, list) else [values]
        if not all(isinstance(v, str | int) for v in vals):
            raise ConfigError(f"`where` values of {name} must be strings or integers", where)
        cond.append((str(name), tuple(vals)))
    renames = raw.get("fields") or {}
    if not isinstance(renames, Mapping) or not all(
        isinstance(v, str) or _str_list(v) for v in renames.values()
    ):
        raise ConfigError("`fields` must map rule field names to event field names", where)
    targets = {str(k): (v,) if isinstance(v, str) else tuple(v) for k, v in renames.items()}
    available = raw.get("available")
    if available is not None and not _str_list(available):
        raise ConfigError("`available` must be a list of field names", where)
    return Source(
        channel=channel,
        event_ids=tuple(ids),
        where=tuple(cond),
        fields=tuple(targets.items()),
        available=None
        if available is None
        else frozenset(available) | {t for v in targets.values() for t in v},
    )


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def describe(keys: Iterable[LogsourceKey]) -> list[str]:
    return [
        " ".join(
            f"{n}={v}" for n, v in zip(("product", "category", "service"), k, strict=True) if v
        )
        for k in keys
    ]
