"""Every modifier of the Sigma 2 appendix: detection, event and expectation side by side."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from tests.engine.conftest import Check

CASES: list[tuple[str, str, dict[str, Any], bool]] = [
    ("contains", "sel: {F|contains: vil}", {"F": "EVIL"}, True),
    ("contains-no", "sel: {F|contains: vil}", {"F": "good"}, False),
    ("startswith", "sel: {F|startswith: ev}", {"F": "Evil"}, True),
    ("startswith-no", "sel: {F|startswith: vi}", {"F": "Evil"}, False),
    ("endswith", "sel: {F|endswith: '.EXE'}", {"F": "a.exe"}, True),
    ("endswith-no", "sel: {F|endswith: '.exe'}", {"F": "a.exe.txt"}, False),
    ("all", "sel: {F|contains|all: [a, b]}", {"F": "xbxa"}, True),
    ("all-missing-one", "sel: {F|contains|all: [a, b]}", {"F": "xxa"}, False),
    ("exists", "sel: {F|exists: true}", {"F": ""}, True),
    ("exists-absent", "sel: {F|exists: true}", {"G": 1}, False),
    ("exists-false", "sel: {F|exists: false}", {"G": 1}, True),
    ("cased", "sel: {F|cased: Abc}", {"F": "Abc"}, True),
    ("cased-other-case", "sel: {F|cased: Abc}", {"F": "abc"}, False),
    ("cased-contains", "sel: {F|cased|contains: Bc}", {"F": "aBcd"}, True),
    ("neq", "sel: {F|neq: x}", {"F": "y"}, True),
    ("neq-equal", "sel: {F|neq: x}", {"F": "X"}, False),
    ("neq-absent", "sel: {F|neq: x}", {}, True),
    ("windash-slash", "sel: {F|windash|contains: ' -exec'}", {"F": "cmd /exec"}, True),
    ("windash-endash", "sel: {F|windash|contains: ' -exec'}", {"F": "cmd \u2013exec"}, True),
    ("windash-dash", "sel: {F|windash|contains: ' -exec'}", {"F": "cmd -exec"}, True),
    ("windash-no", "sel: {F|windash|contains: ' -exec'}", {"F": "cmd +exec"}, False),
    ("windash-emdash", "sel: {F|windash|endswith: ' -s'}", {"F": "x \u2014s"}, True),
    ("windash-bar", "sel: {F|windash|endswith: ' -s'}", {"F": "x \u2015s"}, True),
    ("windash-two", "sel: {F|windash|contains: '-a -b'}", {"F": "/a \u2013b"}, True),
    ("windash-two-no", "sel: {F|windash|contains: '-a -b'}", {"F": "/a +b"}, False),
    # Three dashes and more: one pattern with a dash class at each position.
    ("windash-three", "sel: {F|windash|contains: '-a -b -c'}", {"F": "x/a \u2013b -c"}, True),
    ("windash-three-no", "sel: {F|windash|contains: '-a -b -c'}", {"F": "x/a -b +c"}, False),
    ("windash-three-exact", "sel: {F|windash: '-a /b -c'}", {"F": "/A -B \u2015C"}, True),
    ("windash-three-long", "sel: {F|windash: '-a -b -c'}", {"F": "-a -b -cd"}, False),
    ("windash-three-star", "sel: {F|windash: '-a*-b?-c'}", {"F": "/a..-bx\u2014c"}, True),
    # Only a dash that starts a word after a non-word character varies (pySigma's rule).
    ("windash-inner-dash", "sel: {F|windash: '-param-name'}", {"F": "/param-name"}, True),
    ("windash-inner-fixed", "sel: {F|windash: '-param-name'}", {"F": "-param/name"}, False),
    ("windash-cased", "sel: {F|windash|cased: '-A -B -C'}", {"F": "/A /B /c"}, False),
    ("re", "sel: {F|re: '^a.c$'}", {"F": "abc"}, True),
    ("re-search", "sel: {F|re: 'b'}", {"F": "abc"}, True),
    ("re-cased", "sel: {F|re: '^a.c$'}", {"F": "ABC"}, False),
    ("re-i", "sel: {F|re|i: '^a.c$'}", {"F": "ABC"}, True),
    ("re-m", "sel: {F|re|m: '^b$'}", {"F": "a\nb"}, True),
    ("re-no-m", "sel: {F|re: '^b$'}", {"F": "a\nb"}, False),
    ("re-s", "sel: {F|re|s: 'a.b'}", {"F": "a\nb"}, True),
    ("re-no-s", "sel: {F|re: 'a.b'}", {"F": "a\nb"}, False),
    ("base64", "sel: {F|base64: evil}", {"F": "ZXZpbA=="}, True),
    ("base64-contains", "sel: {F|base64|contains: evil}", {"F": "x ZXZpbA== y"}, True),
    ("base64offset-1", "sel: {F|base64offset|contains: evil}", {"F": "eGV2aWw="}, True),
    ("base64offset-0", "sel: {F|base64offset|contains: evil}", {"F": "ZXZpbA"}, True),
    ("base64offset-no", "sel: {F|base64offset|contains: evil}", {"F": "Z29vZA=="}, False),
    ("wide-base64", "sel: {F|wide|base64: ab}", {"F": "YQBiAA=="}, True),
    ("utf16le-base64", "sel: {F|utf16le|base64: ab}", {"F": "YQBiAA=="}, True),
    ("utf16be-base64", "sel: {F|utf16be|base64: ab}", {"F": "AGEAYg=="}, True),
    ("wide-plain", "sel: {F|wide|contains: ab}", {"F": "xa\x00b\x00"}, True),
    ("lt", "sel: {F|lt: 5}", {"F": 4}, True),
    ("lt-equal", "sel: {F|lt: 5}", {"F": 5}, False),
    ("lte", "sel: {F|lte: 5}", {"F": "5"}, True),
    ("gt", "sel: {F|gt: 5}", {"F": 5.5}, True),
    ("gt-text", "sel: {F|gt: 5}", {"F": "abc"}, False),
    ("gte", "sel: {F|gte: 5}", {"F": 5}, True),
    ("cidr4", "sel: {IP|cidr: 10.0.0.0/8}", {"IP": "10.1.2.3"}, True),
    ("cidr4-no", "sel: {IP|cidr: 10.0.0.0/8}", {"IP": "11.1.2.3"}, False),
    ("cidr4-list", "sel: {IP|cidr: [10.0.0.0/8, 192.168.0.0/16]}", {"IP": "192.168.4.4"}, True),
    ("cidr6", "sel: {IP|cidr: 'fe80::/10'}", {"IP": "fe80::1"}, True),
    ("cidr6-no", "sel: {IP|cidr: 'fe80::/10'}", {"IP": "2001:db8::1"}, False),
    ("cidr-garbage", "sel: {IP|cidr: 10.0.0.0/8}", {"IP": "not an ip"}, False),
    ("fieldref", "sel: {F|fieldref: G}", {"F": "abc", "G": "ABC"}, True),
    ("fieldref-no", "sel: {F|fieldref: G}", {"F": "abc", "G": "abd"}, False),
    ("fieldref-missing", "sel: {F|fieldref: G}", {"F": "abc"}, False),
    ("fieldref-contains", "sel: {F|fieldref|contains: G}", {"F": "xabcx", "G": "abc"}, True),
    ("fieldref-startswith", "sel: {F|fieldref|startswith: G}", {"F": "abcx", "G": "abc"}, True),
    ("fieldref-endswith", "sel: {F|fieldref|endswith: G}", {"F": "abcx", "G": "abc"}, False),
    ("minute", "sel: {T|minute: 4}", {"T": "2024-05-06T03:04:05Z"}, True),
    ("hour", "sel: {T|hour: 3}", {"T": "2024-05-06 03:04:05.123"}, True),
    ("hour-other", "sel: {T|hour: 4}", {"T": "2024-05-06T03:04:05Z"}, False),
    ("day", "sel: {T|day: 6}", {"T": "2024-05-06T03:04:05Z"}, True),
    ("week", "sel: {T|week: 19}", {"T": "2024-05-06T03:04:05Z"}, True),
    ("month", "sel: {T|month: 5}", {"T": "2024-05-06T03:04:05Z"}, True),
    ("year", "sel: {T|year: 2024}", {"T": 1714964645}, True),
    ("time-garbage", "sel: {T|year: 2024}", {"T": "yesterday"}, False),
]


@pytest.mark.parametrize(
    ("detection", "event", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_modifier(fires: Check, detection: str, event: dict[str, Any], expected: bool) -> None:
    assert fires(detection + "\ncondition: sel", event) is expected


def test_expand_uses_placeholder_values(compile_yaml: Any) -> None:
    from sentinelle.events import event_from_mapping

    compiled = compile_yaml(
        """
        title: t
        logsource: {product: test}
        detection:
            sel: {F|expand: '%hosts%'}
            condition: sel
        """,
        placeholders={"hosts": ["alpha", "b*"]},
    )
    assert not compiled.errors
    assert compiled.match(event_from_mapping({"F": "beta"}))
    assert compiled.match(event_from_mapping({"F": "ALPHA"}))
    assert not compiled.match(event_from_mapping({"F": "gamma"}))


@pytest.mark.parametrize(
    ("detection", "reason"),
    [
        ("sel: {F|re: '(a)\\1'}", "not supported by RE2"),
        ("sel: {F|re: '(?=a)'}", "not supported by RE2"),
        ("sel: {F|expand: '%nowhere%'}", "placeholder %nowhere% has no values"),
        ("sel: {F|utf16|base64: ab}", "utf16 modifier"),
        ("sel: {F|contians: x}", "Unknown modifier 'contians'"),
    ],
    ids=["backreference", "lookahead", "placeholder", "utf16-bom", "unknown-modifier"],
)
def test_rule_that_cannot_be_honoured_is_rejected(
    compile_yaml: Any, detection: str, reason: str
) -> None:
    compiled = compile_yaml(
        "title: t\nlogsource: {product: test}\ndetection:\n    "
        + detection
        + "\n    condition: sel\n"
    )
    assert not compiled.rules
    assert len(compiled.errors) == 1
    err = compiled.errors[0]
    assert reason in str(err)
    # The line of the offending key, except for the utf16 check (the rule's first line).
    expected_line = 1 if "utf16" in reason else 4
    assert err.location is not None and err.location.line == expected_line


FILTERED = """
title: Whoami
id: 5a1e2b3c-0000-4000-8000-0000000000aa
name: whoami_run
logsource: {product: test}
detection:
    sel: {Image|endswith: '\\\\whoami.exe'}
    condition: sel
