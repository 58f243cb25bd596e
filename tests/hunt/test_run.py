"""Hunt orchestration pieces: selection, and correlation interleaving with the real engine."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sentinelle.cli.inputs import input_files
from sentinelle.detections import Detection
from sentinelle.engine import CompiledRules, load_compiled
from sentinelle.engine.bucket import Bucket
from sentinelle.events import Event, EventBatch
from sentinelle.hunt import run
from sentinelle.hunt.outputs.jsonl import JsonlWriter
from sentinelle.hunt.run import FileReader, Selection, correlate, run_hunt, tag_matches
from sentinelle.hunt.spill import RunSink, close_writers
from sentinelle.hunt.summary import HuntSummary
from sentinelle.readers import expand_paths, read_file
from tests.hunt.helpers import make_detection

FAILED_LOGONS = """
title: Failed logon
id: 0b2e7a3c-1111-4c1e-9d1e-000000000001
name: failed_logon
status: test
logsource: {product: windows, service: security}
detection:
    sel: {EventID: 4625}
    condition: sel
level: low
---
title: Logon brute force
id: 0b2e7a3c-1111-4c1e-9d1e-000000000002
status: test
correlation:
    type: event_count
    rules: [failed_logon]
    group-by: [TargetUserName]
    timespan: 5m
    condition: {gte: 3}
level: high
tags: [attack.credential-access, attack.t1110]
"""


def _logon(ts: float, record: int, user: str) -> Event:
    fields = {"Channel": "Security", "EventID": 4625, "TargetUserName": user, "Computer": "DC1"}
    return Event(fields, ts, "dc1.evtx", record)


def test_correlation_output_is_placed_in_time_order(tmp_path: Path) -> None:
    rules_file = tmp_path / "brute.yml"
    rules_file.write_text(FAILED_LOGONS)
    compiled = load_compiled([rules_file], cache_dir=tmp_path / "cache")
    assert not compiled.errors
    events = [
        _logon(100.0, 1, "admin"),
        _logon(110.0, 2, "bob"),
        _logon(120.0, 3, "admin"),
        _logon(130.0, 4, "admin"),  # third for admin within 5 minutes: the correlation fires
        _logon(900.0, 5, "admin"),
    ]
    base = compiled.match_batch(EventBatch("dc1.evtx", events))
    assert len(base) == 5
    correlator = compiled.correlator()
    out = list(correlate(sorted(base, key=lambda d: d.sort_key), correlator))
    kinds = [(d.rule_type, d.timestamp) for d in out]
    assert kinds == [
        ("detection", 100.0),
        ("detection", 110.0),
        ("detection", 120.0),
        # same time as the detection that completed it; Detection.sort_key then orders by the
        # first contributing event (record 1), so the correlation comes first
        ("correlation", 130.0),
        ("detection", 130.0),
        ("detection", 900.0),
    ]
    corr = out[3]
    assert corr.group == {"TargetUserName": "admin"}
    assert [e.record for e in corr.events] == [1, 3, 4]
    assert [d.sort_key for d in out] == sorted(d.sort_key for d in out)


def test_a_flood_of_one_timestamp_is_not_held_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failed logons all stamped the same second (a spray from as many addresses, syslog with
    whole seconds) are released as they come, not held until time moves: the buffer between
    the merge and the writers stays bounded, the output in time order, the correlation found."""
    monkeypatch.setattr(run, "MAX_HELD", 50)
    rules_file = tmp_path / "brute.yml"
    rules_file.write_text(FAILED_LOGONS)
    compiled = load_compiled([rules_file], cache_dir=tmp_path / "cache")
    events = [_logon(500.0, n, f"user{n}") for n in range(2_000)]
    events += [_logon(500.0, 2_000 + n, "admin") for n in range(3)] + [_logon(600.0, 9_999, "x")]
    base = sorted(compiled.match_batch(EventBatch("dc1.evtx", events)), key=lambda d: d.sort_key)
    consumed = 0

    def counted() -> Iterator[Detection]:
        nonlocal consumed
        for det in base:
            consumed += 1
            yield det

    held = 0
    out: list[Detection] = []
    for det in correlate(counted(), compiled.correlator()):
        held = max(held, consumed - len(out))
        out.append(det)
    assert held <= 51  # before: every detection of the second, 2,003
    assert len(out) == len(base) + 1
    times = [d.timestamp or 0.0 for d in out]
    assert times == sorted(times)
    assert [d.rule_title for d in out if d.rule_type == "correlation"] == ["Logon brute force"]


