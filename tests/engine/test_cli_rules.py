"""`sentinelle rules check`: counts, reasons with file:line, unmapped logsources, exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sentinelle.cli.rules import register
from sentinelle.engine import compile_rules
from sentinelle.sigma.loader import load_rules

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


# One rule of each kind that used to stop `rules check` and `hunt` with exit 70.
BOMBS = {
    "number.yml": "title: number\nlogsource: {product: windows, service: security}\n"
    f"detection:\n    sel: {{EventID: {'1' * 5000}}}\n    condition: sel\n",
    "regex.yml": "title: regex\nlogsource: {product: windows, service: security}\n"
    f"detection:\n    sel: {{CommandLine|re: '{'(' * 5000}a{')' * 5000}'}}\n    condition: sel\n",
}
SECURITY = BASE.replace("level: low", "level: high")


def _command(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SENTINELLE_CACHE_DIR": str(home / "cache"),
        "SENTINELLE_DATA_DIR": str(home / "data"),
        "SENTINELLE_CONFIG_DIR": str(home / "config"),
    }
    return subprocess.run(
        [sys.executable, "-m", "sentinelle.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_rules_check_and_hunt_reject_bombs_alone(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "base.yml").write_text(SECURITY, encoding="utf-8")
    for name, text in BOMBS.items():
        (rules / name).write_text(text, encoding="utf-8")
    check = _command("rules", "check", str(rules), home=tmp_path)
    assert check.returncode == 1, check.stderr
    assert f"rejected: {rules / 'number.yml'}:4: a number of 5000 characters" in check.stdout
    assert f"rejected: {rules / 'regex.yml'}:4: rule refused: regular expression nested" in (
        check.stdout
    )
    assert "loaded 1 rules (1 mapped)" in check.stdout

    log = tmp_path / "security.jsonl"
    event = {
        "@timestamp": "2024-01-15T01:20:00Z",
        "Channel": "Security",
        "EventID": 4625,
        "TargetUserName": "admin",
    }
    log.write_text(json.dumps(event) + "\n", encoding="utf-8")
    out = tmp_path / "timeline.jsonl"
    hunt = _command(
        "hunt", str(log), "--rules", str(rules), "-f", "jsonl", "-o", str(out), home=tmp_path
    )
    assert hunt.returncode == 2, hunt.stderr  # rule errors, and the hunt ran
    unwrapped = "".join(hunt.stderr.split())  # the terminal output may wrap long paths
    assert f"{rules / 'number.yml'}:4" in unwrapped and "internal error" not in hunt.stderr
    titles = [json.loads(line)["rule_title"] for line in out.read_text().splitlines()]
    assert titles == ["base"]


def test_a_regex_re2_refuses_writes_nothing_to_stderr(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """RE2 logs what it cannot parse straight to file descriptor 2 unless told not to."""
    (tmp_path / "bad.yml").write_text(BAD, encoding="utf-8")
    lookahead = BAD.replace("(a)\\\\1", "(?=a)b").replace("title: bad", "title: ahead")
    (tmp_path / "ahead.yml").write_text(lookahead, encoding="utf-8")
    compiled = compile_rules(load_rules([tmp_path]))
    assert len(compiled.errors) == 2
    assert capfd.readouterr().err == ""
    check = _command("rules", "check", str(tmp_path), home=tmp_path)
    assert check.returncode == 1
    assert check.stdout.count("not supported by RE2") == 2
    assert check.stderr == ""


def test_names_titles_and_reasons_reach_the_terminal_escaped(tmp_path: Path) -> None:
    """A rule package from the internet names its files and titles: an escape sequence in
    them is shown as text by `rules check`, as every other command shows input text."""
    title = '"cloud \\e]0;owned\\a"'  # YAML's own escapes for ESC and BEL
    (tmp_path / "cloud.yml").write_text(NOWHERE.replace("cloud", title), "utf-8")
    (tmp_path / "bad \x1b[2J.yml").write_text(BAD, encoding="utf-8")
    result = CliRunner().invoke(_app(), ["rules", "check", "--unmapped", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "bad \\x1b[2J.yml" in result.output  # the rejected file
    assert "cloud \\x1b]0;owned\\x07" in result.output  # the unmapped rule's title
