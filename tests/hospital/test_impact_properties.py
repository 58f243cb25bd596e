"""Properties of the impact engine: it terminates, and more trouble never improves anything.

Checked on the worked example and on random models (random dependency graphs, placements and
machines, written as YAML and loaded through the real loader).
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinelle.hospital import (
    HospitalModel,
    ImpactReport,
    ModelError,
    Placement,
    assess,
    example_model_path,
    load_model,
)

_CHU = load_model(example_model_path())


def _trouble(model: HospitalModel) -> st.SearchStrategy[dict[str, list[str]]]:
    """Random inputs for ``assess`` drawn from what the model names (and a few unknown names)."""
    sites = list(model.sites)
    components = list(model.components)
    local = [
        f"{c.id}@{s}"
        for c in model.components.values()
        if c.placement in (Placement.LOCAL, Placement.REPLICATED)
        for s in c.sites
    ]
    hosts = [h for a in model.assets.values() for h in a.example_hosts(2)]
    assets = list(model.assets)
    actions = st.one_of(
        st.sampled_from(sites).map(lambda s: f"isolate:{s}"),
        st.sampled_from(components).map(lambda c: f"cut:{c}"),
        *([st.sampled_from(local).map(lambda c: f"cut:{c}")] if local else []),
    )
    names = st.sampled_from([*hosts, *assets, "nobody-knows-me"])
    return st.fixed_dictionaries(
        {
            "actions": st.lists(actions, max_size=4),
            "unavailable": st.lists(st.one_of(names, st.sampled_from(components)), max_size=5),
            "compromised": st.lists(st.one_of(names, st.sampled_from(components)), max_size=4),
            "degraded": st.lists(st.one_of(names, st.sampled_from(components)), max_size=3),
        }
    )


def _run(model: HospitalModel, trouble: dict[str, list[str]]) -> ImpactReport:
    return assess(
        model,
        actions=trouble["actions"],
        unavailable=trouble["unavailable"],
        compromised=trouble["compromised"],
        degraded=trouble["degraded"],
    )


def _assert_no_better(model: HospitalModel, base: dict[str, list[str]], more: Any) -> None:
    union = {key: base[key] + more[key] for key in base}
    before = _run(model, base)
    after = _run(model, union)
    rows_before = (*before.entries, *before.infrastructure)
    rows_after = {(e.component, e.site): e for e in (*after.entries, *after.infrastructure)}
    assert len(rows_before) == len(rows_after)
    for entry in rows_before:
        later = rows_after[(entry.component, entry.site)]
        assert later.state.rank >= entry.state.rank, (entry.reason, later.reason)
        assert later.at_risk or not entry.at_risk, (entry.reason, later.reason)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_more_trouble_never_improves_a_state_on_the_example(data: st.DataObject) -> None:
    base = data.draw(_trouble(_CHU), label="base")
    more = data.draw(_trouble(_CHU), label="more")
    _assert_no_better(_CHU, base, more)


@st.composite
def random_models(draw: st.DrawFn) -> dict[str, Any]:
    """A random valid model: acyclic because dependencies only point to earlier components."""
    n_sites = draw(st.integers(1, 4))
    sites = [f"s{i}" for i in range(n_sites)]
    n_comp = draw(st.integers(1, 12))
    services: list[dict[str, Any]] = []
    infra: list[dict[str, Any]] = []
    assets: list[dict[str, Any]] = []
    for i in range(n_comp):
        cid = f"c{i}"
        comp: dict[str, Any] = {"id": cid, "name": f"Component {i}"}
        kind = draw(st.sampled_from(["site", "replicated", "external", "local-all"]))
        if kind == "site":
            comp["site"] = draw(st.sampled_from(sites))
            hosts_at = [comp["site"]]
        elif kind == "replicated":
            comp["sites"] = draw(st.lists(st.sampled_from(sites), min_size=1, unique=True))
            comp["replicated"] = True
            hosts_at = comp["sites"]
        elif kind == "external":
            comp["external"] = True
            hosts_at = sites
        else:
            comp["sites"] = "all"
            hosts_at = sites
        deps = draw(st.lists(st.integers(0, i - 1), unique=True, max_size=3)) if i else []
        comp["depends_on"] = [
            {"target": f"c{j}", "kind": draw(st.sampled_from(["hard", "soft"]))} for j in deps
        ]
        for k in range(draw(st.integers(0, 2))):
            assets.append(
                {
                    "id": f"a{i}-{k}",
                    "site": draw(st.sampled_from(hosts_at)),
                    "zone": "z",
                    "hosts": [f"h{i}-{k}-{n}" for n in range(draw(st.integers(1, 3)))],
                    "carries": [cid],
                }
            )
        if draw(st.booleans()):
            comp.update(criticality="minor", owner="o", on_call="c", rto="1h")
            services.append(comp)
        else:
            infra.append(comp)
    return {
        "hospital": {"name": "Random"},
        "sites": [{"id": s, "name": s, "town": "t"} for s in sites],
        "zones": [{"id": "z", "name": "zone", "kind": "servers"}],
        "services": services,
        "infrastructure": infra,
        "assets": assets,
    }


def _load(data: dict[str, Any]) -> HospitalModel:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.yml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return load_model(path)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_engine_terminates_and_is_monotone_on_random_models(data: st.DataObject) -> None:
    model = _load(data.draw(random_models(), label="model"))
    base = data.draw(_trouble(model), label="base")
    more = data.draw(_trouble(model), label="more")
    _assert_no_better(model, base, more)


@settings(max_examples=40, deadline=None)
@given(model=random_models(), data=st.data())
def test_any_back_edge_is_reported_as_a_real_cycle(model: dict[str, Any], data: Any) -> None:
    components = [*model["services"], *model["infrastructure"]]
    by_id = {c["id"]: c for c in components}
    # Add a dependency from an earlier component to a later one that (transitively) uses it.
    users = [
        (c["id"], dep["target"]) for c in components for dep in c["depends_on"] if dep["target"]
    ]
    if not users:
        return
    user, used = data.draw(st.sampled_from(users))
    by_id[used]["depends_on"].append({"target": user})
    try:
        _load(model)
    except ModelError as exc:
        cycles = [p.message for p in exc.problems if p.message.startswith("dependency cycle: ")]
        assert cycles, exc.problems
        for message in cycles:
            path = message.removeprefix("dependency cycle: ").split(" -> ")
            assert path[0] == path[-1]
            for a, b in itertools.pairwise(path):
                assert b in {d["target"] for d in by_id[a]["depends_on"]}, message
    else:
        raise AssertionError("a cycle was not reported")