def test_selection_window_level_and_tags() -> None:
    sel = Selection(min_level="medium", since=100.0, until=200.0, tags=("t1059",))
    inside = make_detection({}, ts=150.0, level="high", tags=("attack.t1059.001",))
    assert sel.in_window(inside) and sel.shown(inside)
    assert not sel.in_window(make_detection({}, ts=99.9))
    assert sel.in_window(make_detection({}, ts=200.0))
    assert not sel.in_window(make_detection({}, ts=None))  # untimed events fall outside a window
    assert Selection().in_window(make_detection({}, ts=None))
    assert not sel.shown(make_detection({}, level="low", tags=("attack.t1059",)))
    assert not sel.shown(make_detection({}, level="critical", tags=("attack.t1003",)))


@pytest.mark.parametrize(
    ("tag", "wanted", "expected"),
    [
        ("attack.t1059.001", ["attack.t1059"], True),
        ("attack.t1059.001", ["T1059"], True),
        ("attack.t1059", ["attack.t1059.001"], False),
        ("attack.t10590", ["attack.t1059"], False),
        ("attack.execution", ["execution"], True),
        ("cve.2021-44228", ["cve"], True),
    ],
)
def test_tag_matching(tag: str, wanted: list[str], expected: bool) -> None:
    assert tag_matches(tag, wanted) is expected


def _security_rules(shared_data: Path, cache: Path) -> CompiledRules:
    rules = shared_data / "sigma" / "rules" / "windows" / "builtin" / "security"
    return load_compiled([rules], cache_dir=cache)


class _InterruptedAtTheEnd:
    """A progress display through which the user's Ctrl-C arrives once the files are read."""

    def start(self, files: int) -> None:
        pass

    def advance(self, events: int) -> None:
        pass

    def file_done(self) -> None:
        pass

    def stop(self) -> None:
        raise KeyboardInterrupt


def _open_spill_files() -> list[str]:
    targets = []
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            targets.append(str(fd.readlink()))
    return [t for t in targets if ".spill" in t]  # " (deleted)" once the hunt removed it


def _failed_logons(path: Path, *, batch_size: int) -> Iterator[EventBatch]:
    yield EventBatch(str(path), [_logon(100.0 + n, n, "admin") for n in range(1, 6)])


def test_an_interrupted_hunt_leaves_no_spill_file_open(tmp_path: Path) -> None:
    """The spill file of this process is closed however the hunt ends (it stayed open, in a
    module-level table, for the life of the process when the hunt stopped on an exception)."""
    rules_file = tmp_path / "brute.yml"
    rules_file.write_text(FAILED_LOGONS)
    compiled = load_compiled([rules_file], cache_dir=tmp_path / "cache")
    files = [tmp_path / "dc1.log", tmp_path / "dc2.log"]
    for path in files:
        path.write_text("")
    with pytest.raises(KeyboardInterrupt):
        run_hunt(
            files, compiled, _failed_logons, [], HuntSummary(), progress=_InterruptedAtTheEnd()
        )
    assert _open_spill_files() == []
    buf = io.StringIO()  # the process hunts on as before
    run_hunt(files, compiled, _failed_logons, [JsonlWriter(buf)], HuntSummary())
    assert [json.loads(line)["rule_type"] for line in buf.getvalue().splitlines()] == [
        "correlation"  # the failed logons only feed it (a base rule of a correlation is hidden)
    ]
    assert _open_spill_files() == []


