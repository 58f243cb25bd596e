"""Rule-level features: chained correlations, aliases, generate, boolean conditions, rejects."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sentinelle.engine.correlation import Correlator, parse_correlation
from sentinelle.errors import RuleError

from .helpers import base_rule, build, run, summary

LOGONS = base_rule("failed_logon") + "---" + base_rule("successful_login", level="informational")

# The specification's own example: many failed logins followed by a successful one.
CHAINED = (
    LOGONS
    + """
---
title: Many failed logins
id: 0e95725d-7320-415d-80f7-004da920fc11
name: many_failed_logins
correlation:
    type: event_count
    rules: [failed_logon]
    group-by: [User]
    timespan: 10m
    condition: {gte: 3}
---
title: Brute force success
id: f7c5a8e6-5b57-4f0c-9d5b-4b8b1f0b5a6e
correlation:
    type: temporal_ordered
    rules: [many_failed_logins, successful_login]
    group-by: [User]
    timespan: 1h
level: critical
"""
)


def test_chained_correlation_consumes_the_inner_correlation_output() -> None:
    setup = build(CHAINED)
    out = run(
        setup,
        [
            ("successful_login", 0, {"User": "bob"}),  # success before the failures: no order
            ("failed_logon", 10, {"User": "bob"}),
            ("failed_logon", 20, {"User": "bob"}),
            ("failed_logon", 30, {"User": "bob"}),  # inner fires at 30 (hidden: generate false)
            ("successful_login", 40, {"User": "eve"}),  # other user
            ("successful_login", 50, {"User": "bob"}),  # outer fires
        ],
    )
    assert summary(out) == [("Brute force success", 50, 2.0, {"User": "bob"})]
    alert = out[0]
    assert alert.level == "critical"
    assert alert.details["rules_matched"] == ["many_failed_logins", "successful_login"]
    # The outer alert's events: the last event of the inner alert, then the success.
    assert [e.record for e in alert.events] == [4, 6]
    assert alert.first_seen == 30
    correlator = setup.correlator
    assert correlator.stats.hidden == 1
    # Both referenced rules are hidden from the output: generate defaults to false.
    ids = {setup.bases["failed_logon"].id, setup.bases["successful_login"].id}
    assert correlator.suppressed_rule_ids == frozenset(ids)


def test_generate_true_keeps_the_referenced_rules_and_inner_outputs() -> None:
    setup = build(
        CHAINED.replace(
            "    timespan: 1h\nlevel: critical", "    timespan: 1h\n    generate: true\nlevel: high"
        )
    )
    out = run(
        setup,
        [("failed_logon", t, {"User": "bob"}) for t in (10, 20, 30)]
        + [("successful_login", 50, {"User": "bob"})],
    )
    assert summary(out) == [
        ("Many failed logins", 30, 3.0, {"User": "bob"}),
        ("Brute force success", 50, 2.0, {"User": "bob"}),
    ]
    # The outer rule now generates its references; the inner one still hides failed_logon.
    assert setup.correlator.suppressed_rule_ids == frozenset({"failed_logon"})


INSIDE, OUTSIDE = "10.0.0.5", "203.0.113.5"
NETWORK = base_rule("internal_error") + "---" + base_rule("new_network_connection")


def test_aliases_map_a_group_by_name_to_a_field_per_rule() -> None:
    # The specification's example: the address that is the destination of an HTTP 500 is the
    # source of a new connection within ten seconds.
    setup = build(
        NETWORK
        + """
---
title: Error then connection back
correlation:
    type: temporal
    rules: [internal_error, new_network_connection]
    group-by: [internal_ip, remote_ip]
    timespan: 10s
    aliases:
        internal_ip:
            internal_error: destination.ip
            new_network_connection: source.ip
        remote_ip:
            internal_error: source.ip
            new_network_connection: destination.ip
"""
    )
    out = run(
        setup,
        [
            ("internal_error", 0, {"source.ip": "203.0.113.5", "destination.ip": "10.0.0.5"}),
            # Same two addresses but not swapped: a different group.
            (
                "new_network_connection",
                3,
                {"source.ip": "203.0.113.5", "destination.ip": "10.0.0.5"},
            ),
            (
                "new_network_connection",
                4,
                {"source.ip": "10.0.0.5", "destination.ip": "203.0.113.5"},
            ),
        ],
    )
    assert summary(out) == [
        (
            "Error then connection back",
            4,
            2.0,
            {"internal_ip": "10.0.0.5", "remote_ip": "203.0.113.5"},
        )
    ]


def test_an_alias_without_a_mapping_for_a_rule_reads_the_alias_name_itself() -> None:
    setup = build(
        NETWORK
        + """
---
title: Same host
correlation:
    type: temporal
    rules: [internal_error, new_network_connection]
    group-by: [host]
    timespan: 10s
    aliases:
        host:
            internal_error: destination.ip
"""
    )
    out = run(
        setup,
        [
            ("internal_error", 0, {"destination.ip": "10.0.0.5"}),
            ("new_network_connection", 1, {"host": "10.0.0.5"}),
        ],
    )
    assert summary(out) == [("Same host", 1, 2.0, {"host": "10.0.0.5"})]


RECON = base_rule("recon_a") + "---" + base_rule("recon_b")


def test_boolean_condition_without_not_fires_as_soon_as_it_holds() -> None:
    setup = build(
        RECON
        + """
---
title: a or b twice
correlation:
    type: temporal
    rules: [recon_a, recon_b]
    timespan: 1m
    condition: recon_a or recon_b
