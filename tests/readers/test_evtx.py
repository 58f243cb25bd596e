"""EVTX reader: Sigma-native names on the shared corpus, and recovery from generated damage.

Corrupted files are made here from a shared corpus file (flipped bytes, truncation, bad chunk and
file headers, carved chunks); each test states which records must come back and which chunk must
be blamed. Expectations come from the bare native parser over the intact file.
"""

from __future__ import annotations

import os
import random
import struct
import threading
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import evtx
import orjson
import pytest

from sentinelle.events import Event, ReadIssue
from sentinelle.readers import read_file, read_paths, sniff_format
from sentinelle.readers.evtx import EvtxLimits, read_evtx, read_evtx_files
from tests.readers.helpers import CHUNK, HEADER, chunk_record_ids

pytestmark = pytest.mark.corpus


def _read(path: Path, limits: EvtxLimits | None = None) -> tuple[list[Event], list[ReadIssue]]:
    events: list[Event] = []
    issues: list[ReadIssue] = []
    batches = read_evtx(path) if limits is None else read_evtx(path, limits=limits)
    for batch in batches:
        events.extend(batch.events)
        issues.extend(batch.issues)
    return events, issues


def _all_ids(per_chunk: dict[int, set[int]], *skip: int) -> set[int]:
    return {i for chunk, ids in per_chunk.items() if chunk not in skip for i in ids}


def _populated(per_chunk: dict[int, set[int]]) -> list[int]:
    return [chunk for chunk, ids in sorted(per_chunk.items()) if ids]


def test_whole_corpus_reads_every_record_without_issue(mitre_dir: Path) -> None:
    expected = 0
    for path in sorted(mitre_dir.rglob("*.evtx")):
        expected += sum(1 for _ in evtx.PyEvtxParser(str(path)).records_json())
    count = 0
    issues: list[ReadIssue] = []
    for batch in read_paths([mitre_dir], batch_size=500):
        assert len(batch.events) <= 500
        count += len(batch.events)
        issues.extend(batch.issues)
    # The licence file next to the logs is reported as skipped, and nothing else.
    assert [(Path(i.location).name, i.kind) for i in issues] == [("LICENSE.md", "file")]
    assert count == expected


def test_system_fields_are_sigma_native(multi_chunk_evtx: Path) -> None:
    events, issues = _read(multi_chunk_evtx)
    assert issues == []
    event = events[0]
    fields = event.fields
    doc = orjson.loads(event.raw or "")
    system = doc["Event"]["System"]
    assert (
        fields["EventID"] == int(system["EventID"])
        if not isinstance(system["EventID"], dict)
        else int(system["EventID"]["#text"])
    )
    assert isinstance(fields["EventID"], int)
    assert fields["Channel"] == system["Channel"]
    assert fields["Computer"] == system["Computer"]
    assert fields["Provider_Name"] == system["Provider"]["#attributes"]["Name"]
    assert fields["EventRecordID"] == event.record
    assert isinstance(fields["ProcessID"], int)
    assert event.timestamp is not None and event.flags == ()
    assert event.source == str(multi_chunk_evtx)
    # Every named EventData item is a field of its own, under its own name.
    for name in doc["Event"].get("EventData") or {}:
        if name not in ("Data", "Binary", "#attributes"):
            assert name in fields or f"EventData.{name}" in fields


def test_flipped_bytes_lose_only_their_chunk(multi_chunk_evtx: Path, tmp_path: Path) -> None:
    per_chunk = chunk_record_ids(multi_chunk_evtx)
    victim = _populated(per_chunk)[1]
    data = bytearray(multi_chunk_evtx.read_bytes())
    start = HEADER + victim * CHUNK + 512 + 64
    data[start : start + 48] = bytes(random.Random(7).randrange(256) for _ in range(48))
    damaged = tmp_path / "flipped.evtx"
    damaged.write_bytes(bytes(data))

    events, issues = _read(damaged)

    assert _all_ids(per_chunk, victim) <= {e.record for e in events}
    assert any(i.location.endswith(f"chunk {victim}") for i in issues)
    assert all(i.kind == "chunk" for i in issues)


def test_bad_chunk_signature_is_reported_and_skipped(
    multi_chunk_evtx: Path, tmp_path: Path
) -> None:
    per_chunk = chunk_record_ids(multi_chunk_evtx)
    victim = _populated(per_chunk)[0]
    data = bytearray(multi_chunk_evtx.read_bytes())
    data[HEADER + victim * CHUNK : HEADER + victim * CHUNK + 8] = b"XXXXXXXX"
    damaged = tmp_path / "badmagic.evtx"
    damaged.write_bytes(bytes(data))

    events, issues = _read(damaged)

    assert {e.record for e in events} == _all_ids(per_chunk, victim)
    assert [i.location for i in issues] == [f"{damaged} chunk {victim}"]
    assert "no chunk signature" in issues[0].reason


