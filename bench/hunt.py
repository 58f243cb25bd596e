"""End-to-end benchmark of ``sentinelle hunt`` (issue 4), run through the real command line.

1. Over ``../shared/data/evtx/mitre`` with every SigmaHQ Windows rule: a cold-cache hunt (rules
   compiled, their buckets built, Python bytecode written), then a warm one, against the
   pySigma-SQLite way of the main Python peer (Zircolite): rules converted with the SQLite
   backend under the ``sysmon`` + ``windows-logsources`` and ``windows-audit`` +
   ``windows-logsources`` pipelines, events flattened into one SQLite table, one query per rule.
   Conversion is not timed (the peer ships converted rule sets); loading and querying are.
   Detections per rule are compared (distinct events per rule id).
2. Over the same corpus repeated ``--repeat`` times (copies: a hunt reads a file named twice,
   or linked, once), the decode floor (bare ``evtx`` parse plus ``orjson.loads`` of every
   record, one process, same files) and the hunt back to back, ``--runs`` times: the hunt's
   rate against the floor's (wall), the floor's CPU against the hunt's (all its processes, and
   the command's own process alone), and the share of each stage of the command (start-up,
   inputs, rules, reading and matching, timeline and outputs, as its ``--stats`` reports
   them) in wall-clock time and in the command's CPU time, beside the EVTX parser process's
   CPU; then peak RSS against the 1x run. On a shared, busy machine wall-clock ratios follow
   the load: the CPU ratios are the ones to compare between runs.

Usage: ``.venv/bin/python bench/hunt.py [--repeat 10] [--jobs N] [--skip-peer] [--runs N]
[--only-repeated] [--cache DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import mitre_evtx_files, ratio, run_child_json, sqlite_logs
from readers import decode_floor
from sentinelle.paths import shared_data_dir

BENCH_DIR = Path(__file__).resolve().parent
STAGES = ("start-up", "inputs", "rules", "reading and matching", "timeline and outputs")

# One CLI run in a fresh interpreter: the command itself, run as ``python -m sentinelle.cli.main``
# would run it, plus a report written at exit, after the EVTX parser processes are reaped (the
# first handler registered runs last): this process's CPU (the command's own) and its children's
# (the EVTX parser processes and forked workers; a forked worker's own parser process is not
# waited for, so with --jobs past 1 that share is undercounted). The command keeps its Python
# bytecode as an installed package does (PYTHONDONTWRITEBYTECODE, which this machine sets,
# would make every run compile Sentinelle's ~300 modules again: ~0.2 s), under a prefix next
# to the rule cache: the cold run writes it, the warm runs reuse it.
_HUNT_CHILD = """
import atexit, json, resource, runpy, sys, time
report = sys.argv[1]
def _report():
    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    with open(report, "w") as fh:
        json.dump({"command_cpu": me.ru_utime + me.ru_stime,
                   "children_cpu": kids.ru_utime + kids.ru_stime,
                   "peak_rss_kb": max(me.ru_maxrss, kids.ru_maxrss)}, fh)