"""
    )
    out = run(setup, [("recon_b", 5, {})])
    assert summary(out) == [("a or b twice", 5, 1.0, {})]
    assert out[0].details["window"] == "sliding"


def test_boolean_condition_with_not_waits_for_the_window_to_close() -> None:
    setup = build(
        RECON
        + """
---
title: a without b
correlation:
    type: temporal
    rules: [recon_a, recon_b]
    group-by: [Computer]
    timespan: 1m
    condition: recon_a and not recon_b
"""
    )
    out = run(
        setup,
        [
            ("recon_a", 0, {"Computer": "h1"}),
            ("recon_a", 1, {"Computer": "h2"}),
            ("recon_b", 30, {"Computer": "h2"}),  # h2 saw b: no alert
            ("recon_a", 200, {"Computer": "h3"}),  # closes h1 at 60 and h2 at 61
        ],
    )
    assert [(d.timestamp, d.group) for d in out] == [
        (60, {"Computer": "h1"}),
        (200, {"Computer": "h3"}),  # cut by the end of input
    ]


@pytest.mark.parametrize(
    ("correlation", "reason"),
    [
        (
            "type: event_count\n    rules: [nowhere]\n    timespan: 1m\n    condition: {gte: 1}",
            "references unknown rule 'nowhere'",
        ),
        (
            "type: value_percentile\n    rules: [recon_a]\n    timespan: 1m\n"
            "    condition: {field: x, gte: 1}",
            "needs condition.percentile",
        ),
        (
            "type: value_percentile\n    rules: [recon_a]\n    timespan: 1m\n"
            "    condition: {field: x, gte: 1, percentile: 101}",
            "outside 0-100",
        ),
        (
            "type: temporal_ordered\n    rules: [recon_a, recon_b]\n    timespan: 1m\n"
            "    condition: recon_a and recon_b",
            "only honoured on temporal",
        ),
        (
            "type: event_count\n    rules: [recon_a, recon_a]\n    timespan: 1m\n"
            "    condition: {gte: 1}",
            "listed more than once",
        ),
        (
            "type: value_sum\n    rules: [recon_a]\n    timespan: 1m\n"
            "    condition: {field: [x, y], gte: 1}",
            "exactly one condition.field",
        ),
        (
            "type: event_count\n    rules: [recon_a]\n    timespan: 1m\n"
            "    condition: {gte: 1}\n    aliases: {h: {recon_b: x}}",
            "does not use",
        ),
    ],
)
def test_rules_that_cannot_be_honoured_are_rejected_with_a_reason(
    correlation: str, reason: str
) -> None:
    setup = build(RECON + f"---\ntitle: bad\ncorrelation:\n    {correlation}\n")
    assert setup.correlator.rules == ()
    [error] = setup.correlator.errors
    assert reason in error.message
    assert error.location is not None and error.location.source == "rules.yml"
    assert setup.correlator.suppressed_rule_ids == frozenset()  # nothing hidden for a reject


def test_cycles_and_rules_depending_on_rejected_ones_are_rejected() -> None:
    setup = build(
        RECON
        + """
---
title: loop one
name: one
correlation: {type: event_count, rules: [two], timespan: 1m, condition: {gte: 1}}
---
title: loop two
name: two
correlation: {type: event_count, rules: [one], timespan: 1m, condition: {gte: 1}}
---
title: on top
correlation: {type: event_count, rules: [one], timespan: 1m, condition: {gte: 1}}
---
title: fine
correlation: {type: event_count, rules: [recon_a], timespan: 1m, condition: {gte: 1}}
"""
    )
    assert [c.title for c in setup.correlator.rules] == ["fine"]
    messages = sorted(e.message for e in setup.correlator.errors)
    assert len(messages) == 3
    assert sum("cycle" in m for m in messages) >= 2


def test_parse_correlation_reports_invalid_documents_with_their_location() -> None:
    from sigma.exceptions import SigmaRuleLocation

    doc = yaml.safe_load(
        "title: x\ncorrelation: {type: event_count, rules: [a], condition: {gte: 1}}"
    )
    with pytest.raises(RuleError, match=r"^r\.yml:7: .*timespan"):
        parse_correlation(doc, SigmaRuleLocation(Path("r.yml"), line=7))
    doc = yaml.safe_load(
        "title: x\ncorrelation: {type: event_count, rules: [a], timespan: 1m, condition: {eq: ten}}"
    )
    with pytest.raises(RuleError, match="must be a number"):
        parse_correlation(doc)


def test_pysigma_rules_without_exact_bounds_still_work() -> None:
    from sigma.collection import SigmaCollection
    from sigma.correlations import SigmaCorrelationRule

    from sentinelle.engine.correlation import BaseRuleRef

    collection = SigmaCollection.from_yaml(
        base_rule("recon_a")
        + "---\ntitle: c\ncorrelation: {type: event_count, rules: [recon_a], timespan: 5s,"
        " condition: {gt: 1}}\n"
    )
    rule, correlation = collection.rules
    assert isinstance(correlation, SigmaCorrelationRule)
    correlator = Correlator([correlation], [BaseRuleRef.from_sigma(rule)])
    assert [str(c.threshold) for c in correlator.rules] == ["gt 1"]


def test_temporal_ordered_over_too_many_rules_is_refused() -> None:
    names = [f"step{i}" for i in range(65)]
    setup = build(
        "---".join(base_rule(n) for n in names)
        + f"---\ntitle: long\ncorrelation: {{type: temporal_ordered, rules: [{', '.join(names)}],"
        " timespan: 1h}\n"
    )
    [error] = setup.correlator.errors
    assert "more than 64 is refused" in error.message
