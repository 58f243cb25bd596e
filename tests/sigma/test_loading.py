"""Loading rule files: hostile YAML, located errors, filters, correlations."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinelle.errors import RuleError
from sentinelle.sigma import load_rules
from sentinelle.sigma.yamlsafe import MAX_NODES, load_yaml_documents

RULE = """\
title: Whoami
id: 5a1e2b3c-0000-4000-8000-000000000001
name: whoami_run
logsource: {product: test}
detection:
    sel: {Image|endswith: '\\\\whoami.exe'}
    condition: sel
level: medium
"""


def test_aliases_are_refused() -> None:
    with pytest.raises(RuleError, match="aliases") as info:
        load_yaml_documents("a: &x [1, 2]\nb: *x\n", "bomb.yml")
    assert info.value.location is not None and info.value.location.line == 1  # the anchor


def test_node_limit() -> None:
    text = "a: [" + ",".join("1" for _ in range(MAX_NODES + 1)) + "]\n"
    with pytest.raises(RuleError, match="YAML nodes"):
        load_yaml_documents(text, "big.yml")


def test_duplicate_keys_are_refused() -> None:
    with pytest.raises(RuleError, match="duplicate key 'sel'") as info:
        load_yaml_documents("detection:\n  sel: 1\n  sel: 2\n", "dup.yml")
    assert info.value.location is not None and info.value.location.line == 3


def test_python_tags_are_refused() -> None:
    with pytest.raises(RuleError, match="invalid YAML"):
        load_yaml_documents("a: !!python/object/apply:os.system ['true']\n", "evil.yml")


def test_bad_files_are_reported_and_the_rest_loads(tmp_path: Path) -> None:
    (tmp_path / "good.yml").write_text(RULE, encoding="utf-8")
    (tmp_path / "broken.yml").write_text("title: x\ndetection: [\n", encoding="utf-8")
    (tmp_path / "second.yml").write_text(
        RULE + "---\ntitle: no detection\nlogsource: {product: test}\n"
    )
    ruleset = load_rules([tmp_path, tmp_path / "missing.yml"])
    assert [r.title for r in ruleset.rules] == ["Whoami", "Whoami"]
    messages = sorted(str(e) for e in ruleset.errors)
    assert any(m.startswith(f"{tmp_path / 'broken.yml'}:3: invalid YAML") for m in messages), (
        messages
    )
    assert any(m.startswith(f"{tmp_path / 'second.yml'}:10:") for m in messages), messages
    assert any("missing.yml: no such file" in m for m in messages), messages


def test_filter_is_applied_to_the_rule_it_names(tmp_path: Path) -> None:
    (tmp_path / "rule.yml").write_text(RULE, encoding="utf-8")
    (tmp_path / "filter.yml").write_text(
        "title: Admins may\nlogsource: {product: test}\nfilter:\n"
        "    rules: [whoami_run]\n    selection: {User: admin}\n    condition: not selection\n",
        encoding="utf-8",
    )
    ruleset = load_rules([tmp_path])
    assert len(ruleset.filters) == 1
    assert "selection" in ruleset.rules[0].detection.condition[0]


def test_correlation_references_are_resolved(tmp_path: Path) -> None:
    (tmp_path / "rule.yml").write_text(RULE, encoding="utf-8")
    (tmp_path / "corr.yml").write_text(
        "title: Many whoami\ncorrelation:\n    type: event_count\n    rules: [whoami_run]\n"
        "    group-by: [Computer]\n    timespan: 5m\n    condition: {gte: 3}\nlevel: high\n"
        "---\ntitle: Dangling\ncorrelation:\n    type: event_count\n    rules: [nothing_here]\n"
        "    group-by: [Computer]\n    timespan: 5m\n    condition: {gte: 3}\n",
        encoding="utf-8",
    )
    ruleset = load_rules([tmp_path])
    assert [c.title for c in ruleset.correlations] == ["Many whoami"]
    assert any("nothing_here" in str(e) for e in ruleset.errors)
