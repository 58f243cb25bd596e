"""Per-rule detection counts on ``../shared/data/evtx/mitre`` against a peer engine's counts.

Reads ``../shared/data/reference/peer_counts_mitre.tsv`` (rule id, title, level, raw and
deduplicated counts) and prints every rule whose count differs from Sentinelle's, plus the rules
only one side reports. The causes of the differences are written down in docs/SEMANTICS.md.

    .venv/bin/python bench/peer_counts.py [--all]
"""

from __future__ import annotations

import argparse
import csv
from collections import Counter

from _common import mitre_evtx_files
from sentinelle.engine import compile_rules
from sentinelle.paths import shared_data_dir
from sentinelle.readers import read_paths
from sentinelle.sigma.loader import load_rules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--all", action="store_true", help="print equal counts too")
    args = parser.parse_args()
    base = shared_data_dir()
    peer: dict[str, tuple[str, int]] = {}
    with (base / "reference" / "peer_counts_mitre.tsv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            peer[row["rule_id"]] = (row["title"], int(row["raw_count"]))
    sigma = base / "sigma"
    ruleset = load_rules(
        [sigma / "rules", sigma / "rules-emerging-threats", sigma / "rules-threat-hunting"]
    )
    compiled = compile_rules(ruleset)
    titles = {r.id: r.title for r in compiled.rules}
    ours: Counter[str] = Counter()
    events = 0
    for batch in read_paths(mitre_evtx_files()):
        events += len(batch.events)
        for det in compiled.match_batch(batch):
            ours[det.rule_id] += 1
    same = differ = 0
    print("rule_id\tours\tpeer\ttitle")
    for rid in sorted(set(peer) | set(ours), key=lambda r: -(ours[r] + peer.get(r, ("", 0))[1])):
        theirs = peer.get(rid, ("", 0))[1]
        title = titles.get(rid) or peer.get(rid, ("?", 0))[0]
        if ours[rid] == theirs:
            same += 1
            if not args.all:
                continue
        else:
            differ += 1
        loaded = "" if rid in titles else "  [not loaded here]"
        print(f"{rid}\t{ours[rid]}\t{theirs}\t{title}{loaded}")
    print(f"{events} events; {same} rules with equal counts, {differ} differ")


if __name__ == "__main__":
    main()
