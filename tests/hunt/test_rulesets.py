"""Which rules a hunt uses by default: the user's config.yml, with located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinelle.errors import ConfigError, RuleError
from sentinelle.hunt.rulesets import config_rule_dirs, resolve_rule_args


def test_config_rule_dirs_are_taken_from_the_config_folder(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text("rules:\n  - ours\n  - /abs/theirs\n")
    assert config_rule_dirs(config) == [tmp_path / "ours", Path("/abs/theirs")]
    assert config_rule_dirs(tmp_path / "missing.yml") == []
    config.write_text("# nothing yet\n")
    assert config_rule_dirs(config) == []


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("rules: [a, 3]\n", "list of paths", None),
        ("rules: here\n", "list of paths", None),
        ("- just\n- a list\n", "must be a mapping", None),
        ("rules:\n  - a\n bad: [\n", "invalid YAML", 3),
    ],
)
def test_bad_config_is_a_located_error(
    tmp_path: Path, text: str, message: str, line: int | None
) -> None:
    config = tmp_path / "config.yml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        config_rule_dirs(config)
    assert info.value.location is not None
    assert info.value.location.source == str(config)
    if line is not None:
        assert info.value.location.line == line


def test_sigmahq_keyword_needs_a_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTINELLE_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(RuleError, match="rules update"):
        resolve_rule_args(["sigmahq"])
    assert resolve_rule_args(["./sigmahq", "r.yml"]) == [Path("sigmahq"), Path("r.yml")]
