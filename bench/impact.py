"""Model checking and impact engine cost, as ratios to a baseline measured in the same run.

1. ``model check``: seconds to load and validate the worked example, then a dense 2 MB model
   (1,500 services with 200 dependencies each) and a model just under the 4 MiB cap; prints
   the time per byte of each as a ratio to the worked example's (near 1: linear in the size).
2. The engine: seconds per assessment of the worked example, then synthetic models 10x and 50x
   larger, with the cost per (component x site) pair as a ratio to the worked example's.

Run: ``.venv/bin/python bench/impact.py``.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from _common import ratio
from sentinelle.hospital import HospitalModel, assess, example_model_path, load_model


def synthetic(n_sites: int, n_components: int, seed: int = 7) -> dict[str, Any]:
    """A layered model: each component depends on up to 3 earlier ones, placements mixed."""
    rng = random.Random(seed)
    sites = [f"s{i}" for i in range(n_sites)]
    services: list[dict[str, Any]] = []
    infra: list[dict[str, Any]] = []
    assets: list[dict[str, Any]] = []
    for i in range(n_components):
        comp: dict[str, Any] = {"id": f"c{i}", "name": f"Component {i}"}
        kind = rng.choice(["site", "site", "replicated", "external", "local"])
        if kind == "site":
            comp["site"] = rng.choice(sites)
        elif kind == "replicated":
            comp["sites"] = rng.sample(sites, k=min(3, n_sites))
            comp["replicated"] = True
        elif kind == "external":
            comp["external"] = True
        else:
            comp["sites"] = "all"
        deps = rng.sample(range(i), k=min(i, rng.randint(0, 3)))
        comp["depends_on"] = [
            {"target": f"c{j}", "kind": rng.choice(["hard", "soft"])} for j in deps
        ]
        where = comp.get("sites", [comp.get("site", sites[0])])
        where = sites if where == "all" else where
        assets.append(
            {
                "id": f"a{i}",
                "site": rng.choice(where),
                "zone": "z",
                "hosts": [f"h{i}-{k}" for k in range(3)],
                "carries": [f"c{i}"],
            }
        )
        if i >= n_components // 3:
            # minor, so that the synthetic model needs no runbook files
            comp.update(criticality="minor", owner="o", on_call="c", rto="4h")
            services.append(comp)
        else:
            infra.append(comp)
    return {
        "hospital": {"name": f"synthetic {n_sites}x{n_components}"},
        "sites": [{"id": s, "name": s, "town": "t"} for s in sites],
        "zones": [{"id": "z", "name": "zone", "kind": "servers"}],
        "services": services,
        "infrastructure": infra,
        "assets": assets,
    }


def dense_model_text(services: int, dependencies: int, prefix: str) -> str:
    """Services that all depend on the same infrastructure components, one line each; the
    components' ids are ``prefix`` and a number (a longer prefix, more bytes per node)."""
    lines = [
        "hospital: {name: dense}",
        "sites: [{id: s0, name: S0, town: t}]",
        "zones: [{id: z, name: z, kind: servers}]",
        f"assets: [{{id: a0, site: s0, zone: z, hosts: [h0], carries: [{prefix}0]}}]",
        "infrastructure:",
    ]
    lines += [f"  - {{id: {prefix}{j}, name: I{j}, site: s0}}" for j in range(dependencies)]
    targets = ", ".join(f"{prefix}{j}" for j in range(dependencies))
    lines.append("services:")
    lines += [
        f"  - {{id: svc-{i:05d}, name: S{i}, criticality: minor, owner: o, on_call: c, rto: 4h,"
        f" site: s0, depends_on: [{targets}]}}"
        for i in range(services)
    ]
    return "\n".join(lines) + "\n"


def bench_check(tmp: Path) -> None:
    example = example_model_path()
    base = best_of(lambda: load_model(example), repeat=5)
    base_unit = base / example.stat().st_size
    print(f"model check, worked example: {base * 1000:.1f} ms for {example.stat().st_size} bytes")
    # Under the cap of 500,000 YAML nodes, a 4 MiB model needs longer ids.
    for label, services, prefix in (("2 MB", 1_500, "i"), ("at the 4 MiB cap", 1_560, "infra-00")):
        path = tmp / f"dense-{services}.yml"
        path.write_text(dense_model_text(services, 200, prefix), encoding="utf-8")
        seconds = best_of(lambda p=path: load_model(p), repeat=3)
        size = path.stat().st_size
        print(
            f"model check, {label} ({size} bytes, {services} services x 200 dependencies):"
            f" {seconds:.2f} s, time per byte {ratio(seconds / size, base_unit):.2f}x"
            " the worked example's"
        )


def best_of(fn: Any, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def measure(model: HospitalModel, trouble: dict[str, list[str]]) -> tuple[float, int]:
    seconds = best_of(lambda: assess(model, **trouble))
    pairs = len(model.components) * len(model.sites)
    return seconds, pairs


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bench_check(Path(tmp))
    example = load_model(example_model_path())
    load_s = best_of(lambda: load_model(example_model_path()))
    base_s, base_pairs = measure(
        example, {"actions": ["cut:internet", "isolate:snz"], "compromised": ["dc-cen01"]}
    )
    base_unit = base_s / base_pairs
    print(
        f"worked example: load {load_s * 1000:.1f} ms, assess {base_s * 1000:.2f} ms"
        f" ({base_pairs} component-site pairs)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for n_sites, n_comp in ((30, 90), (60, 220)):
            path = Path(tmp) / f"m{n_sites}.yml"
            path.write_text(yaml.safe_dump(synthetic(n_sites, n_comp)), encoding="utf-8")
            model = load_model(path)
            trouble = {"actions": ["isolate:s1", "cut:c0"], "compromised": ["h1-0"]}
            seconds, pairs = measure(model, trouble)
            print(
                f"synthetic {n_sites} sites x {n_comp} components: assess {seconds * 1000:.1f} ms"
                f" ({pairs} pairs), cost per pair {ratio(seconds / pairs, base_unit):.2f}x"
                " the worked example's"
            )


if __name__ == "__main__":
    main()
