"""Which rule files a hunt uses when ``--rules`` is not given, and what ``--rules`` names mean.

Default: the rules shipped with Sentinelle (``sentinelle/rules``), every directory listed under
``rules:`` in the user's ``config.yml``, and the SigmaHQ set once ``rules update`` fetched it.
``--rules sigmahq`` names that downloaded set; write ``./sigmahq`` for a folder of that name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from sentinelle.errors import ConfigError, Location, RuleError
from sentinelle.paths import config_dir

SIGMAHQ = "sigmahq"
SHIPPED_RULES = Path(__file__).resolve().parents[1] / "rules"


def config_rule_dirs(config_file: Path | None = None) -> list[Path]:
    """The ``rules:`` entries of the user configuration, relative ones taken from its folder."""
    path = config_file or config_dir() / "config.yml"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", Location(str(path))) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"invalid YAML: {exc}", Location(str(path), line)) from exc
    if data is None:
        return []
    if not isinstance(data, dict):
        raise ConfigError("the configuration must be a mapping", Location(str(path)))
    entries = data.get("rules", [])
    if entries is None:
        return []
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise ConfigError("`rules:` must be a list of paths", Location(str(path)))
    return [(path.parent / Path(e).expanduser()) for e in entries]


def default_rule_paths(config_file: Path | None = None) -> list[Path]:
    """Shipped rules, configured rule directories, and the downloaded SigmaHQ set if present."""
    paths: list[Path] = []
    if SHIPPED_RULES.is_dir() and any(SHIPPED_RULES.rglob("*.yml")):
        paths.append(SHIPPED_RULES)
    paths.extend(config_rule_dirs(config_file))
    from sentinelle.hunt.update import current_sigmahq

    downloaded = current_sigmahq()
    if downloaded is not None:
        paths.append(downloaded)
    return paths


def resolve_rule_args(args: Sequence[str]) -> list[Path]:
    """``--rules`` values as paths; ``sigmahq`` is the downloaded set."""
    paths: list[Path] = []
    for arg in args:
        if arg == SIGMAHQ:
            # The download code only for this name: `--rules PATH` hunts need none of it.
            from sentinelle.hunt.update import current_sigmahq

            downloaded = current_sigmahq()
            if downloaded is None:
                raise RuleError(
                    "the SigmaHQ rule set is not downloaded yet: run `sentinelle rules update`",
                    Location(SIGMAHQ),
                )
            paths.append(downloaded)
        else:
            paths.append(Path(arg).expanduser())
    return paths


# Sigma's rule statuses, most trusted first.
STATUSES = ("stable", "test", "experimental", "deprecated", "unsupported")
UNSTATED_STATUS = "experimental"  # what a rule without `status` counts as


def parse_statuses(values: Sequence[str]) -> frozenset[str]:
    """``--status stable,test`` (comma-separated, repeatable), checked against ``STATUSES``."""
    chosen: set[str] = set()
    for value in values:
        for item in value.split(","):
            name = item.strip().lower()
            if not name:
                continue
            if name not in STATUSES:
                raise ConfigError(
                    f"unknown rule status {item.strip()!r} (one of {', '.join(STATUSES)})",
                    Location("--status"),
                )
            chosen.add(name)
    return frozenset(chosen)


@dataclass(frozen=True, slots=True)
class Exclusion:
    """One line of an ``--exclude-rules`` file: a rule id, a rule file name or a path."""

    text: str
    location: Location


def read_exclusions(path: Path) -> list[Exclusion]:
    """Hayabusa's ``exclude_rules.txt`` shape: one rule id (or rule file) per line, ``#``
    starting a comment, blank lines ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", Location(str(path))) from exc
    out: list[Exclusion] = []
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.split("#", 1)[0].strip()
        if entry:
            out.append(Exclusion(entry, Location(str(path), number)))
    return out


def kept_rule_ids(
    rules: Iterable[tuple[str, str, str | None]],
    statuses: frozenset[str],
    exclusions: Sequence[Exclusion],
) -> tuple[frozenset[str], list[Exclusion]]:
    """The ids of the rules ``(id, file, status)`` a hunt keeps, and the exclusions that named
    no rule (a typo must not pass for an exclusion that worked)."""
    used: set[int] = set()
    kept: set[str] = set()
    by_text = [(i, e.text.lower(), e.text.replace("\\", "/")) for i, e in enumerate(exclusions)]
    for rule_id, file, status in rules:
        if statuses and (status or UNSTATED_STATUS) not in statuses:
            continue
        posix = file.replace("\\", "/")
        hit = [
            i
            for i, lowered, text in by_text
            if lowered == rule_id.lower() or posix == text or posix.endswith("/" + text)
        ]
        if hit:
            used.update(hit)
            continue
        kept.add(rule_id)
    return frozenset(kept), [e for i, e in enumerate(exclusions) if i not in used]
