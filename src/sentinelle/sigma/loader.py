"""Reading Sigma rule files (rules, filters, correlations) with pySigma into a ``RuleSet``.

Loading never stops at a bad file: every problem becomes a ``RuleError`` with ``file:line`` and
the rest of the set loads. YAML is parsed by ``yamlsafe`` (limits, no aliases) and the parsed
documents are handed to pySigma, so there is no second Sigma parser here; correlation documents
go through ``parse_correlation``, which lets pySigma validate them but keeps the exact condition
bounds (ranges, fractions) pySigma's model would refuse or truncate.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.filters import SigmaFilter
from sigma.modifiers import SigmaWideModifier, modifier_mapping
from sigma.rule import SigmaRule

from sentinelle.errors import Location, RuleError
from sentinelle.sigma.files import rule_files
from sentinelle.sigma.yamlsafe import find_text_line, load_yaml_documents

# Sigma 2 names UTF-16LE both `wide` and `utf16le`; pySigma 1.x knows only the first.
modifier_mapping.setdefault("utf16le", SigmaWideModifier)


@dataclass(slots=True)
class RuleSet:
    """Everything read from a set of rule files.

    ``rules`` are the single-event detection rules with the filters that name them already
    applied; ``filters`` and ``correlations`` are pySigma objects; ``files`` maps each file read to
    its content (the cache key); ``errors`` lists what could not be loaded.
    """

    rules: list[SigmaRule] = field(default_factory=list)
    filters: list[SigmaFilter] = field(default_factory=list)
    correlations: list[SigmaCorrelationRule] = field(default_factory=list)
    errors: list[RuleError] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    lines: dict[int, int] = field(default_factory=dict)  # id(rule object) -> 1-based line


def load_rules(paths: Sequence[str | Path], on_file: Callable[[], None] | None = None) -> RuleSet:
    """Load every rule, filter and correlation under ``paths`` (files or directories);
    ``on_file`` is called after each file (progress)."""
    files, errors = rule_files(paths)
    ruleset = RuleSet(errors=errors)
    for path in files:
        _load_file(path, ruleset)
        if on_file is not None:
            on_file()
    _apply_filters(ruleset)
    _resolve_correlations(ruleset)
    return ruleset


def _load_file(path: Path, ruleset: RuleSet) -> None:
    # Imported here: the engine package imports this module when it is first loaded.
    from sentinelle.engine.correlation.model import parse_correlation

    source = str(path)
    try:
        content = path.read_bytes()
    except OSError as exc:
        ruleset.errors.append(RuleError(f"cannot read: {exc.strerror}", Location(source)))
        return
    ruleset.files[source] = content
    try:
        docs = load_yaml_documents(content, source)
    except RuleError as exc:
        ruleset.errors.append(exc)
        return
    bad = [d for d in docs if d.data is not None and not isinstance(d.data, dict)]
    if bad:
        ruleset.errors.append(
            RuleError("a rule document must be a YAML mapping", Location(source, bad[0].line))
        )
        return
    docs = [d for d in docs if d.data is not None]
    # Rule collections with global/repeat actions merge documents: items no longer line up
    # with documents, so every item points at the first line and pySigma reads them all.
    merged = any("action" in d.data for d in docs)
    lines = [1] * len(docs) if merged else [d.line for d in docs]
    # Correlations go through parse_correlation, which keeps the exact bounds (ranges,
    # fractions) pySigma's model cannot hold; pySigma would refuse a range for the whole file.
    exact = [not merged and "correlation" in d.data for d in docs]
    try:
        collection = SigmaCollection.from_dicts(
            [d.data for d, own in zip(docs, exact, strict=True) if not own],
            collect_errors=True,
            source=SigmaRuleLocation(path),
            collect_filters=True,
            resolve_references=False,
        )
    except SigmaError as exc:  # collection-level problems pySigma raises despite collect_errors
        ruleset.errors.append(_rule_error(exc, source, lines[0] if lines else 1))
        return
    items: list[SigmaRule | SigmaCorrelationRule | SigmaFilter] = [
        *collection.rules,
        *collection.filters,
    ]
    for err in collection.errors:
        if not any(err in getattr(i, "errors", ()) for i in items):
            ruleset.errors.append(_rule_error(err, source, lines[0] if lines else 1))
    from_pysigma = _in_document_order(
        collection, [d for d, own in zip(docs, exact, strict=True) if not own]
    )
    for doc, line, own in zip(docs, lines, exact, strict=True):
        if own:
            try:
                item: SigmaRule | SigmaCorrelationRule | SigmaFilter = parse_correlation(
                    doc.data, SigmaRuleLocation(path, line)
                )
            except RuleError as exc:
                ruleset.errors.append(exc)
                continue
        elif _skipped(doc.data):
            continue
        else:
            found = next(from_pysigma, None)
            if found is None:
                break
            item = found
        if item.errors:
            for err in item.errors:
                ruleset.errors.append(_rule_error(err, source, line, content))
            continue
        ruleset.lines[id(item)] = line
        if isinstance(item, SigmaCorrelationRule):
            ruleset.correlations.append(item)
        elif isinstance(item, SigmaFilter):
            ruleset.filters.append(item)
        else:
            ruleset.rules.append(item)


def _skipped(data: object) -> bool:
    """Action documents (``global``, ``reset``) give no item of their own."""
    return isinstance(data, dict) and data.get("action") in ("global", "reset")


def _in_document_order(
    collection: SigmaCollection, docs: Sequence[object]
) -> Iterator[SigmaRule | SigmaCorrelationRule | SigmaFilter]:
    """pySigma keeps rules and filters in two lists; give them back in file order."""
    rules = iter(collection.rules)
    filters = iter(collection.filters)
    for doc in docs:
        data = getattr(doc, "data", {})
        if _skipped(data):
            continue
        item = (
            next(filters, None)
            if isinstance(data, dict) and "filter" in data
            else next(rules, None)
        )
        if item is None:
            return
        yield item


_MODIFIER_RE = re.compile(r"[Uu]nknown modifier '([^']+)'")


def _rule_error(exc: SigmaError, source: str, line: int, content: bytes = b"") -> RuleError:
    text = str(exc)
    # pySigma appends its own location as " in <path>"; ours is in front already.
    text = text.split(" in " + source, maxsplit=1)[0] if source in text else text
    # pySigma gives no line; for an unknown modifier the offending key is easy to find.
    found = _MODIFIER_RE.search(text)
    if found and content:
        at = find_text_line(content.decode("utf-8", "replace"), "|" + found.group(1), after=line)
        line = at or line
    return RuleError(text, Location(source, line))


def location_of(ruleset: RuleSet, item: SigmaRule | SigmaCorrelationRule | SigmaFilter) -> Location:
    path = (
        str(item.source.path)
        if item.source is not None and item.source.path is not None
        else "<rules>"
    )
    return Location(path, ruleset.lines.get(id(item)))


def _apply_filters(ruleset: RuleSet) -> None:
    """Apply each Sigma filter to the rules it names (pySigma adds ``and not filter``)."""
    for flt in ruleset.filters:
        for rule in ruleset.rules:
            try:
                flt.apply_on_rule(rule)
            except SigmaError as exc:
                ruleset.errors.append(_rule_error(exc, *_src(ruleset, flt)))


def _src(ruleset: RuleSet, item: SigmaRule | SigmaCorrelationRule | SigmaFilter) -> tuple[str, int]:
    loc = location_of(ruleset, item)
    return loc.source, loc.line or 1


def _resolve_correlations(ruleset: RuleSet) -> None:
    """Point every correlation at the rules it references; drop the ones that name unknown rules."""
    collection = SigmaCollection(
        [*ruleset.rules, *ruleset.correlations],
        resolve_references=False,
    )
    kept: list[SigmaCorrelationRule] = []
    for corr in ruleset.correlations:
        try:
            corr.resolve_rule_references(collection)
        except SigmaError as exc:
            ruleset.errors.append(_rule_error(exc, *_src(ruleset, corr)))
            continue
        kept.append(corr)
    ruleset.correlations = kept
