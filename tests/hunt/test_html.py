"""The HTML report groups and bounds what it shows, whatever the hunt (no browser needed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sentinelle.detections import Detection
from sentinelle.hunt.outputs import html as report_module
from tests.hunt.helpers import make_detection, write_report


def _write(dets: list[Detection], path: Path, timeline: Path | None = None) -> str:
    return write_report(dets, path, timeline).read_text(encoding="utf-8")


def test_groups_by_rule_and_host_with_counts(tmp_path: Path) -> None:
    dets = [
        make_detection({"Computer": "DC1", "CommandLine": "a"}, level="critical", title="Dump"),
        make_detection({"Computer": "DC1"}, level="low", title="Noise", rule_id="n"),
        make_detection({"Computer": "PC2"}, level="low", title="Noise", rule_id="n"),
        make_detection({"Computer": "PC2"}, level="low", title="Noise", rule_id="n"),
    ]
    text = _write(dets, tmp_path / "r.html", timeline=tmp_path / "t.csv")
    assert "Detections by rule (2 rules, 4 detections)" in text
    assert "Detections by host (2 hosts)" in text
    # most severe first, whatever the counts
    assert text.index('title="Dump"') < text.index('title="Noise"')
    noise = re.search(r'title="Noise">Noise</span><span class="c n">([\d,]+)</span>', text)
    assert noise and noise.group(1) == "3"
    assert text.count('<details class="grp rules">') == 2
    assert text.count('<details class="grp hosts">') == 2
    assert str(tmp_path / "t.csv") in text  # the full list is there
    assert "<script" not in text


def test_size_is_bounded_and_what_is_left_out_is_counted(tmp_path: Path) -> None:
    rules = report_module.MAX_RULES + 30
    hosts = report_module.MAX_HOSTS + 40
    dets = [
        make_detection(
            {"Computer": f"host-{i % hosts}", "CommandLine": "x " * 2000},
            title=f"Rule {i % rules}",
            rule_id=f"r{i % rules}",
            level="medium",
            record=i,
        )
        for i in range(6000)
    ]
    text = _write(dets, tmp_path / "r.html")
    assert text.count('<details class="grp rules">') == report_module.MAX_RULES
    assert text.count('<details class="grp hosts">') == report_module.MAX_HOSTS
    assert "And 30 more rules with" in text
    assert "And 40 more hosts with" in text
    assert "-o timeline.csv" in text  # no timeline file given: says how to get one
    assert len(text.encode()) < 2_500_000
    examples = text.count('<pre class="detail">')
    assert examples <= report_module.EXAMPLES_PER_RULE * report_module.MAX_RULES
    assert all(len(m) <= report_module.MAX_TEXT for m in re.findall(r'"detail">([^<]*)<', text))


def test_example_budget_stops_examples_not_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_module, "EXAMPLE_BUDGET", 3000)
    dets = [make_detection({"CommandLine": "y" * 500}, record=i) for i in range(50)]
    text = _write(dets, tmp_path / "r.html")
    assert text.count('<pre class="detail">') < 5
    assert "more left out for size" in text
    assert "50 detections" in text
