"""Reader benchmark over the shared EVTX attack corpus (``../shared/data/evtx/mitre``).

Prints, from one run: the events/s of the bare ``evtx`` parse (``records_json`` and nothing
else), of the decode floor (the same plus ``orjson.loads`` of every record: the least any Python
reader must do), of Sentinelle's EVTX reader producing normalised batches, the reader's ratio to
the floor (target >= 0.7), and the peak RSS of a whole read of 1x and 10x the corpus (must not
grow with the input: 10x within 20 % of 1x).

All three read the same list of the corpus's files (listing the folder is not measured); the
reader sniffs each file's format from its content, as it does for any input. The machine is
shared and noisy, so the measurements are interleaved round by round and the best
round of each is kept. The parser baselines use the parser's compact output (``indent=False``),
the stricter of its two modes, so the ratio is not flattered by a slow baseline.

    .venv/bin/python bench/readers.py [--repeat N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import evtx
import orjson

from _common import mitre_evtx_files, ratio, run_child_json
from sentinelle.readers import evtx as reader_module
from sentinelle.readers import read_paths

_READER = "sentinelle reader (normalised batches)"

_RSS_CHILD = """
import json, resource, sys
sys.path.insert(0, sys.argv[1])
from sentinelle.readers import evtx as reader_module
from sentinelle.readers import read_paths

_READER = "sentinelle reader (normalised batches)"
from sentinelle.readers import evtx as reader
paths = [sys.argv[2]] * int(sys.argv[3])
count = sum(len(batch.events) for batch in read_paths(paths))
reader._POOL.close()  # the worker exits, so its peak is counted in RUSAGE_CHILDREN
me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"events": count, "peak_rss_mb": me, "worker_peak_rss_mb": worker}))
"""


def bare_parse(files: list[Path], repeat: int, indent: bool) -> int:
    count = 0
    for _ in range(repeat):
        for path in files:
            for _record in evtx.PyEvtxParser(str(path), indent=indent).records_json():
                count += 1
    return count


def decode_floor(files: list[Path], repeat: int) -> int:
    count = 0
    loads = orjson.loads
    for _ in range(repeat):
        for path in files:
            for record in evtx.PyEvtxParser(str(path), indent=False).records_json():
                loads(record["data"])  # type: ignore[index]  # records are never None
                count += 1
    return count


def reader(files: list[Path], repeat: int) -> int:
    # The same list of files as the baselines: listing the folder is outside every measurement,
    # sniffing each file's format is inside the reader's.
    return sum(len(batch.events) for batch in read_paths(files * repeat))


def worker_cpu_seconds() -> float:
    """CPU time used so far by the idle EVTX workers (Linux /proc), 0 where unavailable."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for worker in list(reader_module._POOL._idle):
        try:
            stat = Path(f"/proc/{worker.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(stat[11]) + int(stat[12])) / ticks  # utime + stime
    return total


def timed(fn: Callable[[], int]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (this process and its EVTX worker) and the event count."""
    start, cpu, worker = time.perf_counter(), time.process_time(), worker_cpu_seconds()
    count = fn()
    used = time.process_time() - cpu + worker_cpu_seconds() - worker
    return time.perf_counter() - start, used, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="corpus copies per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (best kept)")
    args = parser.parse_args()
    files = mitre_evtx_files()
    corpus = Path(str(files[0]).split("/mitre/")[0]) / "mitre"

    load = os.getloadavg()[0]
    reader(files, 1)  # warm-up: page cache, and the worker process started once
    cases: dict[str, Callable[[], int]] = {
        "bare parse (records_json, default output)": lambda: bare_parse(files, args.repeat, True),
        "bare parse (records_json, compact output)": lambda: bare_parse(files, args.repeat, False),
        "decode floor (compact parse + orjson.loads)": lambda: decode_floor(files, args.repeat),
        "sentinelle reader (normalised batches)": lambda: reader(files, args.repeat),
    }
    best: dict[str, float] = dict.fromkeys(cases, 0.0)
    cpu_us: dict[str, float] = dict.fromkeys(cases, float("inf"))
    counts: dict[str, int] = {}
    for _ in range(args.rounds):
        for name, fn in cases.items():
            seconds, cpu, count = timed(fn)
            counts[name] = count
            best[name] = max(best[name], count / seconds)
            cpu_us[name] = min(cpu_us[name], cpu / count * 1e6)

    print(
        f"corpus: {corpus} ({len(files)} files, {counts[next(iter(cases))] // args.repeat} "
        f"records) x{args.repeat}, best of {args.rounds} interleaved rounds"
    )
    print(f"  load average at start: {load:.1f} on {os.cpu_count()} cores")
    for name, rate in best.items():
        print(f"  {name:<46} {rate:>10,.0f} events/s   {cpu_us[name]:6.1f} CPU us/event")
    floor = best["decode floor (compact parse + orjson.loads)"]
    ours = best[_READER]
    print(f"  {'reader / decode floor':<46} {ratio(ours, floor):>10.2f}   (target >= 0.70)")
    cpu_ratio = ratio(cpu_us["decode floor (compact parse + orjson.loads)"], cpu_us[_READER])
    print(f"  {'CPU per event, floor / reader':<46} {cpu_ratio:>10.2f}")
    if counts["sentinelle reader (normalised batches)"] != counts[next(iter(cases))]:
        print("  WARNING: the reader and the bare parse disagree on the record count")

    src = str(Path(__file__).resolve().parents[1] / "src")
    rss = {}
    for copies in (1, 10):
        result = run_child_json(_RSS_CHILD, src, str(corpus), str(copies))
        rss[copies] = result
        print(
            f"  peak RSS {copies:>2}x corpus ({result['events']:,} events): "
            f"reader {float(str(result['peak_rss_mb'])):.0f} MiB, "
            f"EVTX worker {float(str(result['worker_peak_rss_mb'])):.0f} MiB"
        )
    growth = ratio(float(str(rss[10]["peak_rss_mb"])), float(str(rss[1]["peak_rss_mb"])))
    print(f"  {'peak RSS 10x / 1x':<46} {growth:>10.2f}   (target <= 1.20)")
    summary = {"events_per_s": best, "cpu_us_per_event": cpu_us, "load": load}
    print(json.dumps({**summary, "ratio": ratio(ours, floor), "rss_growth": growth}))


if __name__ == "__main__":
    main()