def test_chunks_past_the_declared_count_are_read_when_they_have_a_signature(
    multi_chunk_evtx: Path, tmp_path: Path
) -> None:
    """A live log's header may lag behind its chunks; the free space after them is skipped."""
    per_chunk = chunk_record_ids(multi_chunk_evtx)
    data = bytearray(multi_chunk_evtx.read_bytes())
    used = 1 + max(_populated(per_chunk))
    del data[HEADER + used * CHUNK :]
    struct.pack_into("<H", data, 42, 1)  # the header declares only the first chunk
    struct.pack_into("<I", data, 124, zlib.crc32(bytes(data[:120])))
    data += bytes(2 * CHUNK) + b"\xff" * CHUNK + bytes(CHUNK)  # free space, noise included
    lagging = tmp_path / "lagging.evtx"
    lagging.write_bytes(bytes(data))

    events, issues = _read(lagging)

    assert {e.record for e in events} == _all_ids(per_chunk)
    assert issues == []


def test_truncated_file_keeps_whole_chunks_and_complete_records(
    multi_chunk_evtx: Path, tmp_path: Path
) -> None:
    per_chunk = chunk_record_ids(multi_chunk_evtx)
    victim = _populated(per_chunk)[1]
    data = multi_chunk_evtx.read_bytes()
    damaged = tmp_path / "truncated.evtx"
    damaged.write_bytes(data[: HEADER + victim * CHUNK + 40000])

    events, issues = _read(damaged)

    ids = {e.record for e in events}
    earlier = {i for chunk, s in per_chunk.items() if chunk < victim for i in s}
    assert earlier <= ids
    assert ids - earlier <= per_chunk[victim]  # records of the cut chunk that fit before the cut
    assert any("truncated" in i.reason and i.location.endswith(f"chunk {victim}") for i in issues)


def test_damaged_file_header_still_yields_every_record(
    multi_chunk_evtx: Path, tmp_path: Path
) -> None:
    per_chunk = chunk_record_ids(multi_chunk_evtx)
    data = bytearray(multi_chunk_evtx.read_bytes())
    data[0:8] = b"\x00" * 8
    damaged = tmp_path / "noheader.evtx"
    damaged.write_bytes(bytes(data))

    assert sniff_format(damaged) == "evtx"  # the extension marks it worth recovering
    events, issues = _read(damaged)

    assert {e.record for e in events} == _all_ids(per_chunk)
    assert len(issues) == 1 and "file header" in issues[0].reason


def test_carved_chunks_without_file_header_are_read(multi_chunk_evtx: Path, tmp_path: Path) -> None:
    per_chunk = chunk_record_ids(multi_chunk_evtx)
    carved = tmp_path / "carved.bin"
    carved.write_bytes(multi_chunk_evtx.read_bytes()[HEADER:])

    assert sniff_format(carved) == "evtx"
    events = [e for batch in read_file(carved) for e in batch.events]
    assert {e.record for e in events} == _all_ids(per_chunk)


def test_chunk_checksum_mismatch_is_reported_but_records_kept(
    multi_chunk_evtx: Path, tmp_path: Path
) -> None:
    per_chunk = chunk_record_ids(multi_chunk_evtx)
    victim = _populated(per_chunk)[0]
    data = bytearray(multi_chunk_evtx.read_bytes())
    data[HEADER + victim * CHUNK + 124] ^= 0xFF  # the stored header checksum itself
    damaged = tmp_path / "crc.evtx"
    damaged.write_bytes(bytes(data))

    events, issues = _read(damaged)

    assert {e.record for e in events} == _all_ids(per_chunk)
    assert [i.location for i in issues] == [f"{damaged} chunk {victim}"]
    assert "header checksum mismatch" in issues[0].reason


