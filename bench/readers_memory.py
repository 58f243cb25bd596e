"""Peak memory of the readers on inputs shaped to exhaust it, against ordinary input of the
same size read in the same run.

The hostile shapes of issue 17: 100 syslog lines of 60,000 structured-data parameters each
(about 94 MB) and 800 CSV rows of 100,000 columns (about 160 MB). Each file is read whole by
``read_file`` in a fresh interpreter (batches dropped as they come, as every consumer does);
the baseline is a syslog file of ordinary lines of the same size. The ratio says how much more
memory a hostile shape costs than the same bytes of ordinary logs.

    .venv/bin/python bench/readers_memory.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import run_child_json

CHILD = """
import json, resource, sys
from sentinelle.readers import read_file
events = issues = 0
for batch in read_file(sys.argv[1]):
    events += len(batch.events)
    issues += len(batch.issues)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"events": events, "issues": issues, "peak_rss_mb": peak}))
"""


def write_files(folder: Path) -> dict[str, Path]:
    params = " ".join(f'p{n}="v{n}"' for n in range(60_000))  # a line under the 1 MiB cap
    syslog = folder / "structured.log"
    with syslog.open("w") as out:
        for n in range(100):
            out.write(f"<13>1 2024-03-03T12:00:{n % 60:02d}Z host app 1 ID [big@1 {params}] m\n")
    csv = folder / "wide.csv"
    with csv.open("w") as out:
        out.write(",".join(f"c{n}" for n in range(100_000)) + "\n")
        row = ",".join("v" for _ in range(100_000)) + "\n"
        for _ in range(800):
            out.write(row)
    size = max(syslog.stat().st_size, csv.stat().st_size)
    plain = folder / "ordinary.log"
    line = "Mar  3 12:00:00 pacs sshd[7]: Failed password for admin from 192.0.2.9 port 22\n"
    with plain.open("w") as out:
        block = line * 10_000
        for _ in range(size // len(block) + 1):
            out.write(block)
    return {
        "ordinary syslog (baseline)": plain,
        "syslog, 60,000 SD params": syslog,
        "CSV, 100,000 columns": csv,
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="sentinelle-bench-") as folder:
        files = write_files(Path(folder))
        results = {name: run_child_json(CHILD, str(path)) for name, path in files.items()}
        base = float(results["ordinary syslog (baseline)"]["peak_rss_mb"])  # type: ignore[arg-type]
        print(
            f"{'input':30} {'MB':>6} {'events':>9} {'issues':>7} {'peak RSS MB':>12} {'ratio':>6}"
        )
        for name, path in files.items():
            result = results[name]
            peak = float(result["peak_rss_mb"])  # type: ignore[arg-type]
            print(
                f"{name:30} {path.stat().st_size / 1e6:6.0f} {result['events']:>9}"
                f" {result['issues']:>7} {peak:12.0f} {peak / base:6.2f}"
            )


if __name__ == "__main__":
    main()
