"""Values and conditions: each case is the detection, the event and the expected outcome."""

from __future__ import annotations

from typing import Any

import pytest

from sentinelle.events import event_from_mapping
from tests.engine.conftest import Check, Compile

_MANY = ", ".join(f"word{n}" for n in range(12))  # more than matchers.FEW_WORDS
CASES: list[tuple[str, str, dict[str, Any], bool]] = [
    # id, detection, event, expected
    (
        "eq-ci",
        "sel: {Image: 'C:\\Windows\\cmd.exe'}\ncondition: sel",
        {"Image": "c:\\windows\\CMD.EXE"},
        True,
    ),
    ("eq-whole", "sel: {Image: cmd.exe}\ncondition: sel", {"Image": "xcmd.exe"}, False),
    ("star", "sel: {Image: '*\\cmd.exe'}\ncondition: sel", {"Image": "C:\\x\\cmd.exe"}, True),
    # `\*` escapes the star: a wildcard after a backslash needs the backslash doubled.
    (
        "star-escaped",
        "sel: {Image: 'C:\\*\\cmd.exe'}\ncondition: sel",
        {"Image": "C:\\a\\cmd.exe"},
        False,
    ),
    (
        "star-inner",
        "sel: {Image: 'C:\\\\*\\cmd.exe'}\ncondition: sel",
        {"Image": "C:\\a\\b\\cmd.exe"},
        True,
    ),
    ("question", "sel: {F: 'a?c'}\ncondition: sel", {"F": "abc"}, True),
    ("question-one", "sel: {F: 'a?c'}\ncondition: sel", {"F": "abbc"}, False),
    ("escaped-star", "sel: {F: 'a\\*c'}\ncondition: sel", {"F": "a*c"}, True),
    ("escaped-star-literal", "sel: {F: 'a\\*c'}\ncondition: sel", {"F": "abc"}, False),
    ("escaped-question", "sel: {F: 'a\\?'}\ncondition: sel", {"F": "ab"}, False),
    ("backslash-plain", "sel: {F: 'C:\\Temp'}\ncondition: sel", {"F": "C:\\Temp"}, True),
    ("double-backslash", "sel: {F: 'a\\\\*'}\ncondition: sel", {"F": "a\\xyz"}, True),
    ("star-any", "sel: {F: '*'}\ncondition: sel", {"F": ""}, True),
    ("star-absent", "sel: {F: '*'}\ncondition: sel", {"G": "x"}, False),
    ("null-absent", "sel: {F: null}\ncondition: sel", {"G": "x"}, True),
    ("null-none", "sel: {F: null}\ncondition: sel", {"F": None}, True),
    ("null-present", "sel: {F: null}\ncondition: sel", {"F": "x"}, False),
    ("empty-string", "sel: {F: ''}\ncondition: sel", {"F": ""}, True),
    ("empty-not-absent", "sel: {F: ''}\ncondition: sel", {}, False),
    ("number-int", "sel: {EventID: 4688}\ncondition: sel", {"EventID": 4688}, True),
    ("number-text", "sel: {EventID: 4688}\ncondition: sel", {"EventID": "4688"}, True),
    ("number-text-rule", "sel: {EventID: '4688'}\ncondition: sel", {"EventID": 4688}, True),
    ("number-other", "sel: {EventID: 4688}\ncondition: sel", {"EventID": 4689}, False),
    # Buckets are folded for the event's id: every EventID number test decided beforehand.
    ("eid-float", "sel: {EventID: 4624}\ncondition: sel", {"EventID": 4624.0}, True),
    ("eid-list", "sel: {EventID: 4624}\ncondition: sel", {"EventID": [4625, 4624]}, True),
    ("eid-bool", "sel: {EventID: 1}\ncondition: sel", {"EventID": True}, False),
    ("eid-not", "sel: {EventID: 4624}\ncondition: not sel", {"EventID": 4625}, True),
    ("eid-not-same", "sel: {EventID: 4624}\ncondition: not sel", {"EventID": "4624"}, False),
    ("eid-or", "a: {EventID: 4624}\nb: {F: x}\ncondition: a or b", {"EventID": 7, "F": "x"}, True),
    ("eid-in-list", "sel: {EventID: [1, 4624]}\ncondition: sel", {"EventID": " 4624"}, True),
    ("eid-rule-float", "sel: {EventID: 4624.0}\ncondition: sel", {"EventID": 4624}, True),
    ("eid-absent", "sel: {EventID: 4624}\ncondition: not sel", {"F": "x"}, True),
    ("bool", "sel: {Enabled: true}\ncondition: sel", {"Enabled": "True"}, True),
    ("list-or", "sel: {F: [a, b]}\ncondition: sel", {"F": "B"}, True),
    ("map-and", "sel: {F: a, G: b}\ncondition: sel", {"F": "a", "G": "c"}, False),
    ("list-of-maps", "sel: [{F: a}, {G: b}]\ncondition: sel", {"G": "b"}, True),
    ("multi-valued", "sel: {F: b}\ncondition: sel", {"F": ["a", "b"]}, True),
    ("keyword", "kw: [evil]\ncondition: kw", {"F": "an EVIL thing", "G": 1}, True),
    ("keyword-none", "kw: [evil]\ncondition: kw", {"F": "good"}, False),
    ("keyword-wild", "kw: ['ev*il']\ncondition: kw", {"F": "x evXXil y"}, True),
    # Plain keywords are looked for in all the values joined by NUL: never across two values.
    ("keyword-not-across", "kw: [ab]\ncondition: kw", {"F": "xA", "G": "bx"}, False),
    ("keyword-in-list", "kw: [evil]\ncondition: kw", {"F": ["ok", "EVIL"]}, True),
    # Numbers are read as their text; True is not the number 1.
    ("keyword-int", "kw: ['4688']\ncondition: kw", {"EventID": 4688, "F": "x"}, True),
    ("keyword-bool", "kw: ['1']\ncondition: kw", {"F": True}, False),
    # Case folding sees each value alone: a capital sigma ending a value folds to the final
    # form, whatever value follows it in the event.
    ("keyword-final-sigma", "kw: ['οδος']\ncondition: kw", {"F": "ΟΔΟΣ", "G": "ΒΗΤΑ"}, True),
    ("keyword-sigma-start", "kw: ['σβ']\ncondition: kw", {"F": "ΑΒ", "G": "ΣΒ"}, True),
    ("keyword-number", "kw: ['142']\ncondition: kw", {"F": "x", "G": 1420}, True),
    ("keyword-nul", 'kw: ["a\\0b"]\ncondition: kw', {"F": "xA\0by"}, True),
    ("keyword-nul-across", 'kw: ["a\\0b"]\ncondition: kw', {"F": "xa", "G": "by"}, False),
    # Past a few words the keywords are looked for by automaton instead of one by one.
    ("keyword-many", f"kw: [{_MANY}, evil]\ncondition: kw", {"F": "an EVIL thing", "G": 1}, True),
    ("keyword-many-none", f"kw: [{_MANY}, evil]\ncondition: kw", {"F": "good"}, False),
    ("keyword-many-not-across", f"kw: [{_MANY}, ab]\ncondition: kw", {"F": "xA", "G": "bx"}, False),
    ("keyword-many-int", f"kw: [{_MANY}, '4688']\ncondition: kw", {"EventID": 4688}, True),
    # conditions
    ("and-not", "a: {F: x}\nb: {G: y}\ncondition: a and not b", {"F": "x", "G": "z"}, True),
    ("precedence", "a: {F: x}\nb: {G: y}\nc: {H: z}\ncondition: a or b and c", {"F": "x"}, True),
    (
        "precedence2",
        "a: {F: x}\nb: {G: y}\nc: {H: z}\ncondition: (a or b) and c",
        {"F": "x"},
        False,
    ),
    ("one-of", "s_a: {F: x}\ns_b: {G: y}\ncondition: 1 of s_*", {"G": "y"}, True),
    ("all-of", "s_a: {F: x}\ns_b: {G: y}\ncondition: all of s_*", {"G": "y"}, False),
    ("all-of-them", "a: {F: x}\nb: {G: y}\ncondition: all of them", {"F": "x", "G": "y"}, True),
    ("one-of-them", "a: {F: x}\nb: {G: y}\ncondition: 1 of them", {"G": "y"}, True),
    ("them-skips-underscore", "a: {F: x}\n_b: {G: y}\ncondition: all of them", {"F": "x"}, True),
    ("not-alone", "a: {F: x}\ncondition: not a", {"G": "q"}, True),
    ("two-conditions", "a: {F: x}\nb: {G: y}\ncondition: [a, b]", {"G": "y"}, True),
]


