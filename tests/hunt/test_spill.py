"""Sorted runs kept in memory up to a bound, on disk past it, merged alike (spill.py)."""

from __future__ import annotations

import random
from pathlib import Path

from sentinelle.detections import Detection
from sentinelle.hunt.spill import (
    AnyRun,
    HeldRun,
    Run,
    RunSink,
    close_writers,
    merge_runs,
    sort_key,
)
from tests.hunt.helpers import make_detection


def _detections(n: int, seed: int) -> list[Detection]:
    rng = random.Random(seed)
    return [
        make_detection(
            {"EventID": 4625, "n": i},
            float(rng.randrange(50)) if i % 9 else None,  # ties, and events without a time
            rule_id=f"r-{rng.randrange(3)}",
            source=f"logs/{rng.choice('abc')}.evtx",
            record=rng.randrange(1000),
        )
        for i in range(n)
    ]


def _written(
    tmp_path: Path, batches: list[list[Detection]], budget: int = 0
) -> tuple[RunSink, list[AnyRun]]:
    """Each batch written as a run by one sink of ``budget``, its spill file closed after."""
    sink = RunSink(tmp_path, budget=budget)
    try:
        return sink, [sink.write(batch) for batch in batches]
    finally:
        close_writers(tmp_path)


def _keys(dets: list[Detection]) -> list[tuple[object, ...]]:
    return [(*d.sort_key, d.event.fields["n"] if d.event else None) for d in dets]


def test_runs_stay_in_memory_up_to_the_budget_and_spill_past_it(tmp_path: Path) -> None:
    batches = [_detections(10, seed) for seed in range(5)]
    sink, runs = _written(tmp_path, batches, budget=25)
    # 10 + 10 fit in 25; the third would make 30: it and every later run go to disk, and the
    # memory held never passes the budget.
    assert [type(r) for r in runs] == [HeldRun, HeldRun, Run, Run, Run]
    assert sink.held == 20
    spilled = [r for r in runs if isinstance(r, Run)]
    assert all(r.end > r.start for r in spilled)
    assert Path(spilled[0].path).stat().st_size == spilled[-1].end
    merged = list(merge_runs(runs, tmp_path))
    expected = sorted((d for batch in batches for d in batch), key=sort_key)
    assert _keys(merged) == _keys(expected)


def test_a_zero_budget_spills_every_run(tmp_path: Path) -> None:
    sink, runs = _written(tmp_path, [_detections(3, seed) for seed in range(4)])
    assert all(isinstance(r, Run) for r in runs)
    assert sink.held == 0


def test_held_and_spilled_runs_merge_in_passes(tmp_path: Path) -> None:
    """More runs than the fan-in: the passes on disk take the runs held in memory too."""
    batches = [_detections(7, seed) for seed in range(12)]
    _, runs = _written(tmp_path, batches, budget=40)
    assert {type(r) for r in runs} == {HeldRun, Run}
    expected = sorted((d for batch in batches for d in batch), key=sort_key)
    assert _keys(list(merge_runs(runs, tmp_path, fan_in=3))) == _keys(expected)
