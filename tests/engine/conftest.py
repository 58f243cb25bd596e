"""One fixture runs every engine test through every evaluation path: compiled, compiled and
then restored from its cache form (buckets built, pickled and unpickled), and reference."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from sentinelle.engine import CompiledRules, compile_rules
from sentinelle.events import event_from_mapping
from sentinelle.sigma.loader import load_rules
from sentinelle.sigma.logsources import LogsourceMap, Source
from tests.engine.restore import restored

# Tests use `logsource: {product: test}`: every event belongs to it, whatever its channel.
TEST_LOGSOURCES = LogsourceMap(entries={("test", None, None): (Source(channel=None),)})

Compile = Callable[..., CompiledRules]
Check = Callable[[str, Mapping[str, Any]], bool]


@pytest.fixture(params=["compiled", "cached", "reference"])
def evaluator(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def compile_yaml(tmp_path: Path, evaluator: str) -> Compile:
    """Compile rule documents (YAML text, several separated by ---) with the current evaluator."""
    counter = [0]

    def build(
        text: str,
        *,
        logsources: LogsourceMap = TEST_LOGSOURCES,
        placeholders: Mapping[str, Sequence[str]] | None = None,
    ) -> CompiledRules:
        counter[0] += 1
        path = tmp_path / f"rule{counter[0]}.yml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        compiled = compile_rules(
            load_rules([path]),
            logsources=logsources,
            placeholders=placeholders or {},
            reference=evaluator == "reference",
        )
        if evaluator == "cached":
            return restored(compiled)
        return compiled

    return build


@pytest.fixture
def fires(compile_yaml: Compile) -> Check:
    """Does a one-rule detection block (YAML under `detection:`) fire on one event?"""

    def check(detection: str, fields: Mapping[str, Any]) -> bool:
        body = textwrap.indent(textwrap.dedent(detection).strip(), "    ")
        compiled = compile_yaml(
            f"title: t\nid: 11111111-1111-1111-1111-111111111111\nlogsource: {{product: test}}\n"
            f"detection:\n{body}\nlevel: high\n"
        )
        assert not compiled.errors, [str(e) for e in compiled.errors]
        return bool(compiled.match(event_from_mapping(fields)))

    return check
