"""Checking a model costs time in proportion to its size, never to its size squared.

No timing here (the machine is shared): the test counts the Python calls a load makes, a
measure of work that does not move with the load of the machine. ``bench/impact.py`` prints the
time per byte of a small and of a 2 MB model.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import FrameType
from typing import Any

from sentinelle.hospital import load_model


def write_dense_model(path: Path, services: int, dependencies: int) -> Path:
    """Services each depending on the same ``dependencies`` infrastructure components: the
    shape (many components, long dependency lists) where a duplicate check that compares each
    dependency with the ones before it, or an id check that copies the ids seen so far, goes
    quadratic."""
    lines = [
        "hospital: {name: dense}",
        "sites: [{id: s0, name: S0, town: t}]",
        "zones: [{id: z, name: z, kind: servers}]",
        "infrastructure:",
        *(f"  - {{id: infra-{j}, name: I{j}, site: s0}}" for j in range(dependencies)),
        "services:",
    ]
    deps = ", ".join(f"infra-{j}" for j in range(dependencies))
    for i in range(services):
        lines.append(
            f"  - {{id: svc-{i}, name: S{i}, criticality: minor, owner: o, on_call: c,"
            f" rto: 4h, site: s0, depends_on: [{deps}]}}"
        )
    lines.append("assets: [{id: a0, site: s0, zone: z, hosts: [h0], carries: [infra-0]}]")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def python_calls(path: Path) -> int:
    """How many Python-level calls (generator steps included) loading ``path`` makes in the
    hospital package (the YAML parser's own work is linear, and would hide ours)."""
    count = 0
    package = str(Path(load_model.__code__.co_filename).parent)

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal count
        if event == "call" and frame.f_code.co_filename.startswith(package):
            count += 1

    sys.setprofile(profile)
    try:
        load_model(path)
    finally:
        sys.setprofile(None)
    return count


def test_checking_work_grows_linearly_with_the_model(tmp_path: Path) -> None:
    small = write_dense_model(tmp_path / "small.yml", services=40, dependencies=40)
    # Twice the services, twice the dependencies each: four times the text.
    large = write_dense_model(tmp_path / "large.yml", services=80, dependencies=80)
    size_ratio = large.stat().st_size / small.stat().st_size
    work_ratio = python_calls(large) / python_calls(small)
    assert 3.0 < size_ratio < 4.5
    # Linear work follows the size (4x); a part quadratic in the number of components or in
    # the length of a dependency list makes it 8x to 16x.
    assert work_ratio < size_ratio * 1.25, (work_ratio, size_ratio)
