"""Which rule files a hunt uses when ``--rules`` is not given, and what ``--rules`` names mean.

Default: the rules shipped with Sentinelle (``sentinelle/rules``), every directory listed under
``rules:`` in the user's ``config.yml``, and the SigmaHQ set once ``rules update`` fetched it.
``--rules sigmahq`` names that downloaded set; write ``./sigmahq`` for a folder of that name.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from sentinelle.errors import ConfigError, Location, RuleError
from sentinelle.hunt.update import current_sigmahq
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
    downloaded = current_sigmahq()
    if downloaded is not None:
        paths.append(downloaded)
    return paths


def resolve_rule_args(args: Sequence[str]) -> list[Path]:
    """``--rules`` values as paths; ``sigmahq`` is the downloaded set."""
    paths: list[Path] = []
    for arg in args:
        if arg == SIGMAHQ:
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
