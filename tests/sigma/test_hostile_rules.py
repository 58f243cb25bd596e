"""Rules written to break the loader: each is refused alone, with its line and reason.

Size and recursion bombs against the YAML reader, pySigma (regex and condition parsers) and the
engine's own tree walks. Every case loads next to a good rule, which must still load, through
the same pipeline a hunt uses (load, then compile); the commands are tested in
``tests/engine/test_cli_rules.py`` and ``tests/hunt/test_update.py``.
"""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from sentinelle.engine import compile_rules
from sentinelle.errors import RuleError
from sentinelle.sigma.bounds import regex_depth
from sentinelle.sigma.files import MAX_RULE_FILE_BYTES, read_rule_file
from sentinelle.sigma.loader import load_rules
from tests.engine.conftest import TEST_LOGSOURCES

GOOD = """\
title: good
id: 0a000000-0000-4000-8000-000000000001
name: good
logsource: {product: test}
detection:
    sel: {EventID: 4625}
    condition: sel
level: high
"""


def _rule(selection: str, condition: str = "sel") -> str:
    return (
        "title: hostile\nid: 0b000000-0000-4000-8000-000000000002\n"
        "logsource: {product: test}\ndetection:\n"
        f"    sel:\n        {selection}\n    condition: '{condition}'\nlevel: high\n"
    )


def _correlation(timespan: str, condition: str) -> str:
    return (
        "title: hostile correlation\nid: 0c000000-0000-4000-8000-000000000003\n"
        "correlation:\n    type: event_count\n    rules: [good]\n    group-by: [IpAddress]\n"
        f"    timespan: {timespan}\n    condition:\n        {condition}\n"
    )