---
title: Admins may run whoami
logsource: {product: test}
filter:
    rules: [whoami_run]
    selection: {User: admin}
    condition: not selection
"""


def test_filter_document_removes_what_it_names(compile_yaml: Any) -> None:
    from sentinelle.events import event_from_mapping

    compiled = compile_yaml(FILTERED)
    assert not compiled.errors
    assert compiled.match(event_from_mapping({"Image": "C:\\w\\whoami.exe", "User": "bob"}))
    assert not compiled.match(event_from_mapping({"Image": "C:\\w\\whoami.exe", "User": "ADMIN"}))


CORRELATED = """
title: Whoami
id: 5a1e2b3c-0000-4000-8000-0000000000bb
name: whoami_run
logsource: {product: test}
detection:
    sel: {Image|endswith: '\\\\whoami.exe'}
    condition: sel
---
title: Many whoami
correlation:
    type: event_count
    rules: [whoami_run]
    group-by: [Computer]
    timespan: 5m
    condition: {gte: 2}
    generate: %s
level: high
"""


@pytest.mark.parametrize(("generate", "suppressed"), [("false", True), ("true", False)])
def test_base_rule_of_a_correlation_is_flagged_unless_generate(
    compile_yaml: Any, generate: str, suppressed: bool
) -> None:
    from sentinelle.events import event_from_mapping

    compiled = compile_yaml(CORRELATED % generate)
    assert not compiled.errors
    fields = {"Image": "C:\\w\\whoami.exe", "Computer": "pc1"}
    (first,) = compiled.match(event_from_mapping(fields, timestamp=1000.0))
    (second,) = compiled.match(event_from_mapping(fields, record=2, timestamp=1010.0))
    assert first.rule_name == "whoami_run"
    assert first.details.get("suppressed", False) is suppressed
    assert compiled.rules[0].suppressed is suppressed
    correlator = compiled.correlator()
    out = [*correlator.feed(first), *correlator.feed(second), *correlator.flush()]
    assert any(d.rule_type == "correlation" for d in out)


@pytest.mark.parametrize("dashes", [10, 1000])
def test_windash_compiles_in_time_linear_in_the_value(compile_yaml: Any, dashes: int) -> None:
    """pySigma wrote out 5**n strings (10 dashes: 9.8 million, 30 s); here one pattern."""
    from sentinelle.engine import ir
    from sentinelle.events import event_from_mapping

    value = " ".join(f"-o{i}" for i in range(dashes))
    with _deadline(30):  # a hang guard, not a benchmark
        compiled = compile_yaml(
            "title: t\nlogsource: {product: test}\ndetection:\n"
            f"    sel: {{F|windash|contains: '{value}'}}\n    condition: sel\n"
        )
    assert not compiled.errors
    (variant,) = compiled.plan.variants
    (atom,) = ir.atoms_of(variant.tree)
    assert isinstance(atom.matcher, ir.Pattern) and atom.matcher.parts.count(ir.DASH) == dashes
    mixed = " ".join(f"{ir.DASHES[i % 5]}o{i}" for i in range(dashes))
    assert compiled.match(event_from_mapping({"F": f"cmd {mixed} end"}))
    assert not compiled.match(event_from_mapping({"F": f"cmd {mixed.replace('o1', '+o1', 1)}"}))


@contextlib.contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