def _jsonl_hunt(
    files: list[Path], compiled: CompiledRules, reader: FileReader, jobs: int
) -> tuple[str, HuntSummary]:
    buf = io.StringIO()
    summary = run_hunt(files, compiled, reader, [JsonlWriter(buf)], HuntSummary(), jobs=jobs)
    return buf.getvalue(), summary


def _dies_on_poison(path: Path, *, batch_size: int) -> Iterator[EventBatch]:
    """The real reader, except that reading ``poison.evtx`` kills the process outright."""
    if path.name == "poison.evtx":
        os._exit(9)
    return read_file(path, batch_size=batch_size)


@pytest.mark.corpus
def test_a_dying_worker_costs_only_its_file(shared_data: Path, tmp_path: Path) -> None:
    compiled = _security_rules(shared_data, tmp_path / "cache")
    good = sorted((shared_data / "evtx" / "mitre" / "TA0006-Credential Access").rglob("*.evtx"))
    poison = tmp_path / "poison.evtx"
    poison.write_bytes(good[0].read_bytes())
    expected, _ = _jsonl_hunt(good, compiled, read_file, jobs=1)
    assert expected
    got, summary = _jsonl_hunt([*good, poison], compiled, _dies_on_poison, jobs=2)
    assert got == expected
    assert (summary.files, summary.files_failed) == (len(good) + 1, 1)
    assert "worker process died" in str(summary.issue_samples[0])
    assert summary.issue_samples[0].location == str(poison)


@pytest.mark.corpus
def test_many_small_runs_merge_to_the_same_timeline(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled = _security_rules(shared_data, tmp_path / "cache")
    files = expand_paths([shared_data / "evtx" / "mitre" / "TA0006-Credential Access"])
    expected, summary = _jsonl_hunt(files, compiled, read_file, jobs=1)
    assert summary.detections > 30
    # a run every 7 detections and 3 runs merged at a time: several merge passes on disk
    monkeypatch.setattr(run, "RUN_SIZE", 7)
    monkeypatch.setattr(run, "MAX_OPEN_RUNS", 3)
    got, _ = _jsonl_hunt(files, compiled, read_file, jobs=2)
    assert got == expected


def _logon_storm(path: Path, *, batch_size: int) -> Iterator[EventBatch]:
    """Failed logons of a few users, out of time order, different in every file."""
    seed = sum(map(ord, path.name))
    events = [
        _logon(float((seed * 7 + n * 13) % 400), n, f"user{(seed + n) % 3}") for n in range(40)
    ]
    for start in range(0, len(events), 16):
        yield EventBatch(str(path), events[start : start + 16])


@pytest.mark.parametrize("held", [0, 30, 1_000_000])
def test_runs_held_in_memory_up_to_the_bound_give_the_same_timeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, held: int
) -> None:
    """The hunt in one process keeps its runs in memory up to ``HELD_DETECTIONS``, spills past
    it: nothing held, part of it held, all of it held, the same timeline as workers that
    always spill."""
    rules_file = tmp_path / "brute.yml"
    rules_file.write_text(FAILED_LOGONS.replace("timespan: 5m", "timespan: 5m\n    generate: true"))
    compiled = load_compiled([rules_file], cache_dir=tmp_path / "cache")
    files = [tmp_path / f"dc{i}.log" for i in range(6)]
    for path in files:
        path.write_text("")
    monkeypatch.setattr(run, "RUN_SIZE", 7)
    expected, _ = _jsonl_hunt(files, compiled, _logon_storm, jobs=2)
    lines = expected.splitlines()
    assert len(lines) > 240  # every failed logon, and the correlations among them
    assert {json.loads(line)["rule_type"] for line in lines} == {"detection", "correlation"}

    sinks: list[RunSink] = []

    class Counted(RunSink):
        def __init__(self, directory: Path, budget: int = 0) -> None:
            super().__init__(directory, budget)
            sinks.append(self)

    monkeypatch.setattr(run, "RunSink", Counted)
    monkeypatch.setattr(run, "HELD_DETECTIONS", held)
    got, _ = _jsonl_hunt(files, compiled, _logon_storm, jobs=1)
    assert got == expected
    assert [s.budget for s in sinks] == [held]
    # A run is cut after each batch (16, 16, 8 events a file): with a bound of 30, the first
    # 16 are held, the next 16 would pass it and go to disk, the file's last 8 still fit.
    assert sinks[0].held == {0: 0, 30: 24, 1_000_000: 240}[held]