# name -> (rule text, the line the error must point at, what the reason says)
CASES: dict[str, tuple[str, int, str]] = {
    "5,000-digit number": (_rule("EventID: " + "1" * 5000), 6, "number of 5000 characters"),
    "5,000-digit hexadecimal": (_rule("EventID: 0x" + "f" * 5000), 6, "number of 5002"),
    "sexagesimal bomb": (_rule("EventID: " + ":".join(["59"] * 3000)), 6, "number of"),
    "regex nested 5,000 groups deep": (
        _rule("CommandLine|re: '" + "(" * 5000 + "a" + ")" * 5000 + "'"),
        6,
        "regular expression nested 5000 groups deep",
    ),
    "regex nested 900 groups deep": (
        _rule("CommandLine|re: '" + "(?:" * 900 + "a" + ")" * 900 + "'"),
        6,
        "nested 900 groups",
    ),
    "800 not": (_rule("EventID: 1", "not " * 800 + "sel"), 7, "nested too deeply"),
    "100 not": (_rule("EventID: 1", "not " * 100 + "sel"), 7, "nested more than 64 levels"),
    "condition of 350 kB": (
        _rule("EventID: 1", " or ".join(["sel"] * 50_000)),
        7,
        "condition of 349996 characters",
    ),
    "date the constructor refuses": (_rule("EventID: 0000-01-01"), 1, "year 0 is out of range"),
    "correlation timespan of 5,000 digits": (
        _correlation("'" + "9" * 5000 + "d'", "gte: 10"),
        1,
        "invalid correlation",
    ),
    "correlation count of 4,000 digits": (
        _correlation("5m", "gte: " + "9" * 4000),
        9,
        "number of 4000 characters",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_hostile_rule_is_refused_alone_with_its_line(name: str, tmp_path: Path) -> None:
    text, line, reason = CASES[name]
    (tmp_path / "good.yml").write_text(GOOD, encoding="utf-8")
    hostile = tmp_path / "hostile.yml"
    hostile.write_text(text, encoding="utf-8")
    ruleset = load_rules([tmp_path])
    compiled = compile_rules(ruleset, logsources=TEST_LOGSOURCES, placeholders={})
    errors = [str(e) for e in compiled.rejections()]
    assert [r.title for r in compiled.rules] == ["good"]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{hostile}:{line}: "), errors
    assert reason in errors[0], errors


def test_the_rules_of_a_file_around_a_hostile_one_still_load(tmp_path: Path) -> None:
    """pySigma reads each document alone: what one raises costs that document only."""
    bomb = _rule("CommandLine|re: '" + "(" * 500 + "a" + ")" * 500 + "'")
    second = GOOD.replace("good", "second").replace("0001", "0004")
    path = tmp_path / "collection.yml"
    path.write_text(f"{GOOD}---\n{bomb}---\n{second}", encoding="utf-8")
    ruleset = load_rules([path])
    assert [r.title for r in ruleset.rules] == ["good", "second"]
    assert [str(e).split(": ")[0] for e in ruleset.errors] == [f"{path}:15"]


def test_a_2_gib_rule_file_is_refused_without_being_read(tmp_path: Path) -> None:
    (tmp_path / "good.yml").write_text(GOOD, encoding="utf-8")
    huge = tmp_path / "huge.yml"
    with huge.open("wb") as fh:  # sparse: 2 GiB that take no disk
        fh.truncate(2 * 1024**3)
    tracemalloc.start()
    try:
        ruleset = load_rules([tmp_path])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [r.title for r in ruleset.rules] == ["good"]
    assert [str(e) for e in ruleset.errors] == [
        f"{huge}: rule file is {2 * 1024**3} bytes; a rule file may hold at most "
        f"{MAX_RULE_FILE_BYTES} bytes (a rule is a few kB)"
    ]
    assert peak < 20 * 1024 * 1024  # the file was never read


def test_a_rule_file_is_read_up_to_its_cap_only(tmp_path: Path) -> None:
    path = tmp_path / "r.yml"
    path.write_bytes(b"#" * 101)
    assert read_rule_file(path, max_bytes=101) == b"#" * 101
    with pytest.raises(RuleError, match="at most 100 bytes"):
        read_rule_file(path, max_bytes=100)


def test_a_fifo_in_place_of_a_rule_file_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "r.yml"
    os.mkfifo(fifo)
    with pytest.raises(RuleError, match="not a regular file"):
        read_rule_file(fifo)


@pytest.mark.parametrize(
    ("pattern", "depth"),
    [
        ("abc", 0),
        ("(a(b)c)", 2),
        (r"\(\(\(", 0),
        ("[(((]x", 0),
        ("[]((]x(y)", 1),
        ("[^]((]x", 0),
        (r"[\]((]x", 0),
        ("(?:(?:(?:a)))", 3),
        ("(a))))(b)", 1),
    ],
)
def test_regex_depth(pattern: str, depth: int) -> None:
    assert regex_depth(pattern) == depth


def test_bounds_apply_wherever_a_regex_hides_in_the_detection(tmp_path: Path) -> None:
    deep = "(" * 200 + "a" + ")" * 200
    text = (
        "title: nested\nlogsource: {product: test}\ndetection:\n"
        "    sel:\n        - Image: x\n        - CommandLine|contains|re: never\n"
        f"          ParentCommandLine|re|i: ['ok', '{deep}']\n    condition: sel\n"
    )
    path = tmp_path / "r.yml"
    path.write_text(text, encoding="utf-8")
    errors = [str(e) for e in load_rules([path]).errors]
    assert errors == [
        f"{path}:7: rule refused: regular expression nested 200 groups deep (at most 100)"
    ]


def test_a_correlation_with_an_empty_reference_is_refused_at_its_line(tmp_path: Path) -> None:
    """Found by the rule loader's fuzz target: pySigma resolved the empty item to nothing and
    raised AttributeError, which stopped the whole load."""
    path = tmp_path / "corr.yml"
    path.write_text(GOOD + "---\n" + _correlation("5m", "gte: 3").replace("[good]", "[good, '']"))
    ruleset = load_rules([path])
    assert [r.title for r in ruleset.rules] == ["good"] and not ruleset.correlations
    assert [str(e) for e in ruleset.errors] == [
        f"{path}:14: rule refused: a correlation's rules are rule names or ids"
    ]
