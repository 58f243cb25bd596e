"""Loading rule files: hostile YAML, located errors, filters, correlations."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinelle.engine.correlation.model import EXACT_CONDITION_KEY
from sentinelle.errors import RuleError
from sentinelle.sigma.loader import load_rules
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


CORRELATION = """\
title: {title}
correlation:
    type: {kind}
    rules: [whoami_run]
    group-by: [Computer]
    timespan: 5m
    condition: {condition}
level: high
"""


def test_correlation_bounds_are_kept_exactly(tmp_path: Path) -> None:
    """A range and a fraction load (pySigma alone refuses the one and truncates the other)."""
    docs = [
        RULE,
        CORRELATION.format(title="Range", kind="event_count", condition="{gte: 5, lte: 10}"),
        CORRELATION.format(title="Half", kind="value_avg", condition="{gt: 0.5, field: Size}"),
    ]
    (tmp_path / "all.yml").write_text("---\n".join(docs), encoding="utf-8")
    ruleset = load_rules([tmp_path])
    assert [str(e) for e in ruleset.errors] == []
    assert [r.title for r in ruleset.rules] == ["Whoami"]
    bounds = {
        c.title: c.custom_attributes[EXACT_CONDITION_KEY]["bounds"] for c in ruleset.correlations
    }
    assert bounds == {"Range": [("gte", 5.0), ("lte", 10.0)], "Half": [("gt", 0.5)]}


def test_bad_correlation_is_located_and_the_rest_of_the_file_loads(tmp_path: Path) -> None:
    good = CORRELATION.format(title="Good", kind="event_count", condition="{gte: 3}")
    bad = CORRELATION.format(title="Bad", kind="event_count", condition="{gte: many}")
    path = tmp_path / "corr.yml"
    path.write_text("---\n".join([RULE, bad, good]), encoding="utf-8")
    ruleset = load_rules([tmp_path])
    assert [c.title for c in ruleset.correlations] == ["Good"]
    assert [r.title for r in ruleset.rules] == ["Whoami"]
    assert len(ruleset.errors) == 1
    err = ruleset.errors[0]
    assert err.location is not None
    bad_line = RULE.count("\n") + 2  # the `title:` line after the first `---`
    assert (err.location.source, err.location.line) == (str(path), bad_line)
    assert "gte" in err.message
    # Located correlations point at their document, for the correlator's own errors.
    source = ruleset.correlations[0].source
    assert source is not None
    assert source.line == bad_line + bad.count("\n") + 1


def test_pysigma_rejection_of_a_correlation_names_its_place_once(tmp_path: Path) -> None:
    no_timespan = CORRELATION.format(title="T", kind="event_count", condition="{gte: 3}")
    path = tmp_path / "corr.yml"
    path.write_text(RULE + "---\n" + no_timespan.replace("    timespan: 5m\n", ""), "utf-8")
    ruleset = load_rules([path])
    line = RULE.count("\n") + 2
    assert [str(e) for e in ruleset.errors] == [
        f"{path}:{line}: Sigma correlation rule without timespan"
    ]
