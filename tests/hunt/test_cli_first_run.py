"""What a first hunt tells a new user: missing rules, a cold compile, help, and mistakes refused
before any work. On a small log of fixed events and a rule of our own (no corpus needed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.hunt.helpers import ENCODED_POWERSHELL as RULE
from tests.hunt.helpers import hunt_env, run_hunt, security_4688


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    return hunt_env(tmp_path / "home", COLUMNS="200")


@pytest.fixture
def case(tmp_path: Path) -> tuple[Path, Path]:
    """A log with two matching events and one other, and a folder with the rule."""
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "security.jsonl"
    events = [
        security_4688(1, "ws-ane-07", "powershell -enc SQBFAFgA"),
        security_4688(2, "ws-ane-07", "whoami"),
        security_4688(3, "ws-ane-07", "p -enc AA"),
    ]
    log.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "encoded.yml").write_text(RULE, encoding="utf-8")
    return log, rules


hunt = run_hunt


def _cache_is_empty(env: dict[str, str]) -> bool:
    cache = Path(env["SENTINELLE_CACHE_DIR"])
    return not cache.exists() or not any(cache.iterdir())


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("out", "is a folder"),
        ("missing/timeline.jsonl", "does not exist"),
        ("timeline.html", "--html"),
        ("timeline", "cannot tell the timeline format"),
    ],
)
def test_bad_output_is_refused_before_any_work(
    home: dict[str, str], case: tuple[Path, Path], tmp_path: Path, target: str, message: str
) -> None:
    log, rules = case
    (tmp_path / "out").mkdir()
    proc = hunt(home, str(log), "--rules", str(rules), "-o", str(tmp_path / target))
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "internal error" not in proc.stderr
    assert _cache_is_empty(home)  # refused before the rules were even compiled


@pytest.mark.parametrize("option", ["--html", "--attack-layer"])
def test_bad_report_paths_are_refused_before_any_work(
    home: dict[str, str], case: tuple[Path, Path], tmp_path: Path, option: str
) -> None:
    log, rules = case
    proc = hunt(home, str(log), "--rules", str(rules), option, str(tmp_path / "no" / "r"))
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr
    assert _cache_is_empty(home)


def test_an_explicit_format_takes_any_file_name(
    home: dict[str, str], case: tuple[Path, Path], tmp_path: Path
) -> None:
    log, rules = case
    out = tmp_path / "timeline.log"
    proc = hunt(home, str(log), "--rules", str(rules), "-f", "jsonl", "-o", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    assert len(out.read_text().splitlines()) == 2


def test_the_same_input_given_twice_is_read_once(
    home: dict[str, str], case: tuple[Path, Path], tmp_path: Path
) -> None:
    log, rules = case
    out = tmp_path / "t.jsonl"
    link = tmp_path / "again.jsonl"
    link.symlink_to(log)
    proc = hunt(home, str(log), str(log.parent), str(link), "--rules", str(rules), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert len(out.read_text().splitlines()) == 2
    assert "2 file(s) named more than once are read once" in proc.stderr
    assert re.search(r"Files read\s+1\s*\n", proc.stderr)


def test_without_downloaded_rules_the_hunt_says_how_to_get_them(
    home: dict[str, str], case: tuple[Path, Path], tmp_path: Path
) -> None:
    log, _ = case
    proc = hunt(home, str(log), "-o", str(tmp_path / "t.jsonl"))
    assert proc.returncode == 0, proc.stderr
    err = " ".join(proc.stderr.split())
    assert "SigmaHQ rules are not downloaded" in err
    assert "sentinelle rules update" in err
    assert "--url file://" in err
    quiet = hunt(home, str(log), "-o", str(tmp_path / "t.jsonl"), "-q")
    assert quiet.stderr == ""


def test_a_cold_compile_is_announced_and_counted_in_the_summary(
    home: dict[str, str], case: tuple[Path, Path], tmp_path: Path
) -> None:
    log, rules = case
    out = tmp_path / "t.jsonl"
    cold = hunt(home, str(log), "--rules", str(rules), "-o", str(out))
    assert cold.returncode == 0, cold.stderr
    assert "compiling the rules" in cold.stderr
    assert "1 loaded, 0 errors (compiled in" in cold.stderr
    warm = hunt(home, str(log), "--rules", str(rules), "-o", str(out))
    assert warm.returncode == 0, warm.stderr
    assert "compiling the rules" not in warm.stderr
    assert "1 loaded, 0 errors (from the cache in" in warm.stderr
    elapsed = next(line for line in warm.stderr.splitlines() if line.startswith("Elapsed"))
    for stage in ("start-up", "inputs", "rules", "reading and matching", "timeline and outputs"):
        assert f"{stage} " in elapsed, elapsed


def test_help_has_examples_choices_and_a_short_flag(
    home: dict[str, str], case: tuple[Path, Path], tmp_path: Path
) -> None:
    proc = hunt(home, "-h")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "Examples" in text and "sentinelle hunt logs/ -o timeline.csv" in text
    for choice in ("informational|low|medium|high|critical", "table|csv|jsonl|timesketch"):
        assert choice in text.replace(" ", "").replace("│", "").replace("\n", "")
    assert "minimal|standard|verbose" in text
    log, rules = case
    out = tmp_path / "t.jsonl"
    levels = hunt(home, str(log), "--rules", str(rules), "--min-level", "HIGH", "-o", str(out))
    assert levels.returncode == 0, levels.stderr  # levels are read in any case
    assert len(out.read_text().splitlines()) == 2
    assert hunt(home, str(log), "--min-level", "severe").returncode == 2
