"""Rules run in the EVTX worker: the same detections and events as rules run by the consumer.

``read_paths(..., rules=compiled)`` lets the reader's worker match the records it normalises;
the consumer's ``compiled.match_batch`` then takes those hits instead of matching again. Here the
worker is told to normalise (and so match) every chunk, and everything is compared with the
consumer doing all the work.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from sentinelle.engine import CompiledRules, compile_rules
from sentinelle.events import FLAG_UNDECODABLE, Event
from sentinelle.readers import evtx as reader
from sentinelle.readers.evtx import EvtxLimits, read_evtx_files
from sentinelle.readers.evtx_records import decode_record
from sentinelle.sigma.loader import load_rules

pytestmark = pytest.mark.corpus

EVERY_CHUNK = EvtxLimits(backlog_bytes=0)  # the worker normalises every chunk it can


@pytest.fixture(scope="module")
def windows_rules(shared_data: Path) -> CompiledRules:
    base = shared_data / "sigma" / "rules" / "windows"
    return compile_rules(load_rules([base / "process_creation", base / "builtin" / "security"]))


def _read(
    files: list[Path], rules: CompiledRules | None, limits: EvtxLimits
) -> tuple[list[Event], list[tuple[str, str, int]]]:
    events: list[Event] = []
    found: list[tuple[str, str, int]] = []
    for batch in read_evtx_files([(f, None) for f in files], limits=limits, rules=rules):
        assert batch.matched_by is rules
        events.extend(batch.events)
        if rules is not None:
            for det in rules.match_batch(batch):
                assert det.event is not None
                found.append((str(det.rule_id), det.event.source, det.event.record))
    return events, found


def test_rules_run_in_the_worker_give_the_consumers_detections(
    mitre_dir: Path, windows_rules: CompiledRules
) -> None:
    files = sorted(mitre_dir.rglob("*.evtx"))
    plain, _ = _read(files, None, EVERY_CHUNK)
    expected = [
        (str(d.rule_id), d.event.source, d.event.record)
        for d in windows_rules.match_batch(plain)
        if d.event is not None
    ]
    events, found = _read(files, windows_rules, EVERY_CHUNK)
    matched = [e for e in events if e.hits is not None]
    assert len(matched) > len(events) // 2  # all but the chunks before the parent's first word
    assert sum(1 for e in matched if e.hits) > 100  # and those do match rules
    assert found == expected
    # The events themselves are the same: fields decoded late from the record equal the
    # fields decoded at once.
    assert len(events) == len(plain)
    for late, eager in zip(events, plain, strict=True):
        assert (late.source, late.record, late.timestamp, late.flags, late.raw) == (
            eager.source,
            eager.record,
            eager.timestamp,
            eager.flags,
            eager.raw,
        )
        assert late.fields == eager.fields


def test_the_consumer_checks_the_hits_it_is_given(
    multi_chunk_evtx: Path, windows_rules: CompiledRules
) -> None:
    # A worker made to lie could send indices that are no rule of the set: the consumer
    # matches those events itself. Hits that are rule indices are trusted, like the records.
    batch = next(read_evtx_files([(multi_chunk_evtx, None)], rules=windows_rules))
    honest = [(d.rule_id, d.event) for d in windows_rules.match_batch(list(batch.events))]
    bogus: list[list[object]] = [[-1], [len(windows_rules.rules)], [True], ["0"], [0, None]]
    for event, hits in zip(batch.events, bogus, strict=False):
        event.hits = hits  # type: ignore[assignment]
    assert [(d.rule_id, d.event) for d in windows_rules.match_batch(batch)] == honest


class _Unloadable:
    """A rule set whose pickle the worker cannot load."""

    def pickled(self) -> bytes:
        return b"not a pickle"


def test_a_rule_set_the_worker_cannot_load_only_costs_the_help(multi_chunk_evtx: Path) -> None:
    offered = _Unloadable()
    events: list[Event] = []
    for batch in read_evtx_files([(multi_chunk_evtx, None)], limits=EVERY_CHUNK, rules=offered):
        assert not batch.issues
        events.extend(batch.events)
    plain, _ = _read([multi_chunk_evtx], None, EVERY_CHUNK)
    assert len(events) == len(plain) > 0
    assert all(e.hits is None for e in events)
    assert [e.fields for e in events] == [e.fields for e in plain]


def test_late_fields_survive_pickling_and_dropping_the_record(multi_chunk_evtx: Path) -> None:
    text = next(e.raw for e in _read([multi_chunk_evtx], None, EVERY_CHUNK)[0])
    assert isinstance(text, bytes)
    fields = decode_record(text)[0]

    event = reader._matched_event(1.0, "x.evtx", 7, text, (), None)
    copy = pickle.loads(pickle.dumps(event))
    assert copy.fields == fields and copy.raw == text and copy.record == 7

    dropped = reader._matched_event(1.0, "x.evtx", 7, text, (), None)
    dropped.raw = None  # a hunt drops the record before spilling: the fields stay
    assert dropped.raw is None and dropped.fields == fields
    again = pickle.loads(pickle.dumps(dropped))  # as a hunt's worker sends its detections
    assert again.raw is None and again.fields == fields and again.flags == ()

    broken = reader._matched_event(1.0, "x.evtx", 8, b"{not json", (), None)
    assert broken.fields == {} and broken.flags == (FLAG_UNDECODABLE,)
