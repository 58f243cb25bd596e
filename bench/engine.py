"""Sigma engine benchmark over the shared EVTX attack corpus, repeated to >= 500,000 events.

Prints, from one run (baselines measured in the same run, the machine is shared and noisy):

1. events/s of the decode floor (bare ``evtx`` parse + ``orjson.loads`` of every record) and of
   the full pipeline (Sentinelle's reader, normalisation, every SigmaHQ rule), and their ratio
   (target >= 0.5);
2. time with the full rule set / time with 100 rules, on the engine alone over decoded events
   and on the full pipeline (target <= 1.5); the pipeline figures are the best of ``--rounds``
   interleaved rounds;
3. compile time of all SigmaHQ rules cold (empty cache, target <= 20 s) and from the cache
   (target <= 1 s), each in a fresh interpreter;
4. the same rules run the way the main Python peer (Zircolite) works: pySigma's SQLite backend
   with the Sysmon and Windows pipelines, the events in one SQLite table, one SQL query per rule;
   Sentinelle's engine on the same events must be >= 20x faster.

    .venv/bin/python bench/engine.py [--events 500000] [--rounds 2] [--skip-peer]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import pickle
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from _common import mitre_evtx_files, ratio, run_child_json, sqlite_logs
from readers import decode_floor  # the same floor bench/readers.py measures
from sentinelle.engine import CompiledRules, compile_rules
from sentinelle.events import Event
from sentinelle.paths import shared_data_dir
from sentinelle.readers import read_paths
from sentinelle.sigma.loader import RuleSet, load_rules

SRC = str(Path(__file__).resolve().parents[1] / "src")
_COMPILE_CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
t0 = time.perf_counter()
from sentinelle.engine import load_compiled
t1 = time.perf_counter()
compiled = load_compiled(sys.argv[3:], cache_dir=Path(sys.argv[2]))
t2 = time.perf_counter()
compiled.warm()
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "buckets_s": t3 - t2,
                  "rules": len(compiled.rules)}))
"""


def rule_dirs() -> list[Path]:
    base = shared_data_dir() / "sigma"
    return [base / "rules", base / "rules-emerging-threats", base / "rules-threat-hunting"]


def pipeline(files: Sequence[Path], repeat: int, compiled: CompiledRules) -> tuple[int, int]:
    """Read, normalise and match, as a hunt does: the reader's worker is offered the rules, so
    it matches part of the records itself when this process falls behind."""
    events = detections = 0
    for batch in read_paths(list(files) * repeat, rules=compiled):
        events += len(batch.events)
        detections += len(compiled.match_batch(batch))
    return events, detections