def _never_build(self: object, variants: object) -> None:
    raise AssertionError("a rule bucket was built during the hunt")


@pytest.mark.corpus
def test_workers_take_their_buckets_from_the_cache(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = expand_paths([shared_data / "evtx" / "mitre" / "TA0006-Credential Access"])
    compiled = _security_rules(shared_data, tmp_path / "cache")
    stored = pickle.dumps(compiled)  # the cache entry load_compiled wrote, as it wrote it
    expected, _ = _jsonl_hunt(files, compiled, read_file, 1)
    assert expected
    # From here on a bucket build fails (in the forked workers too): every bucket must come
    # already built with the set the cache gives back.
    monkeypatch.setattr(Bucket, "__init__", _never_build)
    got, summary = _jsonl_hunt(files, pickle.loads(stored), read_file, jobs=2)
    assert summary.files_failed == 0
    assert got == expected


def _one_by_one(path: Path, *, batch_size: int) -> Iterator[EventBatch]:
    """The standard reader, but not the same function: ``hunt_files`` reads file by file."""
    return read_file(path, batch_size=batch_size)


@pytest.mark.corpus
def test_one_stream_reports_each_file_as_reading_them_one_by_one(
    shared_data: Path, tmp_path: Path
) -> None:
    folder = shared_data / "evtx" / "mitre" / "TA0006-Credential Access"
    evtx = sorted(folder.rglob("ID46*.evtx"))  # 4656, 4661, 4662...: the security rules fire
    zipped = tmp_path / "two.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.write(evtx[0], "a.evtx")
        zf.write(evtx[1], "b.evtx")
    readme = tmp_path / "README"
    readme.write_text("not a log at all\n")
    log = tmp_path / "auth.log"
    log.write_text("Jan  2 03:04:05 host sshd[1]: Failed password for root from 10.0.0.1\n")
    empty = tmp_path / "empty.evtx"
    empty.write_bytes(b"")
    files = [evtx[0], zipped, readme, evtx[1], log, tmp_path / "missing.evtx", empty, *evtx[2:6]]
    twice = [evtx[0], evtx[0], evtx[1]]  # a file named twice: each copy counts its own events
    compiled = _security_rules(shared_data, tmp_path / "cache")
    spill = tmp_path / "spill"
    spill.mkdir()

    def per_file(outcome: run._Outcome) -> list[tuple[object, ...]]:
        return [
            (r.path, r.events, r.detections, r.issues, r.failed, [str(i) for i in r.issue_samples])
            for r in outcome.results
        ]

    seen: list[str] = []
    try:  # hunt_files spills through this process's writer; its caller closes it
        streamed = run.hunt_files(
            files,
            compiled,
            read_file,
            Selection(),
            spill,
            64,
            on_file=lambda r: seen.append(r.path),
        )
        single = run.hunt_files(files, compiled, _one_by_one, Selection(), spill, 64)
        doubled = run.hunt_files(twice, compiled, read_file, Selection(), spill, 64)
        doubled_single = run.hunt_files(twice, compiled, _one_by_one, Selection(), spill, 64)
    finally:
        close_writers(spill)
    assert per_file(streamed) == per_file(single)
    assert seen == [str(f) for f in files]
    assert per_file(doubled) == per_file(doubled_single)
    assert doubled.results[0].events == doubled.results[1].events > 0
    assert streamed.results[0].detections > 0
    assert streamed.results[1].detections > 0  # inside the archive
    assert len(evtx) >= 6


def test_auto_jobs_grows_with_the_input(tmp_path: Path) -> None:
    small = tmp_path / "small.log"
    small.write_bytes(b"x" * 1000)
    big = tmp_path / "big.log"
    with big.open("wb") as fh:  # sparse: a size without the disk use
        fh.truncate(3 * run.BYTES_PER_AUTO_JOB)
    assert run.auto_jobs([small], cores=8) == 1
    assert run.auto_jobs([small, big], cores=8) == 3
    assert run.auto_jobs([big, big, big], cores=8) == 8
    assert run.auto_jobs([big], cores=2) == 2
    assert run.auto_jobs([tmp_path / "missing.log"], cores=4) == 1
    # A worker reading EVTX keeps two cores busy (its parser process too).
    big_evtx = tmp_path / "big.evtx"
    with big_evtx.open("wb") as fh:
        fh.truncate(3 * run.BYTES_PER_AUTO_JOB)
    assert run.auto_jobs([big_evtx, big_evtx, big_evtx], cores=8) == 4
    assert run.auto_jobs([big_evtx], cores=2) == 1
    assert run.auto_jobs([big_evtx, big], cores=8) == 5  # half EVTX: 1.5 cores per worker
    # The sizes input_files read while telling the files apart are taken as they are.
    sizes: dict[Path, int] = {}
    files, _ = input_files([tmp_path], sizes=sizes)
    assert sizes == {p: p.stat().st_size for p in files}
    assert run.auto_jobs(files, cores=8) == run.auto_jobs(files, cores=8, sizes=sizes) == 5
    unseen = tmp_path / "not-there.log"
    assert run.auto_jobs([unseen], cores=8, sizes={unseen: 9 * run.BYTES_PER_AUTO_JOB}) == 8


def test_tasks_group_small_files_and_keep_big_ones_alone(tmp_path: Path) -> None:
    big = tmp_path / "big.evtx"
    with big.open("wb") as fh:
        fh.truncate(run.TASK_BYTES + 1)
    small = [tmp_path / f"s{i:02d}.log" for i in range(run.TASK_FILES + 3)]
    for p in small:
        p.write_bytes(b"x")
    tasks = run.plan_tasks([*small, big])
    assert tasks[0] == (str(big),)
    assert [len(t) for t in tasks[1:]] == [run.TASK_FILES, 3]
    assert sorted(p for t in tasks for p in t) == sorted(str(p) for p in [*small, big])


SERVICE_BURST = """
title: Service installed
id: 6c1f7e0a-2222-4c1e-9d1e-000000000001
name: service_installed
status: test
logsource: {product: windows, service: system}
detection:
    sel: {EventID: 7045}
    condition: sel
level: low
---
title: Burst of service installations on one host
id: 6c1f7e0a-2222-4c1e-9d1e-000000000002
status: test
correlation:
    type: event_count
    rules: [service_installed]
    group-by: [Computer]
    timespan: 1h
    generate: false
    condition: {gte: 3}
level: high
"""


@pytest.mark.corpus
def test_correlations_through_the_whole_hunt_whatever_jobs(
    shared_data: Path, tmp_path: Path
) -> None:
    rules_file = tmp_path / "burst.yml"
    rules_file.write_text(SERVICE_BURST)
    compiled = load_compiled([rules_file], cache_dir=tmp_path / "cache")
    assert not compiled.errors
    files = expand_paths([shared_data / "evtx" / "mitre"])
    one, summary = _jsonl_hunt(files, compiled, read_file, jobs=1)
    two, _ = _jsonl_hunt(files, compiled, read_file, jobs=2)
    assert one == two
    records = [json.loads(line) for line in one.splitlines()]
    # generate: false hides the base rule; only the correlation is shown
    assert records and {r["rule_type"] for r in records} == {"correlation"}
    for r in records:
        assert r["value"] >= 3
        assert len(r["events"]) >= 3
        assert {e["event"]["Computer"] for e in r["events"]} == {r["group"]["Computer"]}
        assert r["first_seen"] <= r["last_seen"]
    assert summary.detections == len(records)
