"""Fuzz target: the rule loader and compiler, from the bytes of a rule file to matchers.

What must hold whatever the file: loading and compiling never raise (every problem is a
``RuleError`` located in that file), and the rules that compiled run on events, the compiled
matchers and the reference evaluator agreeing.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from tests.fuzz import harness

with harness.instrumentation(__name__ == "__main__"):
    import sentinelle.engine
    import sentinelle.sigma.loader  # noqa: F401 - the code under test, instrumented

if TYPE_CHECKING:
    from sentinelle.sigma.logsources import LogsourceMap

_PATH = harness.scratch_dir("rules") / "rule.yml"
# Events the compiled rules meet: fields and values rules commonly test, dashes, a number.
_EVENTS: tuple[dict[str, object], ...] = (
    {"EventID": 4625, "Channel": "Security", "CommandLine": "cmd /c whoami -all", "x": 1},
    {"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Image": "C:\\a\\b.exe"},
    {"action": "ssl-login-fail", "remip": "203.0.113.7", "user": "alice", "x": "\u2013x"},
)


def fuzz_one(data: bytes) -> None:
    from sentinelle.engine import CompiledRules, compile_rules
    from sentinelle.events import event_from_mapping
    from sentinelle.sigma.loader import load_rules

    _PATH.write_bytes(data)
    ruleset = load_rules([_PATH])
    for error in ruleset.errors:
        assert error.location is not None and error.location.source == str(_PATH), error
    compiled = compile_rules(ruleset, logsources=_logsources(), placeholders={})
    for error in compiled.rejections():
        assert error.location is not None, error
    reference = CompiledRules(compiled.plan, compiled.correlations, reference=True)
    for number, fields in enumerate(_EVENTS):
        event = event_from_mapping(fields, record=number, timestamp=1.7e9 + number)
        found = [d.rule_id for d in compiled.match(event)]
        assert found == [d.rule_id for d in reference.match(event)], fields


@functools.cache
def _logsources() -> LogsourceMap:
    from sentinelle.sigma.logsources import load_logsource_map

    return load_logsource_map()


if __name__ == "__main__":
    harness.main(fuzz_one, __name__)
