"""`sentinelle rules check`: counts, reasons with file:line, unmapped logsources, exit status."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from sentinelle.cli.rules import register

GOOD = "title: ok\nlogsource: {product: windows, category: process_creation}\n" + (
    "detection:\n    sel: {Image|endswith: x.exe}\n    condition: sel\n"
)
NOWHERE = (
    "title: cloud\nlogsource: {product: nowhere}\ndetection:\n    sel: {a: b}\n    condition: sel\n"
)
BAD = "title: bad\nlogsource: {product: windows, service: security}\n" + (
    "detection:\n    sel: {F|re: '(a)\\1'}\n    condition: sel\n"
)


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Test root."""

    register(app)
    return app


def test_all_good_exits_zero(tmp_path: Path) -> None:
    (tmp_path / "good.yml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "cloud.yml").write_text(NOWHERE, encoding="utf-8")
    result = CliRunner().invoke(_app(), ["rules", "check", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "1 rule(s) have a logsource that maps to no event source" in result.output
    assert "product=nowhere" in result.output
    assert "loaded 2 rules (1 mapped)" in result.output


def test_rejection_exits_one_with_location(tmp_path: Path) -> None:
    (tmp_path / "good.yml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "bad.yml").write_text(BAD, encoding="utf-8")
    result = CliRunner().invoke(_app(), ["rules", "check", str(tmp_path)])
    assert result.exit_code == 1
    assert (
        f"rejected: {tmp_path / 'bad.yml'}:4: rule 'bad' rejected: regular expression"
        in result.output
    )
    assert "rejected 1" in result.output


# Correlations pySigma accepts but the correlator refuses: each one is a rejection, located.
BASE = "title: base\nname: base_rule\nlogsource: {product: windows, service: security}\n" + (
    "detection:\n    sel: {EventID: 4625}\n    condition: sel\nlevel: low\n"
)
CORRELATIONS = """\
title: no percentile
correlation:
    type: value_percentile
    rules: [base_rule]
    group-by: [TargetUserName]
    timespan: 5m
    condition: {gte: 100, field: Size}
---
title: loop a
name: loop_a
correlation:
    type: event_count
    rules: [loop_b]
    group-by: [TargetUserName]
    timespan: 5m
    condition: {gte: 2}
---
title: loop b
name: loop_b
correlation:
    type: event_count
    rules: [loop_a]
    group-by: [TargetUserName]
    timespan: 5m
    condition: {gte: 2}
---
title: fine
correlation:
    type: event_count
    rules: [base_rule]
    group-by: [TargetUserName]
    timespan: 5m
    condition: {gte: 5}
"""


def test_rejected_correlations_are_shown_and_counted(tmp_path: Path) -> None:
    (tmp_path / "base.yml").write_text(BASE, encoding="utf-8")
    corr = tmp_path / "corr.yml"
    corr.write_text(CORRELATIONS, encoding="utf-8")
    result = CliRunner().invoke(_app(), ["rules", "check", str(tmp_path)])
    assert result.exit_code == 1, result.output
    rejected = [line for line in result.output.splitlines() if line.startswith("rejected: ")]
    assert len(rejected) == 3, result.output
    assert rejected[0].startswith(f"rejected: {corr}:1: value_percentile needs ")
    assert rejected[1] == f"rejected: {corr}:9: correlation cycle: loop a -> loop b -> loop a"
    assert rejected[2] == f"rejected: {corr}:18: correlation cycle: loop a -> loop b -> loop a"
    assert "1 correlations; rejected 3" in result.output
