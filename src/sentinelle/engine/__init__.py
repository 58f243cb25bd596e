"""The Sigma engine: rules compiled once into multi-pattern matchers, plus a reference twin."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from sentinelle.engine.cache import (
    cache_key,
    file_stamp,
    read_entry_and_bytes,
    remember_key,
    remembered_key,
    settled,
    write_entry,
)
from sentinelle.engine.compile import CompiledRules, base_rule_refs
from sentinelle.engine.plan import Plan, RuleInfo, plan_rules
from sentinelle.engine.progress import CompileProgress
from sentinelle.errors import RuleError
from sentinelle.paths import cache_dir as default_cache_dir

if TYPE_CHECKING:
    # The rule loader (and pySigma under it) is imported only where rules are loaded: a hunt
    # whose compiled set comes from the cache needs neither (about 0.1 s of imports).
    from sigma.correlations import SigmaCorrelationRule

    from sentinelle.sigma.loader import RuleSet
    from sentinelle.sigma.logsources import LogsourceMap

__all__ = [
    "CompileProgress",
    "CompiledRules",
    "Plan",
    "RuleError",
    "RuleInfo",
    "compile_paths",
    "compile_rules",
    "load_compiled",
    "remember_compiled",
]


def _mark_suppressed(plan: Plan, correlations: Sequence[SigmaCorrelationRule]) -> None:
    """Flag the rules whose own detections a correlation hides (``generate: false``).

    The correlator decides which rules those are (it also resolves chained correlations), so
    the engine and the correlator can never disagree.
    """
    if not correlations:
        return
    from sentinelle.engine.correlation import Correlator

    hidden = Correlator(correlations, base_rule_refs(plan.rules)).suppressed_rule_ids
    plan.rules = [replace(r, suppressed=True) if r.id in hidden else r for r in plan.rules]


def compile_rules(
    ruleset: RuleSet,
    *,
    logsources: LogsourceMap | None = None,
    placeholders: Mapping[str, Sequence[str]] | None = None,
    reference: bool = False,
    progress: CompileProgress | None = None,
) -> CompiledRules:
    """Compile a loaded rule set. ``reference=True`` selects the plain reference evaluator."""
    from sentinelle.engine.placeholders import load_placeholders
    from sentinelle.sigma.logsources import load_logsource_map

    mapping = logsources if logsources is not None else load_logsource_map()
    values = placeholders if placeholders is not None else load_placeholders()[0]
    plan = plan_rules(ruleset, mapping, values, progress)
    _mark_suppressed(plan, ruleset.correlations)
    return CompiledRules(plan, ruleset.correlations, reference=reference)


def load_compiled(
    paths: Sequence[str | Path],
    *,
    cache_dir: Path | None = None,
    logsource_files: Sequence[Path] = (),
    placeholders_file: Path | None = None,
    progress: CompileProgress | None = None,
) -> CompiledRules:
    """Load and compile the rules under ``paths``, reusing the disk cache when nothing changed.

    ``progress`` hears of each stage of a compile (never called when the cache answers)."""
    from sentinelle.engine.placeholders import load_placeholders

    values, placeholder_bytes = load_placeholders(placeholders_file)
    directory = cache_dir if cache_dir is not None else default_cache_dir()
    key = _key(paths, logsource_files, placeholder_bytes, directory)
    found = read_entry_and_bytes(directory, key)
    cached = found[0] if found is not None else None
    if isinstance(cached, CompiledRules):
        assert found is not None
        data = found[1]
        # The entry's bytes are this very set pickled: the reader's worker gets them as they
        # are, instead of a second pickling of the whole set (a tenth of a second).
        cached.adopt_pickle(data)
        return cached
    _, compiled = _compile_paths(paths, logsource_files, values, progress)
    _store(compiled, directory, key, progress)
    return compiled


def compile_paths(
    paths: Sequence[str | Path],
    *,
    logsource_files: Sequence[Path] = (),
    placeholders_file: Path | None = None,
    max_rules: int | None = None,
) -> tuple[RuleSet, CompiledRules]:
    """What ``load_compiled`` compiles when the cache does not answer, with the loaded set.

    For judging a rule set exactly as a hunt will read it (``rules update``): the same
    loader, logsource mapping, placeholders and correlation resolution, without the cache.
    ``max_rules``: see ``load_rules``.
    """
    from sentinelle.engine.placeholders import load_placeholders

    values, _ = load_placeholders(placeholders_file)
    return _compile_paths(paths, logsource_files, values, None, max_rules)


def remember_compiled(
    paths: Sequence[str | Path],
    compiled: CompiledRules,
    *,
    cache_dir: Path | None = None,
    logsource_files: Sequence[Path] = (),
    placeholders_file: Path | None = None,
) -> None:
    """Build every bucket of ``compiled`` and keep it as the entry ``load_compiled(paths)``
    finds, so the first hunt of a set compiled elsewhere (``rules update``) starts warm."""
    from sentinelle.engine.placeholders import load_placeholders

    _, placeholder_bytes = load_placeholders(placeholders_file)
    key = _key(paths, logsource_files, placeholder_bytes)
    _store(compiled, cache_dir if cache_dir is not None else default_cache_dir(), key, None)


def _key(
    paths: Sequence[str | Path],
    logsource_files: Sequence[Path],
    placeholder_bytes: bytes,
    directory: Path | None = None,
) -> str:
    """The cache key: every input that shapes the compiled set, rule files by content.

    With ``directory``, the key last found for rule files with the same stamps is taken from
    there, without reading them (``cache.remembered_key``)."""
    from sentinelle.sigma.files import read_rule_file, rule_file_names
    from sentinelle.sigma.logsources import default_logsource_text

    files, _ = rule_file_names(paths)
    parts: list[tuple[str, bytes]] = [("<logsources>", default_logsource_text())]
    parts += [(f"<logsources:{p}>", read_rule_file(p)) for p in logsource_files]
    parts.append(("<placeholders>", placeholder_bytes))
    parts.append(("<paths>", "\0".join(str(p) for p in paths).encode()))
    stamps = [file_stamp(f) for f in files] if directory is not None else []
    stamps_key = ""
    if directory is not None:
        stamped = [("<stamp:" + f + ">", stamp) for f, stamp in zip(files, stamps, strict=True)]
        stamps_key = cache_key([*parts, *stamped])
        known = remembered_key(directory, stamps_key)
        if known is not None:
            return known
    for f in files:
        try:
            parts.append((f, read_rule_file(f)))
        except RuleError as exc:
            # Too big or unreadable: the loader reports it; the key must still change with it.
            parts.append((f, b"\0" + str(exc).encode()))
    key = cache_key(parts)
    if directory is not None and settled(stamps):
        with contextlib.suppress(OSError):  # a read-only cache only costs the next run a read
            remember_key(directory, stamps_key, key)
    return key


def _compile_paths(
    paths: Sequence[str | Path],
    logsource_files: Sequence[Path],
    placeholders: Mapping[str, Sequence[str]],
    progress: CompileProgress | None,
    max_rules: int | None = None,
) -> tuple[RuleSet, CompiledRules]:
    from sentinelle.sigma import rule_files
    from sentinelle.sigma.loader import load_rules  # pySigma: only when compiling
    from sentinelle.sigma.logsources import load_logsource_map

    if progress is not None:
        progress.stage("reading rule files", len(rule_files(paths)[0]))
    ruleset = load_rules(
        paths, progress.advance if progress is not None else None, max_rules=max_rules
    )
    compiled = compile_rules(
        ruleset,
        logsources=load_logsource_map(logsource_files),
        placeholders=placeholders,
        progress=progress,
    )
    return ruleset, compiled


def _store(
    compiled: CompiledRules, directory: Path, key: str, progress: CompileProgress | None
) -> None:
    # Every bucket is built once here and kept in the cache: the hunts that reuse the entry
    # (and their workers) then only unpickle the buckets their events meet.
    compiled.warm(progress)
    if progress is not None:
        progress.stage("writing the rule cache", 0)
    # A read-only cache directory only costs the next run its compile time.
    with contextlib.suppress(OSError):
        write_entry(directory, key, compiled)