@pytest.mark.parametrize(
    ("detection", "event", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_value_semantics(
    fires: Check, detection: str, event: dict[str, Any], expected: bool
) -> None:
    assert fires(detection, event) is expected


def test_remembered_values_keep_their_type(compile_yaml: Compile) -> None:
    # One compiled set sees 1, True, 1.0 and "1" in turn: the compiled path remembers what each
    # value gives, and True == 1 == 1.0 as dictionary keys, yet only 1, 1.0 and "1" are numbers.
    compiled = compile_yaml(
        "title: t\nid: 11111111-1111-1111-1111-111111111111\nlogsource: {product: test}\n"
        "detection:\n  sel: {F: 1}\n  ref: {G|fieldref: F}\n  condition: sel or ref\nlevel: high\n"
    )
    cases: list[tuple[dict[str, Any], bool]] = [
        ({"F": 1}, True),
        ({"F": True}, False),
        ({"F": 1.0}, True),
        ({"F": "1"}, True),
        ({"F": True}, False),
        ({"F": 2, "G": "2"}, True),  # the same G, another F: field references are not remembered
        ({"F": 3, "G": "2"}, False),
    ]
    for fields, expected in cases:
        assert bool(compiled.match(event_from_mapping(fields))) is expected, fields


def test_long_values_are_remembered_within_a_budget(compile_yaml: Compile) -> None:
    # Values past the per-value memo's length go to a per-bucket table with a budget of
    # characters; whatever it holds or drops, every answer is the one a fresh scan gives.
    from sentinelle.engine import bucket

    compiled = compile_yaml(
        "title: t\nid: 11111111-1111-1111-1111-111111111111\nlogsource: {product: test}\n"
        "detection:\n  sel: {CommandLine|contains|all: ['-enc', 'frombase64']}\n"
        "  ref: {Parent|fieldref|endswith: CommandLine}\n  condition: sel or ref\nlevel: high\n"
    )
    padding = "A" * 40_000  # past MEMO_MAX_LEN, within LONG_MEMO_MAX_LEN
    long_hit = f"powershell -enc {padding} [Convert]::FromBase64String"
    long_miss = f"powershell -e {padding} FromBase64"
    cases: list[tuple[dict[str, Any], bool]] = [
        ({"CommandLine": long_hit}, True),
        ({"CommandLine": long_miss}, False),
        ({"CommandLine": long_hit}, True),  # remembered
        ({"CommandLine": long_miss}, False),
        ({"CommandLine": long_miss, "Parent": "x " + long_miss}, True),  # references: each time
        ({"CommandLine": long_miss, "Parent": "x"}, False),
        ({"CommandLine": "A" * (bucket.LONG_MEMO_MAX_LEN + 1) + " -enc frombase64"}, True),
    ]
    # Enough other long values to pass the budget, then the first ones again.
    varied = [
        ({"CommandLine": f"{n} {padding}"}, False)
        for n in range(bucket.LONG_MEMO_BUDGET // len(padding) + 2)
    ]
    for fields, expected in cases + varied + cases:
        assert bool(compiled.match(event_from_mapping(fields))) is expected, len(str(fields))
    # The compiled paths kept their long values within the budget (the reference has none).
    held = [b.long_bytes for b in getattr(compiled, "_buckets", {}).values()]
    assert all(0 < size <= bucket.LONG_MEMO_BUDGET for size in held)