def decoded_events(files: Sequence[Path]) -> list[Event]:
    return [ev for batch in read_paths(files) for ev in batch.events]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def sample_rules(ruleset: RuleSet, compiled: CompiledRules, n: int) -> RuleSet:
    """``n`` rules spread evenly over the Windows rules that map to an event source."""
    mapped = {r.id for r in compiled.rules if r.sources and (r.logsource[0] == "windows")}
    pool = sorted(
        (r for r in ruleset.rules if r.id is not None and str(r.id) in mapped),
        key=lambda r: str(r.id),
    )
    step = max(1, len(pool) // n)
    return RuleSet(rules=pool[::step][:n])


def match_all(compiled: CompiledRules, events: Sequence[Event], rounds: int) -> float:
    best = math.inf
    for _ in range(rounds):
        seconds, _ = timed(lambda: sum(len(compiled.match(e)) for e in events))
        best = min(best, seconds)
    return best


# --- the peer: pySigma SQLite backend, one query per rule (as Zircolite does) -----------------


def peer_queries(ruleset: RuleSet, ids: set[str]) -> tuple[list[tuple[str, str]], int, float]:
    from sigma.backends.sqlite.sqlite import sqliteBackend
    from sigma.collection import SigmaCollection
    from sigma.exceptions import SigmaError
    from sigma.pipelines.sysmon.sysmon import sysmon_pipeline
    from sigma.pipelines.windows.windows import windows_logsource_pipeline

    backend = sqliteBackend(processing_pipeline=sysmon_pipeline() + windows_logsource_pipeline())
    queries: list[tuple[str, str]] = []
    failed = 0
    start = time.perf_counter()
    for rule in ruleset.rules:
        if rule.id is None or str(rule.id) not in ids:
            continue
        try:
            # A fresh copy: the pipelines rewrite the rule in place.
            fresh = SigmaCollection.from_dicts([rule.to_dict()])
            for sql in backend.convert(fresh):
                queries.append((str(rule.id), str(sql).replace("<TABLE_NAME>", "logs")))
        except (SigmaError, NotImplementedError, ValueError, TypeError, KeyError):
            failed += 1
    return queries, failed, time.perf_counter() - start


def peer_run(
    events: Sequence[Event], queries: Sequence[tuple[str, str]]
) -> tuple[float, float, int]:
    """Seconds to load the table, seconds to run every query, rows matched."""
    # SQLite column names ignore case: the first spelling of a name wins, as in Zircolite.
    columns: dict[str, str] = {}
    for ev in events:
        for name in ev.fields:
            columns.setdefault(name.lower(), name)
    names = list(columns.values())
    start = time.perf_counter()
    db = sqlite_logs(names, ([_cell(ev.fields.get(n)) for n in names] for ev in events))
    db.commit()
    loaded = time.perf_counter()
    matched = 0
    for _, sql in queries:
        # A column no event has makes the query fail: it cannot match (Zircolite skips it too).
        with contextlib.suppress(sqlite3.Error):
            matched += len(db.execute(sql).fetchall())
    return loaded - start, time.perf_counter() - loaded, matched


def _cell(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else str(value)  # SQLite integers are 64-bit
    return orjson.dumps(value, default=str).decode()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--events", type=int, default=500_000, help="minimum events per pass")
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds of the pipeline and engine-only timings"
    )
    parser.add_argument("--skip-peer", action="store_true", help="leave out the SQLite peer")
    args = parser.parse_args()

    files = mitre_evtx_files()
    figures: dict[str, Any] = {}

    # 3. compile, cold then cached, each in a fresh interpreter.
    with tempfile.TemporaryDirectory() as cache:
        dirs = [str(d) for d in rule_dirs()]
        cold = run_child_json(_COMPILE_CHILD, SRC, cache, *dirs)
        cached = run_child_json(_COMPILE_CHILD, SRC, cache, *dirs)
    figures["compile_cold_s"] = cold["load_s"]
    figures["compile_cached_s"] = cached["load_s"]
    figures["buckets_build_s"] = cached["buckets_s"]
    print(f"rules compiled: {cold['rules']}")
    print(f"compile cold (empty cache): {cold['load_s']:.2f} s   (target <= 20 s)")
    print(f"compile from cache:         {cached['load_s']:.2f} s   (target <= 1 s)")
    print(
        f"  + building every bucket's matchers (lazily, on first use): {cached['buckets_s']:.2f} s"
    )

    ruleset = load_rules(rule_dirs())
    full = compile_rules(ruleset)
    small = compile_rules(sample_rules(ruleset, full, 100))
    full.warm()
    small.warm()
    events = decoded_events(files)
    per_pass = len(events)
    repeat = max(1, math.ceil(args.events / per_pass))
    total = per_pass * repeat
    print(f"corpus: {len(files)} EVTX files, {per_pass} events; x{repeat} = {total} events")

    # 1. decode floor vs full pipeline, over the repeated corpus; the three measured in turn,
    # ``--rounds`` times, the best of each kept (a load spike hits one of them, not the ratio).
    floor_s = pipe_s = small_s = math.inf
    for _ in range(max(1, args.rounds)):
        seconds, floor_n = timed(lambda: decode_floor(list(files), repeat))
        floor_s = min(floor_s, seconds)
        seconds, (pipe_n, dets) = timed(lambda: pipeline(files, repeat, full))
        pipe_s = min(pipe_s, seconds)
        seconds, (small_n, small_dets) = timed(lambda: pipeline(files, repeat, small))
        small_s = min(small_s, seconds)
    floor_rate, pipe_rate = floor_n / floor_s, pipe_n / pipe_s
    figures.update(
        decode_floor_eps=floor_rate,
        pipeline_eps=pipe_rate,
        pipeline_over_floor=ratio(pipe_rate, floor_rate),
        pipeline_full_over_100=ratio(pipe_s, small_s),
        detections=dets,
    )
    print(f"decode floor (evtx + orjson.loads): {floor_rate:10.0f} events/s")
    print(f"full pipeline, all rules: {pipe_rate:10.0f} events/s  ({dets} detections)")
    print(f"pipeline / floor: {ratio(pipe_rate, floor_rate):.2f}   (target >= 0.5)")
    print(f"pipeline, 100 rules: {small_n / small_s:10.0f} events/s  ({small_dets} detections)")

    # 2. full set / 100 rules, engine alone on decoded events, and on the whole pipeline.
    t_full = match_all(full, events, args.rounds)
    t_small = match_all(small, events, args.rounds)
    figures.update(engine_full_eps=per_pass / t_full, engine_100_eps=per_pass / t_small)
    figures["engine_full_over_100"] = ratio(t_full, t_small)
    print(f"engine alone, full set: {per_pass / t_full:10.0f} events/s")
    print(f"engine alone, 100 rules: {per_pass / t_small:9.0f} events/s")
    engine_ratio, pipe_ratio = ratio(t_full, t_small), ratio(pipe_s, small_s)
    print(
        f"full set / 100 rules: engine {engine_ratio:.2f}, pipeline {pipe_ratio:.2f}"
        "  (target <= 1.5)"
    )

    # 4. the SQLite peer on one pass of the corpus, against our engine on the same events.
    if not args.skip_peer:
        mapped = {r.id for r in full.rules if r.sources and r.logsource[0] == "windows"}
        queries, failed, convert_s = peer_queries(ruleset, mapped)
        load_s, query_s, matched = peer_run(events, queries)
        peer_s = load_s + query_s
        # Our side measured conservatively: a fresh copy (empty value memos), one pass; the
        # best of three such copies, since one pass is short enough for a load spike to double.
        ours = math.inf
        for _ in range(3):
            fresh = pickle.loads(pickle.dumps(full))
            fresh.warm()
            seconds, _ = timed(lambda: sum(len(fresh.match(e)) for e in events))  # noqa: B023
            ours = min(ours, seconds)
        figures.update(
            peer_queries=len(queries),
            peer_convert_failed=failed,
            peer_convert_s=convert_s,
            peer_load_s=load_s,
            peer_query_s=query_s,
            engine_same_events_s=ours,
            peer_over_engine=ratio(peer_s, ours),
        )
        print(
            f"peer (pySigma SQLite, one query per rule): {len(queries)} queries "
            f"({failed} rules failed to convert, conversion {convert_s:.1f} s, not counted)"
        )
        print(f"  table load {load_s:.2f} s + queries {query_s:.2f} s = {peer_s:.2f} s")
        print(f"  rows matched: {matched}")
        print(
            f"  Sentinelle engine on the same {per_pass} events: {ours:.2f} s"
            " (fresh copy, one pass; best of 3 copies)"
        )
        print(f"  peer / Sentinelle: {ratio(peer_s, ours):.1f}x   (target >= 20x)")
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
