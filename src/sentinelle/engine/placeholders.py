"""Values of ``expand`` placeholders (``%Admins_Workstations%``...), read from a YAML file.

The file maps each placeholder name (without the percent signs) to a list of strings; values may
use Sigma wildcards. A rule that uses a placeholder the file does not define is rejected with
that reason: expanding it to nothing would silently change the rule.
"""

from __future__ import annotations

from pathlib import Path

from sentinelle.errors import ConfigError, Location, RuleError
from sentinelle.paths import config_dir
from sentinelle.sigma.files import read_rule_file
from sentinelle.sigma.yamlsafe import load_yaml_documents

Placeholders = dict[str, list[str]]


def default_placeholders_path() -> Path:
    return config_dir() / "placeholders.yml"


def load_placeholders(path: Path | None = None) -> tuple[Placeholders, bytes]:
    """Placeholder values and the raw file content (part of the cache key); empty if absent."""
    explicit = path is not None
    target = path if path is not None else default_placeholders_path()
    if not target.is_file():
        if explicit:
            raise ConfigError("placeholders file not found", Location(str(target)))
        return {}, b""
    try:
        content = read_rule_file(target)
        docs = load_yaml_documents(content, str(target))
    except RuleError as exc:
        raise ConfigError(exc.message, exc.location) from None
    data = docs[0].data if len(docs) == 1 else None
    if not isinstance(data, dict):
        raise ConfigError(
            "a placeholders file is one mapping of name: [values]", Location(str(target), 1)
        )
    out: Placeholders = {}
    for name, vals in data.items():
        items = vals if isinstance(vals, list) else [vals]
        if not all(isinstance(v, str | int) for v in items):
            raise ConfigError(
                f"values of placeholder {name!r} must be strings", Location(str(target))
            )
        out[str(name)] = [str(v) for v in items]
    return out, content
