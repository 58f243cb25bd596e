"""An impact report stays a small multiple of its model, however deep the dependencies go.

Each entry names what it depends on that failed and points into the report's steps; a chain of
N components used to repeat the whole path in every entry (N squared names: a 227 KB model of a
chain of 4,000 gave 200 MB of JSON).
"""

from __future__ import annotations

from pathlib import Path

import orjson

from sentinelle.hospital import assess, load_model
from tests.hospital.conftest import json_path


def write_chain(path: Path, length: int) -> Path:
    """``c0 <- c1 <- ... <- c{length-1}``: each service depends on the one before it."""
    lines = [
        "hospital: {name: chain}",
        "sites: [{id: s0, name: S0, town: t}]",
        "zones: [{id: z, name: z, kind: servers}]",
        "assets: [{id: a0, site: s0, zone: z, hosts: [h0], carries: [c0]}]",
        "services:",
        "  - {id: c0, name: C0, criticality: minor, owner: o, on_call: c, rto: 1h, site: s0}",
    ]
    lines += [
        f"  - {{id: c{i}, name: C{i}, criticality: minor, owner: o, on_call: c, rto: 1h,"
        f" site: s0, depends_on: [c{i - 1}]}}"
        for i in range(1, length)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def report_bytes(model_path: Path) -> tuple[int, dict[str, object]]:
    data = assess(load_model(model_path), unavailable=["h0"]).to_dict()
    return len(orjson.dumps(data, option=orjson.OPT_INDENT_2)), data


def test_json_report_of_a_long_chain_is_a_small_multiple_of_the_model(tmp_path: Path) -> None:
    short = write_chain(tmp_path / "short.yml", 1_000)
    long = write_chain(tmp_path / "long.yml", 4_000)
    short_out, _ = report_bytes(short)
    long_out, data = report_bytes(long)
    # Four times the chain, four times the report (sixteen times when every entry held its
    # whole path), and within a small multiple of the model's own size.
    assert long_out / short_out < 4.5
    assert long_out < 15 * long.stat().st_size
    services = data["services"]
    assert isinstance(services, list) and len(services) == 4_000
    last = services[-1]
    assert last["state"] == "down" and last["via"] == "c3998"
    # The whole path is still there, one step at a time.
    assert json_path(data, last) == [f"c{i}" for i in range(3_999, -1, -1)] + [
        "asset:a0",
        "host:h0",
    ]
    assert last["reason"] == "down: c3999 -> c3998 -> ... -> host:h0 (host h0 unavailable)"
