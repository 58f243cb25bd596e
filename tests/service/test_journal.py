"""The journal: accepted means synced and readable in order; refused means nothing taken."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from pathlib import Path

import pytest

from sentinelle.service.journal import (
    Journal,
    JournalEntry,
    JournalLimits,
    JournalReader,
    list_segments,
)
from sentinelle.service.records import Record, RecordKind, Refused


def rec(n: int, size: int = 0) -> Record:
    body = f"<13>Jan  1 00:00:00 host app: event {n}".encode() + b"x" * size
    return Record("syslog-tcp", "10.0.0.1", RecordKind.SYSLOG, body, 1_700_000_000.0 + n)


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Retention runs on the writer thread just after a commit: wait for it."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def numbers(entries: list[JournalEntry]) -> list[int]:
    return [int(e.record.data.split(b"event ")[1].rstrip(b"x")) for e in entries]


def test_accepted_records_read_back_in_order_with_increasing_sequence(tmp_path: Path) -> None:
    journal = Journal(tmp_path, JournalLimits(segment_bytes=16_384, min_free_bytes=0))
    try:
        ends = [journal.submit([rec(2 * i), rec(2 * i + 1, 3000)]).result(10) for i in range(40)]
    finally:
        journal.close()
    assert ends == sorted(ends) and ends[-1] == 80
    assert len(list_segments(tmp_path)) > 3  # rolled, and the numbering went on across files
    entries = list(JournalReader(tmp_path).iter_records())
    assert [e.seq for e in entries] == list(range(1, 81))
    assert numbers(entries) == list(range(80))
    # Reopened, the journal goes on after the last number.
    again = Journal(tmp_path, JournalLimits(min_free_bytes=0))
    try:
        assert again.submit([rec(80)]).result(timeout=10) == 81
    finally:
        again.close()
    reader = JournalReader(tmp_path)
    assert [e.seq for e in reader.read(79)] == [80, 81]
    assert reader.read(81) == []


def test_commits_are_grouped_under_concurrent_submissions(tmp_path: Path) -> None:
    journal = Journal(tmp_path, JournalLimits(min_free_bytes=0))
    futures: list[Future[int]] = []
    lock = threading.Lock()

    def send(base: int) -> None:
        for i in range(100):
            f = journal.submit([rec(base + i)])
            with lock:
                futures.append(f)

    threads = [threading.Thread(target=send, args=(k * 1000,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait(futures, timeout=30)
    journal.close()
    assert all(f.exception() is None for f in futures)
    assert journal.stats.accepted_records == 800
    assert journal.stats.commits < 800  # one sync carried many submissions


def test_retention_removes_only_consumed_segments_and_counts_them(tmp_path: Path) -> None:
    limits = JournalLimits(
        segment_bytes=16_384, max_bytes=120_000, min_free_bytes=0, retry_seconds=0.05
    )
    journal = Journal(tmp_path, limits)
    try:
        accepted = 0
        refused = None
        for i in range(2_000):
            try:
                journal.submit([rec(i, 200)]).result(timeout=10)
                accepted += 1
            except Refused as exc:
                refused = exc
                break
        # Nothing consumed: the cap is reached and nothing may be removed, so it refuses.
        assert refused is not None and refused.reason == "journal size cap reached"
        assert journal.stats.removed_segments == 0
        assert [e.seq for e in JournalReader(tmp_path).iter_records()] == list(
            range(1, accepted + 1)
        )
        # The detector consumed everything: old segments go, and new records are taken again.
        journal.release(accepted)
        time.sleep(0.1)
        assert journal.submit([rec(99_999)]).result(timeout=10) == accepted + 1
        eventually(lambda: journal.stats.removed_segments > 0)
        assert journal.stats.removed_records > 0
        assert journal.stats.size_bytes < limits.max_bytes
    finally:
        journal.close()
    remaining = [e.seq for e in JournalReader(tmp_path).iter_records()]
    assert remaining[-1] == accepted + 1
    assert remaining == list(range(remaining[0], accepted + 2))  # whole segments only


def test_age_retention_keeps_unconsumed_segments(tmp_path: Path) -> None:
    limits = JournalLimits(segment_bytes=4_096, max_age_seconds=0.0, min_free_bytes=0)
    journal = Journal(tmp_path, limits)
    try:
        for i in range(20):
            journal.submit([rec(i, 200)]).result(timeout=10)
        assert journal.stats.removed_segments == 0  # old, but not consumed
        journal.release(10)
        journal.submit([rec(20)]).result(timeout=10)
        eventually(lambda: journal.stats.removed_segments > 0)
    finally:
        journal.close()
    first = next(JournalReader(tmp_path).iter_records()).seq
    assert 1 < first <= 11


@contextlib.contextmanager
def small_disk(tmp_path: Path, size: str) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the size-capped test covers the rest)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_refuses_keeps_what_was_accepted_and_resumes(tmp_path: Path) -> None:
    with small_disk(tmp_path, "2m") as disk:
        filler = disk / "filler"
        filler.write_bytes(b"\0" * 600_000)
        journal = Journal(disk / "journal", JournalLimits(min_free_bytes=0, retry_seconds=0.05))
        try:
            accepted: list[int] = []
            refusals = 0
            n = 0
            while refusals < 3:
                try:
                    journal.submit([rec(n, 400)]).result(timeout=10)
                    accepted.append(n)
                except Refused as exc:
                    assert exc.reason == "disk full"
                    refusals += 1
                    time.sleep(0.06)
                n += 1
                assert n < 20_000
            assert len(accepted) > 100
            # Space returns (the operator removes a file): the journal resumes by itself.
            filler.unlink()
            time.sleep(0.06)
            seq = journal.submit([rec(n, 400)]).result(timeout=10)
            accepted.append(n)
            assert seq == len(accepted)
        finally:
            journal.close()
        assert numbers(list(JournalReader(disk / "journal").iter_records())) == accepted


def test_the_free_space_floor_refuses_before_the_disk_is_full(tmp_path: Path) -> None:
    with small_disk(tmp_path, "2m") as disk:
        journal = Journal(disk / "j", JournalLimits(min_free_bytes=1_500_000, retry_seconds=0.05))
        try:
            journal.submit([rec(1)]).result(timeout=10)
            filler = disk / "filler"
            filler.write_bytes(b"\0" * 1_000_000)
            time.sleep(0.6)  # free space is looked at twice a second
            with pytest.raises(Refused, match="disk almost full"):
                journal.submit([rec(2)])
            filler.unlink()
            time.sleep(0.1)
            assert journal.submit([rec(3)]).result(timeout=10) == 2
        finally:
            journal.close()


WRITER = """
import sys
from pathlib import Path
from sentinelle.service.journal import Journal, JournalLimits
from sentinelle.service.records import Record, RecordKind
journal = Journal(Path(sys.argv[1]), JournalLimits(min_free_bytes=0, segment_bytes=32768))
i = 0
while True:
    batch = [Record("http", "t", RecordKind.JSON, b'{"n": %d}' % (i + k), 0.0) for k in range(7)]
    journal.submit(batch).result()
    i += 7
    print(i, flush=True)
