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
from typing import Any

from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.filters import SigmaFilter
from sigma.rule import SigmaRule

from sentinelle.errors import Location, RuleError
from sentinelle.sigma.bounds import check_document
from sentinelle.sigma.files import read_rule_file, rule_files
from sentinelle.sigma.modifiers import sentinelle_modifiers
from sentinelle.sigma.yamlsafe import YamlDocument, find_text_line, load_yaml_documents


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
    stopped: RuleError | None = None  # why the files left were not read (``max_rules``)

    @property
    def count(self) -> int:
        """Rules, filters and correlations loaded."""
        return len(self.rules) + len(self.filters) + len(self.correlations)


def load_rules(
    paths: Sequence[str | Path],
    on_file: Callable[[], None] | None = None,
    *,
    max_rules: int | None = None,
) -> RuleSet:
    """Load every rule, filter and correlation under ``paths`` (files or directories);
    ``on_file`` is called after each file (progress). Past ``max_rules`` items the files left
    are not read: ``stopped`` says so (a package of rules is refused then)."""
    files, errors = rule_files(paths)
    ruleset = RuleSet(errors=errors)
    for path in files:
        _load_file(path, ruleset)
        if on_file is not None:
            on_file()
        if max_rules is not None and ruleset.count > max_rules:
            ruleset.stopped = RuleError(
                f"more than {max_rules} rules: the rule files after this one were not read",
                Location(str(path)),
            )
            ruleset.errors.append(ruleset.stopped)
            break
    _apply_filters(ruleset)
    _resolve_correlations(ruleset)
    return ruleset


def _load_file(path: Path, ruleset: RuleSet) -> None:
    source = str(path)
    try:
        content = read_rule_file(path)
    except RuleError as exc:
        ruleset.errors.append(exc)
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
    if any("action" in d.data for d in docs):
        # Rule collections with global/repeat actions merge documents: items no longer line
        # up with documents, so pySigma reads them all at once and every item points at the
        # first line.
        if not any(_out_of_bounds(d, source, content, ruleset) for d in docs):
            for item in _read_with_pysigma([d.data for d in docs], path, 1, ruleset, content):
                _keep(item, source, 1, ruleset, content)
        return
    for doc in docs:
        if _out_of_bounds(doc, source, content, ruleset):
            continue
        if "correlation" in doc.data:
            corr = _read_correlation(doc, path, ruleset)
            if corr is not None:
                _keep(corr, source, doc.line, ruleset, content)
            continue
        # One document at a time: whatever pySigma raises on one costs that rule only.
        for item in _read_with_pysigma([doc.data], path, doc.line, ruleset, content):
            _keep(item, source, doc.line, ruleset, content)


def _out_of_bounds(doc: YamlDocument, source: str, content: bytes, ruleset: RuleSet) -> bool:
    """Refuse (and report) a document past the bounds pySigma is safe within."""
    found = check_document(doc.data)
    if found is None:
        return False
    text = content.decode("utf-8", "replace")
    line = find_text_line(text, found.needle, after=doc.line) or doc.line
    ruleset.errors.append(RuleError(f"rule refused: {found.reason}", Location(source, line)))
    return True


def _read_correlation(
    doc: YamlDocument, path: Path, ruleset: RuleSet
) -> SigmaCorrelationRule | None:
    """Correlations go through ``parse_correlation``, which keeps the exact bounds (ranges,
    fractions) pySigma's model cannot hold; pySigma would refuse a range for the whole file."""
    # Imported here: the engine package imports this module when it is first loaded.
    from sentinelle.engine.correlation.model import parse_correlation

    try:
        parsed: SigmaCorrelationRule = parse_correlation(
            doc.data, SigmaRuleLocation(path, doc.line)
        )
        return parsed
    except RuleError as exc:
        ruleset.errors.append(exc)
    except RecursionError:
        ruleset.errors.append(_too_deep(str(path), doc.line))
    except Exception as exc:  # noqa: BLE001 - a rule document's boundary, see _read_with_pysigma
        ruleset.errors.append(_unreadable(exc, str(path), doc.line))
    return None


def _read_with_pysigma(
    dicts: list[dict[str, Any]], path: Path, line: int, ruleset: RuleSet, content: bytes
) -> list[SigmaRule | SigmaCorrelationRule | SigmaFilter]:
    """The rules and filters pySigma reads from ``dicts`` (documents of one file), in order.

    A document is untrusted input to pySigma: besides its own errors it can raise anything a
    hostile value provokes in the libraries under it. That is caught here, at the boundary of
    the document, and reported at its line; the other documents and files still load.
    """
    source = str(path)
    try:
        with sentinelle_modifiers():  # utf16le, and a windash linear in the value's length
            collection = SigmaCollection.from_dicts(
                dicts,
                collect_errors=True,
                source=SigmaRuleLocation(path),
                collect_filters=True,
                resolve_references=False,
            )
    except SigmaError as exc:  # collection-level problems pySigma raises despite collect_errors
        ruleset.errors.append(_rule_error(exc, source, line))
        return []
    except RecursionError:
        ruleset.errors.append(_too_deep(source, line))
        return []
    except Exception as exc:  # noqa: BLE001 - a rule document's boundary, see above
        ruleset.errors.append(_unreadable(exc, source, line))
        return []
    items: list[SigmaRule | SigmaCorrelationRule | SigmaFilter] = [
        *collection.rules,
        *collection.filters,
    ]
    for err in collection.errors:
        if not any(err in getattr(i, "errors", ()) for i in items):
            ruleset.errors.append(_rule_error(err, source, line, content))
    return list(_in_document_order(collection, dicts))


def _unreadable(exc: Exception, source: str, line: int) -> RuleError:
    return RuleError(
        f"pySigma cannot read this rule: {type(exc).__name__}: {exc}", Location(source, line)
    )


def _too_deep(source: str, line: int) -> RuleError:
    return RuleError("rule refused: nested too deeply to be read", Location(source, line))


def _keep(
    item: SigmaRule | SigmaCorrelationRule | SigmaFilter,
    source: str,
    line: int,
    ruleset: RuleSet,
    content: bytes,
) -> None:
    if item.errors:
        for err in item.errors:
            ruleset.errors.append(_rule_error(err, source, line, content))
        return
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
    collection: SigmaCollection, docs: Sequence[dict[str, Any]]
) -> Iterator[SigmaRule | SigmaCorrelationRule | SigmaFilter]:
    """pySigma keeps rules and filters in two lists; give them back in file order."""
    rules = iter(collection.rules)
    filters = iter(collection.filters)
    for data in docs:
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
            except Exception as exc:  # noqa: BLE001 - one filter's boundary, as for documents
                ruleset.errors.append(_unreadable(exc, *_src(ruleset, flt)))


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
        except Exception as exc:  # noqa: BLE001 - one correlation's boundary (an empty reference)
            ruleset.errors.append(_unreadable(exc, *_src(ruleset, corr)))
            continue
        kept.append(corr)
    ruleset.correlations = kept