@pytest.mark.parametrize("seed", range(6))
def test_random_damage_never_raises_and_spares_untouched_chunks(
    multi_chunk_evtx: Path, tmp_path: Path, seed: int
) -> None:
    per_chunk = chunk_record_ids(multi_chunk_evtx)
    rng = random.Random(seed)
    data = bytearray(multi_chunk_evtx.read_bytes())
    touched = set()
    for _ in range(rng.randrange(1, 6)):
        offset = rng.randrange(HEADER, len(data))
        data[offset] ^= 1 << rng.randrange(8)
        touched.add((offset - HEADER) // CHUNK)
    damaged = tmp_path / f"random{seed}.evtx"
    damaged.write_bytes(bytes(data))

    events, issues = _read(damaged)

    assert _all_ids(per_chunk, *touched) <= {e.record for e in events}
    for issue in issues:
        chunk = int(issue.location.rsplit(" ", 1)[-1])
        assert chunk in touched


def test_garbage_named_evtx_is_reported_not_raised(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.evtx"
    garbage.write_bytes(os.urandom(200_000))
    events, issues = _read(garbage)
    assert events == []
    assert issues and all(i.kind == "chunk" for i in issues)


def test_stalled_input_is_reported_and_the_next_file_read(
    multi_chunk_evtx: Path, tmp_path: Path
) -> None:
    """A worker stuck in I/O (a FIFO that stops mid-chunk) is killed at its deadline."""
    fifo = tmp_path / "stalled.evtx"
    os.mkfifo(fifo)
    data = multi_chunk_evtx.read_bytes()
    release = threading.Event()

    def writer() -> None:
        with fifo.open("wb") as out:
            out.write(data[: HEADER + CHUNK + 1000])  # file header, chunk 0, a bit of chunk 1
            out.flush()
            release.wait(30)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    # The deadline is what is tested, so the stall costs its whole length; it also bounds every
    # chunk of the healthy file, so it must be generous for a busy machine (CI's two cores, a
    # worker slowed by tracing): 1 s lost healthy chunks there.
    limits = EvtxLimits(chunk_seconds=5.0, start_seconds=30.0, max_restarts=1)
    try:
        batches = list(read_evtx_files([(fifo, None), (multi_chunk_evtx, None)], limits=limits))
    finally:
        release.set()
        thread.join(5)
    stalled = [b for b in batches if b.source == str(fifo)]
    healthy = [b for b in batches if b.source == str(multi_chunk_evtx)]
    issues = [i for b in stalled for i in b.issues]
    assert {e.record for b in stalled for e in b.events} == chunk_record_ids(multi_chunk_evtx)[0]
    assert any(i.location == f"{fifo} chunk 1" and "no answer" in i.reason for i in issues)
    assert sum(len(b.events) for b in healthy) == len(_all_ids(chunk_record_ids(multi_chunk_evtx)))
    assert not any(b.issues for b in healthy)


def test_memory_limit_failures_are_reported_per_chunk_then_abandoned(
    multi_chunk_evtx: Path,
) -> None:
    """A worker that cannot allocate dies; each chunk is blamed until the file is given up.

    The parser is imported before the cap is set, so it is the parse that fails (the parser
    aborts, or Python raises MemoryError, depending on where the allocation fails)."""
    limits = EvtxLimits(memory_mb=16, max_restarts=3)
    events, issues = _read(multi_chunk_evtx, limits)
    assert events == []
    assert [i.location for i in issues[:3]] == [f"{multi_chunk_evtx} chunk {n}" for n in range(3)]
    assert all(
        "MemoryError" in i.reason or "(memory limit?); limit 16 MiB" in i.reason for i in issues[:3]
    )
    assert issues[3].kind == "file" and "gave up after 3" in issues[3].reason
    # The next read, with the normal limits, is not affected.
    assert _read(multi_chunk_evtx)[0]


def test_stopping_early_leaves_no_worker_behind(mitre_dir: Path) -> None:
    batches: Iterator[object] = read_paths([mitre_dir], batch_size=10)
    next(batches)
    batches.close()  # type: ignore[attr-defined]
    # The pool only keeps workers that finished cleanly; a new read still works.
    assert sum(len(b.events) for b in read_paths([next(mitre_dir.rglob("*.evtx"))])) > 0


def test_evtx_json_documents_flatten_exactly_like_evtx(shared_data: Path) -> None:
    """The regression data ships each sample as .evtx and as pretty evtx-JSON: same names."""
    root = shared_data / "sigma" / "regression_data"
    pairs = [(p, p.with_suffix(".json")) for p in sorted(root.rglob("*.evtx"))]
    pairs = [(e, j) for e, j in pairs if j.exists()][:60]
    assert pairs
    compared = 0
    for evtx_path, json_path in pairs:
        from_evtx = {e.record: e for b in read_file(evtx_path) for e in b.events}
        for batch in read_file(json_path):
            assert batch.issues == []
            for event in batch.events:
                twin = from_evtx[event.fields["EventRecordID"]]
                assert sorted(event.fields) == sorted(twin.fields)
                for name in ("EventID", "Channel", "Computer", "Provider_Name", "UserID"):
                    assert event.fields.get(name) == twin.fields.get(name)
                assert event.timestamp == pytest.approx(twin.timestamp, abs=1e-6)
                compared += 1
    assert compared >= len(pairs)


def test_worker_normalised_records_equal_parent_normalised(multi_chunk_evtx: Path) -> None:
    """Load balancing must not change a single field: worker-side and parent-side flattening."""
    by_worker = _read(multi_chunk_evtx, EvtxLimits(backlog_bytes=0))[0]
    by_parent = _read(multi_chunk_evtx, EvtxLimits(backlog_bytes=-1))[0]
    assert len(by_worker) == len(by_parent) > 0
    for left, right in zip(by_worker, by_parent, strict=True):
        assert (left.record, left.timestamp, left.flags, left.raw) == (
            right.record,
            right.timestamp,
            right.flags,
            right.raw,
        )
        assert left.fields == right.fields


@pytest.mark.parametrize("backlog", [0, -1], ids=["worker-normalised", "parent-normalised"])
def test_events_without_their_record_are_the_same_events(
    multi_chunk_evtx: Path, tmp_path: Path, both_decoders: str, backlog: int
) -> None:
    """``keep_raw=False`` (the hunt's) only leaves ``raw`` empty, whichever side normalises and
    whichever decoder runs, and for an EVTX file inside an archive too."""
    limits = EvtxLimits(backlog_bytes=backlog)
    kept = [e for b in read_evtx(multi_chunk_evtx, limits=limits) for e in b.events]
    bare = [e for b in read_evtx(multi_chunk_evtx, limits=limits, keep_raw=False) for e in b.events]
    assert len(kept) == len(bare) > 0
    for left, right in zip(kept, bare, strict=True):
        assert isinstance(left.raw, bytes) and right.raw is None
        assert (left.source, left.record, left.timestamp, left.flags, left.fields) == (
            right.source,
            right.record,
            right.timestamp,
            right.flags,
            right.fields,
        )
    archive = tmp_path / "logs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(multi_chunk_evtx, "inside.evtx")
    for read in (read_file(archive, keep_raw=False), read_paths([archive], keep_raw=False)):
        inside = [e for b in read for e in b.events]
        assert [e.fields for e in inside] == [e.fields for e in kept]
        assert all(e.raw is None for e in inside)


def test_a_reader_that_never_wants_help_says_so_before_its_first_batch(
    multi_chunk_evtx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With the C accelerator and no rules this side never wants the worker to normalise. Told
    # only after its first batch was consumed, the worker used to normalise the chunks that
    # filled the pipe before that (importing the normaliser to do so, 30 ms of a hunt).
    from sentinelle.readers import evtx as reader
    from sentinelle.readers import evtx_records

    if evtx_records.native_frame is None:
        pytest.skip("the C accelerator is not built here")
    normalised: list[int] = []
    take = reader._take_normalised

    def counted(*args: object, **kwargs: object) -> None:
        normalised.append(1)
        take(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(reader, "_take_normalised", counted)
    files = [(multi_chunk_evtx, f"copy{i}.evtx") for i in range(40)]
    events = 0
    for i, batch in enumerate(read_evtx_files(files, batch_size=64)):
        if i == 0:
            time.sleep(0.5)  # a slow start (rules loading): the worker fills the pipe meanwhile
        events += len(batch.events)
    assert events > 0
    assert normalised == []


def test_the_worker_normalises_early_only_for_a_busy_consumer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The parent tells its worker, through their shared page, the backlog past which to
    # normalise records itself: the limit while the consumer of the batches spends real time on
    # them, near a full pipe while it does not; limits of 0 or -1 are never overridden. With
    # rules offered, the worker is also told to match what it normalises. With the C
    # accelerator and no rules, never (normalised rows would cost this side more).
    from sentinelle.readers import evtx as reader
    from sentinelle.readers import evtx_records, evtx_worker

    worker = reader._POOL.acquire(reader.DEFAULT_LIMITS)
    try:

        def told() -> tuple[int, int]:
            given, backlog, match = evtx_worker.HINT.unpack_from(
                worker._progress, evtx_worker.PROGRESS.size
            )
            assert given == 1
            return int(backlog), int(match)

        if evtx_records.native_frame is not None:
            pace = reader._Pace(EvtxLimits(backlog_bytes=256 * 1024), rules=False)
            pace.consumed(worker, 2.0)
            assert told() == (-1, 0)
            monkeypatch.setattr(evtx_records, "native_frame", None)
        pace = reader._Pace(EvtxLimits(backlog_bytes=256 * 1024), rules=False)
        pace.own = 1.0
        pace.consumed(worker, 0.01)  # a quick consumer
        assert told() == (reader._QUIET_BACKLOG, 0)
        pace.consumed(worker, 2.0)  # rules to run on every batch
        assert told() == (256 * 1024, 0)
        for _ in range(20):  # the consumer turns quick again; recent batches weigh most
            pace.own += 1.0
            pace.consumed(worker, 0.001)
        assert told() == (reader._QUIET_BACKLOG, 0)
        for fixed in (0, -1):
            reader._Pace(EvtxLimits(backlog_bytes=fixed), rules=True).consumed(worker, 5.0)
            assert told() == (fixed, 1)
    finally:
        reader._POOL.release(worker)