atexit.register(_report)
sys.argv = ["sentinelle", "hunt", *sys.argv[2:]]
runpy.run_module("sentinelle.cli.main", run_name="__main__", alter_sys=True)
"""


def _run_hunt(cache: Path, args: Sequence[str]) -> dict[str, Any]:
    """The command in a fresh interpreter: wall seconds, CPU (its own, its children's), peak
    RSS, exit status and stderr."""
    env = dict(os.environ, SENTINELLE_CACHE_DIR=str(cache), PYTHONPYCACHEPREFIX=f"{cache}-pyc")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["COLUMNS"] = "400"  # the summary's lines unwrapped, for the stages
    with tempfile.TemporaryDirectory(prefix="bench-hunt-report-") as tmp:
        report = Path(tmp) / "report.json"
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _HUNT_CHILD, str(report), *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        seconds = time.perf_counter() - started
        usage = json.loads(report.read_text()) if report.is_file() else {}
    return {
        "seconds": seconds,
        "rc": proc.returncode,
        "stderr": proc.stderr[-6000:],
        "command_cpu": float(usage.get("command_cpu", 0.0)),
        "children_cpu": float(usage.get("children_cpu", 0.0)),
        "cpu": float(usage.get("command_cpu", 0.0)) + float(usage.get("children_cpu", 0.0)),
        "peak_rss_mb": float(usage.get("peak_rss_kb", 0)) / 1024,
    }


_PEER_CHILD = """
import sys
sys.path.insert(0, sys.argv[1])
import hunt
hunt.peer_child(sys.argv[2], sys.argv[3])
"""


def hunt_cli(cache: Path, *args: str, warm: bool = True) -> dict[str, Any]:
    """One CLI hunt; with ``warm``, repeated while it had to compile (see below). Its stages
    (wall and the command's CPU seconds) come from its ``--stats``."""
    with tempfile.TemporaryDirectory(prefix="bench-hunt-stats-") as tmp:
        stats_file = Path(tmp) / "stats.json"
        args = (*args, "--stats", str(stats_file))
        before = _entries(cache)
        result = _run_hunt(cache, args)
        for _ in range(3):
            after = _entries(cache)
            if not (warm and before and after - before):
                break
            # The cache key covers the engine's code: an edit during the bench means this run
            # compiled, and its time and memory would be the compiler's. Measure it again.
            print("  [cache miss: the engine changed during the bench; measured again]")
            before = after
            result = _run_hunt(cache, args)
        if result["rc"] not in (0, 1, 2):
            raise RuntimeError(f"hunt failed (status {result['rc']}):\n{result['stderr']}")
        stats = json.loads(stats_file.read_text(encoding="utf-8"))
    result["events"] = int(stats["events"])
    # In the order the command goes through them (--stats sorts its keys).
    named = stats["stages"]
    order = [n for n in STAGES if n in named] + sorted(set(named) - set(STAGES))
    result["stages"] = {
        name: (float(named[name]["seconds"]), float(named[name]["cpu_seconds"] or 0.0))
        for name in order
    }
    stderr = str(result["stderr"])
    for label in ("Files read", "Read errors", "Rules"):
        line = re.search(rf"^{label}\s+(.*?)\s*$", stderr, re.MULTILINE)
        print(f"  [{label.lower()}: {line.group(1) if line else '?'}]")
    return result


def _entries(cache: Path) -> set[str]:
    return {p.name for p in cache.rglob("*") if p.is_file()} if cache.is_dir() else set()


def detections_per_rule(jsonl: Path) -> Counter[str]:
    """Distinct events per rule id in a JSONL timeline (the fair per-rule figure)."""
    seen: dict[str, set[str]] = {}
    with jsonl.open("rb") as fh:
        for line in fh:
            obj = json.loads(line)
            if obj.get("rule_type") == "detection":
                seen.setdefault(obj["rule_id"], set()).add(obj["source"])
    return Counter({rule: len(sources) for rule, sources in seen.items()})


# -- the peer ----------------------------------------------------------------------------------


def convert_rules_sqlite(rules_dir: Path) -> tuple[list[tuple[str, str]], int]:
    """(rule id, SQL) for every rule under both pipeline pairs; and the count of failures."""
    from sigma.backends.sqlite.sqlite import sqliteBackend
    from sigma.collection import SigmaCollection
    from sigma.exceptions import SigmaError
    from sigma.pipelines.sysmon.sysmon import sysmon_pipeline
    from sigma.pipelines.windows.windows import (
        windows_audit_pipeline,
        windows_logsource_pipeline,
    )
    from sigma.rule import SigmaRule

    queries: list[tuple[str, str]] = []
    failures = 0
    pipelines = (
        sysmon_pipeline() + windows_logsource_pipeline(),
        windows_audit_pipeline() + windows_logsource_pipeline(),
    )
    files = sorted(rules_dir.rglob("*.yml"))
    for pipeline in pipelines:
        backend = sqliteBackend(pipeline)
        for path in files:
            try:
                collection = SigmaCollection.from_yaml(path.read_text(encoding="utf-8"))
                for rule in collection.rules:
                    if not isinstance(rule, SigmaRule):
                        continue  # the peer converts correlations separately; none here
                    for sql in backend.convert_rule(rule):
                        queries.append((str(rule.id), str(sql)))
            except (SigmaError, NotImplementedError, ValueError, TypeError, KeyError):
                failures += 1
    return queries, failures


def _flatten(node: Any, out: dict[str, str], last: str = "") -> None:
    # The peer keeps the last path component as the column name (its field mappings do the
    # same for the Windows fields), with "#attributes" and "#text" folded into their parent.
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "#attributes":
                # Provider attributes keep their owner's name, as the peer's field mappings do
                prefix = "Provider_" if last == "Provider" else ""
                for attr, attr_value in (value or {}).items():
                    _flatten(attr_value, out, prefix + attr)
                continue
            _flatten(value, out, last if key == "#text" else key)
    elif node is not None and last:
        # SQLite column names ignore case, as the peer's field matching does
        out[last.lower()] = node if isinstance(node, str) else json.dumps(node)


def peer_child(rules_dir: str, evtx_dir: str) -> None:
    """Zircolite's way, timed: decode and flatten events into SQLite, run every converted rule.

    ``bench/engine.py`` runs a narrower peer (one pipeline pair, over events this project's
    reader decoded); this one decodes the EVTX itself and merges both pipeline pairs, as
    Zircolite builds its default Windows rule set, and counts per rule.
    """
    import sqlite3

    import evtx
    import orjson

    queries, failures = convert_rules_sqlite(Path(rules_dir))
    started = time.perf_counter()
    rows: list[dict[str, str]] = []
    for f in sorted(Path(evtx_dir).rglob("*.evtx")):
        try:
            for rec in evtx.PyEvtxParser(str(f)).records_json():
                flat: dict[str, str] = {}
                assert rec is not None
                _flatten(orjson.loads(rec["data"]), flat)
                rows.append(flat)
        except (OSError, RuntimeError):
            continue
    columns = sorted({k for r in rows for k in r})
    db = sqlite_logs(columns, ([r.get(c) for c in columns] for r in rows))
    hits: dict[str, set[int]] = {}
    errors = 0
    for rule_id, sql in queries:
        query = sql.replace("<TABLE_NAME>", "logs").replace("SELECT *", "SELECT row_id", 1)
        try:
            found = hits.setdefault(rule_id, set())
            found.update(r[0] for r in db.execute(query))
        except sqlite3.Error:
            errors += 1
    seconds = time.perf_counter() - started
    counts = {rule: len(ids) for rule, ids in hits.items() if ids}
    print(
        json.dumps(
            {
                "seconds": seconds,
                "events": len(rows),
                "queries": len(queries),
                "convert_failures": failures,
                "query_errors": errors,
                "counts": counts,
            }
        )
    )


# -- the run -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=0, help="hunt --jobs (0: all cores)")
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument(
        "--runs", type=int, default=1, help="floor and repeated-corpus hunt, back to back, N times"
    )
    parser.add_argument(
        "--only-repeated",
        action="store_true",
        help="skip the 1x hunts (cold, warm, peer counts): one hunt fills the cache first",
    )
    parser.add_argument(
        "--cache", type=Path, help="rule cache to use and keep (default: a fresh one)"
    )
    args = parser.parse_args()

    files = mitre_evtx_files()
    corpus = shared_data_dir() / "evtx" / "mitre"
    rules = shared_data_dir() / "sigma" / "rules" / "windows"
    jobs = ["--jobs", str(args.jobs)]
    with tempfile.TemporaryDirectory(prefix="bench-hunt-") as tmp_name:
        tmp = Path(tmp_name)
        cache = args.cache if args.cache is not None else tmp / "cache"
        out = tmp / "timeline.jsonl"
        common = [str(corpus), "--rules", str(rules), "-f", "jsonl", "-o", str(out), *jobs]
        print(f"corpus: {len(files)} EVTX files in {corpus}; rules: {rules}")
        warm = _one_time(cache, common, args.skip_peer or args.only_repeated, args.only_repeated)

        # Copies, not links: a hunt reads a file it is given twice (or through a link) once.
        repeated = tmp / "repeated"
        copies: list[Path] = []
        for i in range(args.repeat):
            for f in files:
                copy = repeated / f"copy{i:02d}" / f.relative_to(corpus)
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, copy)
                copies.append(copy)
        big_out = tmp / "big.jsonl"
        big_args = [str(repeated), "--rules", str(rules), "-f", "jsonl", "-o", str(big_out), *jobs]
        runs = [_floor_and_hunt(copies, cache, big_args) for _ in range(args.runs)]
        for i, (floor, big) in enumerate(runs, 1):
            _print_big_run(args.repeat, i, len(runs), len(copies), floor, big)
        if len(runs) > 1:
            wall = statistics.median(
                ratio(ratio(b["events"], b["seconds"]), f["rate"]) for f, b in runs
            )
            cpu = statistics.median(ratio(f["cpu"], b["cpu"]) for f, b in runs)
            own = statistics.median(ratio(f["cpu"], b["command_cpu"]) for f, b in runs)
            print(
                f"median of {len(runs)} runs, ratio to the floor: wall {wall:.2f}, CPU {cpu:.2f}, "
                f"the command's process alone {own:.2f}"
            )
        big = min((b for _, b in runs), key=lambda b: b["cpu"])
        if args.only_repeated:
            return  # the 1x figure would be the compiler's
        print(
            f"peak RSS: 1x {warm['peak_rss_mb']:.0f} MB, {args.repeat}x "
            f"{big['peak_rss_mb']:.0f} MB "
            f"(+{100 * (ratio(big['peak_rss_mb'], warm['peak_rss_mb']) - 1):.0f} %)"
        )


def _one_time(cache: Path, common: list[str], skip_peer: bool, only_fill: bool) -> dict[str, Any]:
    """The hunts over the corpus once: cold cache, warm (best of 3) and the counts against the
    peer's; with ``only_fill``, one hunt that fills the cache (the warm figure then is its)."""
    if only_fill:
        return hunt_cli(cache, *common, warm=False)
    out = Path(common[common.index("-o") + 1])
    rules = Path(common[common.index("--rules") + 1])
    corpus = Path(common[0])
    cold = hunt_cli(cache, *common, warm=False)
    # The machine is shared: the best of three warm runs is the least disturbed one.
    warm = min((hunt_cli(cache, *common) for _ in range(3)), key=lambda r: r["seconds"])
    ours = detections_per_rule(out)
    events = warm["events"]
    print(f"sentinelle hunt, cold cache: {cold['seconds']:.2f} s, {events:,} events")
    print(
        f"sentinelle hunt, warm cache (best of 3): {warm['seconds']:.2f} s "
        f"({ratio(events, warm['seconds']):,.0f} events/s), peak RSS "
        f"{warm['peak_rss_mb']:.0f} MB, {sum(ours.values()):,} detections "
        f"from {len(ours)} rules"
    )

    if not skip_peer:
        peer = run_child_json(_PEER_CHILD, str(BENCH_DIR), str(rules), str(corpus))
        theirs = Counter({str(k): int(v) for k, v in dict(peer["counts"]).items()})  # type: ignore[call-overload]
        peer_s = float(peer["seconds"])  # type: ignore[arg-type]
        print(
            f"peer (pySigma SQLite, Zircolite way): {peer_s:.2f} s for {peer['events']:,} "
            f"events and {peer['queries']:,} queries ({peer['convert_failures']} rules not "
            f"converted, {peer['query_errors']} query errors), peak RSS "
            f"{peer['peak_rss_mb']:.0f} MB"
        )
        print(f"warm hunt speed-up over the peer: {ratio(peer_s, warm['seconds']):.1f}x")
        print("vs the peer measured here:")
        _compare(ours, theirs)
    reference = reference_counts()
    if reference:
        print("vs Zircolite 3.7.0's own counts (shared/data/reference/peer_counts_mitre.tsv):")
        _compare(ours, reference)

    return warm


def _floor_and_hunt(
    copies: list[Path], cache: Path, big_args: list[str]
) -> tuple[dict[str, float], dict[str, Any]]:
    """The decode floor over ``copies`` (bench/readers.py's: bare ``evtx`` parse plus
    ``orjson.loads``, one process) and the hunt over the same files, back to back."""
    load = os.getloadavg()[0]
    started, cpu_started = time.perf_counter(), time.process_time()
    records = decode_floor(copies, 1)
    seconds = time.perf_counter() - started
    floor = {
        "records": records,
        "seconds": seconds,
        "cpu": time.process_time() - cpu_started,
        "rate": ratio(records, seconds),
        "load": load,
    }
    return floor, hunt_cli(cache, *big_args)


def _print_big_run(
    repeat: int, run: int, runs: int, files: int, floor: dict[str, float], big: dict[str, Any]
) -> None:
    rate = ratio(big["events"], big["seconds"])
    print(
        f"{repeat}x corpus ({files:,} files), run {run} of {runs}, load average "
        f"{floor['load']:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"  decode floor: {floor['records']:,} records in {floor['seconds']:.2f} s "
        f"({floor['rate']:,.0f} records/s), {floor['cpu']:.2f} s CPU, one process"
    )
    print(
        f"  hunt: {big['events']:,} events in {big['seconds']:.2f} s ({rate:,.0f} events/s); "
        f"CPU {big['cpu']:.2f} s = the command's process {big['command_cpu']:.2f} s + "
        f"its children (EVTX parser process, workers) {big['children_cpu']:.2f} s"
    )
    print(
        f"  ratio to the floor: wall {ratio(rate, floor['rate']):.2f}, CPU "
        f"{ratio(floor['cpu'], big['cpu']):.2f} (all processes), "
        f"{ratio(floor['cpu'], big['command_cpu']):.2f} (the command's process alone: the "
        "bound where the parser process runs on a core of its own)"
    )
    stages = dict(big["stages"])
    wall_rest = big["seconds"] - sum(w for w, _ in stages.values())
    cpu_rest = big["command_cpu"] - sum(c for _, c in stages.values())
    stages["interpreter start, exit and the rest"] = (max(wall_rest, 0.0), max(cpu_rest, 0.0))
    print("  stages: wall s (share) | the command's CPU s (share; start-up from the process start)")
    for name, (wall, cpu) in stages.items():
        print(
            f"    {name:<38} {wall:6.2f} ({100 * ratio(wall, big['seconds']):3.0f} %) | "
            f"{cpu:5.2f} ({100 * ratio(cpu, big['command_cpu']):3.0f} %)"
        )
    print(
        f"    {'EVTX parser process (CPU only)':<38} {'':6} {'':7} | {big['children_cpu']:5.2f} "
        f"({100 * ratio(big['children_cpu'], big['cpu']):3.0f} % of all CPU)"
    )


def reference_counts() -> Counter[str]:
    """Distinct events per rule that Zircolite itself reported over this corpus, if present."""
    path = shared_data_dir() / "reference" / "peer_counts_mitre.tsv"
    if not path.is_file():
        return Counter()
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()[1:]]
    return Counter({row[0]: int(row[4]) for row in rows if len(row) >= 5 and row[4].isdigit()})


def _compare(ours: Counter[str], theirs: Counter[str]) -> None:
    rules = sorted(set(ours) | set(theirs))
    same = [r for r in rules if ours[r] == theirs[r]]
    differ = [r for r in rules if ours[r] != theirs[r]]
    print(
        f"  detections per rule: {len(same)} rules agree, {len(differ)} differ "
        f"(ours {sum(ours.values()):,} vs peer {sum(theirs.values()):,} rule-event pairs)"
    )
    for r in sorted(differ, key=lambda r: -abs(ours[r] - theirs[r]))[:25]:
        print(f"    {r}: ours {ours[r]}, peer {theirs[r]}")


if __name__ == "__main__":
    main()