"""


def test_everything_acknowledged_survives_kill_9(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    acknowledged = 0
    for line in proc.stdout:
        acknowledged = int(line)
        if acknowledged >= 500:
            break
    proc.kill()
    proc.wait()
    proc.stdout.close()
    entries = list(JournalReader(tmp_path).iter_records())
    assert len(entries) >= acknowledged
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))


def test_a_segment_roll_on_a_full_disk_keeps_the_open_segment_and_resumes(
    tmp_path: Path,
) -> None:
    """The next segment is made before the open one is closed: when the disk cannot hold it,
    the journal refuses and, once space returns, rolls and takes records again (closing
    first left it with no segment: unwritable until restarted)."""
    with small_disk(tmp_path, "1m") as disk:
        limits = JournalLimits(segment_bytes=64 * 1024, min_free_bytes=0, retry_seconds=0.05)
        journal = Journal(disk / "journal", limits)
        accepted: list[int] = []
        try:
            for i in range(4000):
                try:
                    journal.submit([rec(i, 2000)]).result(timeout=10)
                except Refused:
                    break
                accepted.append(i)
            assert journal.stats.refusing, "the disk never filled"
            subprocess.run(["mount", "-o", "remount,size=16m", str(disk)], check=True)
            time.sleep(0.1)

            def takes() -> bool:
                try:
                    journal.submit([rec(9999)]).result(timeout=10)
                except Refused:
                    return False
                return True

            eventually(takes, timeout=10)
            for i in range(10_000, 10_040):  # and rolls to new segments again
                journal.submit([rec(i, 2000)]).result(timeout=10)
        finally:
            journal.close()
        kept = numbers(list(JournalReader(disk / "journal").iter_records()))
        assert set(accepted) | {9999} | set(range(10_000, 10_040)) <= set(kept)


def test_a_closed_segment_keeps_its_newest_time_so_opening_reads_no_records(
    tmp_path: Path,
) -> None:
    import sqlite3

    journal = Journal(tmp_path, JournalLimits(segment_bytes=4_096, min_free_bytes=0))
    try:
        for i in range(30):
            journal.submit([rec(i, 200)]).result(timeout=10)
    finally:
        journal.close()
    first, path = list_segments(tmp_path)[0]
    with contextlib.closing(sqlite3.connect(path)) as conn:
        (kept,) = conn.execute("SELECT value FROM segment WHERE name = 'newest'").fetchone()
        (newest,) = conn.execute("SELECT max(received) FROM records").fetchone()
    assert kept == newest
    reopened = Journal(tmp_path, JournalLimits(min_free_bytes=0))
    try:
        assert reopened._closed[first][2] == newest
    finally:
        reopened.close()
