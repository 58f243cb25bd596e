"""Benchmark of correlation state under a flood (issue 20): peak memory and what is detected.

A FortiGate SSL-VPN password spray with ``--flood`` failed logins from as many distinct
addresses in its middle (``tests/correlation/spray.py``), hunted with the shipped FortiGate
rules through the real command line, against a baseline measured in the same run: the same
file where the flood comes from one address (as many lines and detections, one group). The
ratio of peak RSS is what the correlation state of the flood costs; the spray must be
detected in both.

Usage: ``.venv/bin/python bench/correlation.py [--flood 101000] [--python PATH]``
(``--python``: the interpreter of another checkout, to measure it the same way.)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.correlation import spray

from _common import ratio, run_child_json

RULES = Path(__file__).resolve().parents[1] / "src" / "sentinelle" / "rules" / "fortigate"
SPRAYING = "FortiGate SSL-VPN Password Spraying"

_CHILD = """
import json, os, resource, subprocess, sys, time
python, cache, out, *args = sys.argv[1:]
env = dict(os.environ, SENTINELLE_CACHE_DIR=cache, SENTINELLE_CONFIG_DIR=cache + "-config",
           COLUMNS="250")
t = time.perf_counter()
p = subprocess.run([python, "-m", "sentinelle.cli.main", "hunt", *args, "-f", "jsonl", "-o", out,
                    "--jobs", "1"], capture_output=True, text=True, env=env)
wall = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": wall, "peak_rss_mb": ru.ru_maxrss / 1024, "rc": p.returncode,
                  "stderr": p.stderr[-3000:]}))
"""


def one_address(path: Path, flood: int) -> Path:
    """The baseline: the same lines, the flood's addresses all replaced by one."""
    with path.open("w", encoding="utf-8") as out:
        for line in spray.spray_lines(flood):
            out.write(re.sub(r"remip=10\.\d+\.\d+\.\d+", "remip=10.0.0.1", line) + "\n")
    return path


def hunt(python: str, work: Path, log: Path) -> dict[str, Any]:
    out = work / (log.stem + ".jsonl")
    cache = work / "cache"
    hunt_args = [str(log), "--rules", str(RULES)]
    run_child_json(_CHILD, python, str(cache), str(out), *hunt_args)  # compiles the rules
    result = run_child_json(_CHILD, python, str(cache), str(out), *hunt_args)
    if result["rc"] not in (0, 1):
        raise RuntimeError(f"hunt failed:\n{result['stderr']}")
    titles = [json.loads(line)["rule_title"] for line in out.read_text().splitlines()]
    result["sprays"] = titles.count(SPRAYING)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flood", type=int, default=101_000)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sentinelle-bench-corr-") as tmp:
        work = Path(tmp)
        flooded = spray.write(work / "flood.log", args.flood)
        baseline = one_address(work / "baseline.log", args.flood)
        size = flooded.stat().st_size / 2**20
        print(f"spray with a flood of {args.flood:,} addresses: {size:.1f} MiB, {args.python}")
        base = hunt(args.python, work, baseline)
        flood = hunt(args.python, work, flooded)
        for name, r in (("one address (baseline)", base), ("flood", flood)):
            print(
                f"  {name:24s} {r['seconds']:7.2f} s  peak RSS {r['peak_rss_mb']:7.1f} MB  "
                f"spray detected: {r['sprays']}"
            )
        seconds = ratio(flood["seconds"], base["seconds"])
        memory = ratio(flood["peak_rss_mb"], base["peak_rss_mb"])
        print(f"  flood / baseline: time {seconds:.2f}x, peak RSS {memory:.2f}x")
        lost = [line.strip() for line in str(flood["stderr"]).splitlines() if "state full" in line]
        for line in lost:
            print(f"  {line}")


if __name__ == "__main__":
    main()
