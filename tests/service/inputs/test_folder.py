"""The watched folder: each file read once through the readers, also across restarts; a file
still being written waits; a changed file gives the same ids for what it already held."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import orjson
import pytest

from sentinelle.service.inputs import InputLimits, InputsConfig
from sentinelle.service.inputs.folder import FolderInput
from sentinelle.service.journal import Journal
from sentinelle.service.records import Record, RecordKind
from sentinelle.web.pipeline.models import IngestedFile
from tests.service.harness import GatedSink, Metrics, journal_records, running_inputs, wait_records

pytestmark = pytest.mark.django_db(transaction=True)

NOW = InputLimits(folder_stable_seconds=0)

SYSLOG = (
    "<34>Oct 11 22:14:15 dc1 sshd[42]: Failed password for root from 10.0.0.9 port 22 ssh2\n"
    "<34>Oct 11 22:14:16 dc1 sshd[42]: Failed password for admin from 10.0.0.9 port 22 ssh2\n"
)
JSONL = b'{"EventID": 4625, "TargetUserName": "bob", "@timestamp": "2024-05-01T10:00:00Z"}\n'


def bodies(records: list[Record]) -> list[dict[str, object]]:
    return [orjson.loads(r.data) for r in records]


def test_files_are_read_through_the_readers_once(
    tmp_path: Path, journal: Journal, journal_dir: Path
) -> None:
    folder = tmp_path / "drop"
    (folder / "dc1").mkdir(parents=True)
    (folder / "dc1" / "auth.log").write_text(SYSLOG)
    (folder / "events.jsonl").write_bytes(JSONL)
    watcher = FolderInput(folder, journal, NOW)
    assert watcher.scan() == 2
    records = wait_records(journal_dir, 3)
    assert {(r.input, r.kind) for r in records} == {("folder", RecordKind.EVENT)}
    auth = str((folder / "dc1" / "auth.log").resolve())
    keys = sorted(r.key for r in records)
    assert keys == sorted([f"{auth}#1", f"{auth}#2", f"{folder.resolve()}/events.jsonl#1"])
    by_key = {r.key: orjson.loads(r.data) for r in records}
    first = by_key[f"{auth}#1"]
    assert first["fields"]["program"] == "sshd" and first["record"] == 1
    assert first["source"] == auth and isinstance(first["timestamp"], float)
    assert records[0].sender in {auth, f"{folder.resolve()}/events.jsonl"}
    row = IngestedFile.objects.get(path=auth)
    assert (row.state, row.events, row.issues) == ("done", 2, [])

    # Listed again, and by a new watcher (a restart): nothing read again.
    assert watcher.scan() == 0
    assert FolderInput(folder, journal, NOW).scan() == 0
    time.sleep(0.2)
    assert len(journal_records(journal_dir)) == 3


def test_a_touched_file_is_not_read_again_and_a_changed_one_keeps_its_ids(
    tmp_path: Path, journal: Journal, journal_dir: Path
) -> None:
    metrics = Metrics()
    folder = tmp_path / "drop"
    folder.mkdir()
    log = folder / "auth.log"
    log.write_text(SYSLOG)
    watcher = FolderInput(folder, journal, NOW)
    watcher.scan()
    before = {r.event_id for r in wait_records(journal_dir, 2)}
    os.utime(log, (time.time() + 5, time.time() + 5))
    assert watcher.scan() == 0
    assert metrics.delta("files", outcome="unchanged") == 1
    with log.open("a") as handle:
        handle.write("<34>Oct 11 22:14:17 dc1 sshd[42]: Accepted password for admin\n")
    assert watcher.scan() == 1
    records = wait_records(journal_dir, 5)
    ids = [r.event_id for r in records]
    assert len(ids) == 5 and len(set(ids)) == 3  # the two old events kept their ids
    assert before <= set(ids)
    assert metrics.delta("files", outcome="changed") == 1


def test_a_file_being_written_is_read_once_it_is_stable(
    tmp_path: Path, journal: Journal, journal_dir: Path
) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    watcher = FolderInput(folder, journal, InputLimits(folder_stable_seconds=0.3))
    growing = folder / "auth.log"
    growing.write_text(SYSLOG.splitlines(keepends=True)[0])
    (folder / "copy.log.part").write_text(SYSLOG)  # a copy tool's temporary name
    (folder / ".hidden.log").write_text(SYSLOG)
    assert watcher.scan() == 0  # just seen
    growing.write_text(SYSLOG)
    assert watcher.scan() == 0  # it changed: seen again
    time.sleep(0.35)
    assert watcher.scan() == 1
    assert len(wait_records(journal_dir, 2)) == 2
    assert IngestedFile.objects.count() == 1


def test_unreadable_files_are_recorded_with_their_reasons(
    tmp_path: Path, journal: Journal, journal_dir: Path
) -> None:
    metrics = Metrics()
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "garbage.bin").write_bytes(bytes(range(256)) * 10)
    (folder / "mixed.jsonl").write_bytes(JSONL + b"{not json\n" + JSONL.replace(b"bob", b"eve"))
    watcher = FolderInput(folder, journal, NOW)
    assert watcher.scan() == 2
    garbage = IngestedFile.objects.get(path=str((folder / "garbage.bin").resolve()))
    assert garbage.state == "failed" and garbage.events == 0
    assert "binary" in garbage.issues[0]
    mixed = IngestedFile.objects.get(path=str((folder / "mixed.jsonl").resolve()))
    assert mixed.state == "done" and mixed.events == 2
    assert len(mixed.issues) == 1 and "mixed.jsonl:2" in mixed.issues[0]
    assert len(wait_records(journal_dir, 2)) == 2
    assert metrics.delta("malformed", input="folder", reason="read-issue") == 1
    assert metrics.delta("malformed", input="folder", reason="unreadable-file") == 1
    assert metrics.delta("files", outcome="failed") == 1


def test_a_file_cut_off_by_a_stop_is_read_again_whole(
    tmp_path: Path, gate: GatedSink, journal_dir: Path
) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "big.log").write_text(SYSLOG * 50)
    gate.refuse_next = 10**6  # the journal refuses everything: the watcher waits
    limits = InputLimits(folder_stable_seconds=0, folder_poll_seconds=0.05, batch_records=10)
    with running_inputs(InputsConfig(folder=folder, limits=limits), gate):
        deadline = time.monotonic() + 5
        while not IngestedFile.objects.filter(state="reading").exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert IngestedFile.objects.get().state == "reading"
    gate.refuse_next = 0
    with running_inputs(InputsConfig(folder=folder, limits=limits), gate):
        records = wait_records(journal_dir, 100)
        deadline = time.monotonic() + 5
        while IngestedFile.objects.get().state != "done":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert len(records) == 100 and len({r.key for r in records}) == 100


@pytest.mark.corpus
def test_an_evtx_export_is_read_by_the_evtx_reader(
    shared_data: Path, tmp_path: Path, journal: Journal, journal_dir: Path
) -> None:
    source = next((shared_data / "evtx").rglob("*.evtx"))
    folder = tmp_path / "drop"
    folder.mkdir()
    shutil.copy(source, folder / "export.evtx")
    assert FolderInput(folder, journal, NOW).scan() == 1
    row = IngestedFile.objects.get()
    assert row.state == "done" and row.events > 0
    records = wait_records(journal_dir, row.events)
    assert len(records) == row.events
    fields = orjson.loads(records[0].data)["fields"]
    assert "EventID" in fields and "Channel" in fields
    assert records[0].key.startswith(str((folder / "export.evtx").resolve()) + "#")
