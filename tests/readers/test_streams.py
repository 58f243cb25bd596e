"""Streams: standard input (``-``) and pipes read like files, sniffed from their first bytes."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import BinaryIO

import orjson
import pytest

from sentinelle.readers import STDIN_SOURCE, read_file, read_paths, read_stream

CORPUS = Path(__file__).parent / "corpus"


def _pipe_of(data: bytes) -> tuple[BinaryIO, threading.Thread]:
    """The read end of a real OS pipe, fed with ``data`` by a thread (as a shell pipe is)."""
    read_fd, write_fd = os.pipe()

    def feed() -> None:
        with os.fdopen(write_fd, "wb") as out:
            out.write(data)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    return os.fdopen(read_fd, "rb"), writer


def test_a_pipe_of_syslog_lines_gives_events_numbered_by_line() -> None:
    lines = b"".join(
        b"<34>1 2024-01-15T01:2%d:00Z fw01 sshd 7 - - Failed password for root\n" % minute
        for minute in range(5)
    )
    stream, writer = _pipe_of(lines + b"\xff\xfe broken\n")
    with stream:
        batches = list(read_stream(stream, "pipe:fw01", batch_size=2))
    writer.join()
    events = [e for b in batches for e in b.events]
    assert [e.ref for e in events][:5] == [f"pipe:fw01#{n}" for n in range(1, 6)]
    assert (
        events[0].fields["host"] == "fw01" and events[4].iso_time() == "2024-01-15T01:24:00.000000Z"
    )
    assert all(len(b.events) <= 2 for b in batches)


@pytest.mark.corpus
def test_evtx_and_gzip_through_a_pipe_read_as_the_file_does(mitre_dir: Path) -> None:
    path = next(p for p in sorted(mitre_dir.rglob("*.evtx")) if p.stat().st_size > 70_000)
    expected = [(e.record, e.fields) for b in read_file(path) for e in b.events]
    assert expected
    for data in (path.read_bytes(), gzip.compress(path.read_bytes())):
        stream, writer = _pipe_of(data)
        with stream:
            got = [(e.record, e.fields, e.source) for b in read_stream(stream, "x") for e in b]
        writer.join()
        assert [(r, f) for r, f, _ in got] == expected
        assert {s for _, _, s in got} == {"x"}


def test_dash_is_standard_input_for_events_and_hunt(tmp_path: Path) -> None:
    zeek = (CORPUS / "conn.log").read_bytes()
    events = subprocess.run(
        [sys.executable, "-m", "sentinelle.cli.main", "events", "-", "--limit", "2"],
        input=gzip.compress(zeek),
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert events.returncode == 0, events.stderr
    records = [orjson.loads(line) for line in events.stdout.splitlines()]
    assert len(records) == 2
    assert records[0]["source"].startswith(f"{STDIN_SOURCE}#")
    assert records[0]["fields"]["dst_port"] == 445
    # read_paths mixes the stream with files, in the order given.
    assert [b.source for b in read_paths([CORPUS / "conn.log"]) if b.events] == [
        str(CORPUS / "conn.log")
    ]
    hunt = subprocess.run(
        [sys.executable, "-m", "sentinelle.cli.main", "hunt", "-", "--format", "jsonl", "--quiet"],
        input=zeek,
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert hunt.returncode == 0, hunt.stderr
