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
