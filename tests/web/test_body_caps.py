"""Request bodies are capped before Django reads them, on every route, not only ingest.

Django's ASGI handler reads a whole body (into memory, then a temporary file) before any view,
authentication or CSRF check runs, and has no cap of its own: without one, anybody could fill
the machine's disk (and with it the journal's) with one POST to the sign-in page. The web app
under uvicorn, as ``sentinelle serve`` runs it, with raw sockets: an answer that comes before
the body was sent whole is the proof that it was not read.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sentinelle.service.journal import Journal, JournalLimits
from tests.service.harness import serving

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.network]

EVIDENCE_CAP = 8 * 1024 * 1024


@pytest.fixture
def live(tmp_path: Path, settings: Any) -> Iterator[tuple[str, int]]:
    settings.SENTINELLE_EVIDENCE_MAX_BYTES = EVIDENCE_CAP
    journal = Journal(tmp_path / "journal", JournalLimits(min_free_bytes=0))
    try:
        with serving(journal) as base:
            host, _, port = base.removeprefix("http://").rpartition(":")
            yield host, int(port)
    finally:
        journal.close()


def status_of(address: tuple[str, int], head: str, body: bytes, seconds: float = 20) -> int:
    """Send the request head and ``body`` (perhaps only part of what the head announces), then
    the status of the answer; 0 when none comes (the server waits for the rest)."""
    with socket.create_connection(address, timeout=seconds) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        try:
            line = sock.recv(64)
        except TimeoutError:
            return 0
    parts = line.split(b" ")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def head(path: str, *fields: str) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *fields]
    return "".join(line + "\r\n" for line in lines)


def chunks(total: int, size: int = 256 * 1024) -> bytes:
    """``total`` bytes as chunks of the chunked encoding, without the last (empty) one."""
    piece = b"x" * size
    out = bytearray()
    for start in range(0, total, size):
        part = piece[: min(size, total - start)]
        out += f"{len(part):x}\r\n".encode() + part + b"\r\n"
    return bytes(out)


def test_an_announced_body_over_the_cap_is_refused_before_it_is_read(
    live: tuple[str, int],
) -> None:
    huge = "Content-Length: 10737418240"  # 10 GiB announced; 64 KiB sent
    for path in ("/login/", "/alerts/bulk/", "/incidents/1/evidence/", "/crisis/log/"):
        assert status_of(live, head(path, huge), b"x" * 65536) == 413, path


def test_a_chunked_body_is_cut_off_at_the_cap(live: tuple[str, int]) -> None:
    chunked = head("/login/", "Transfer-Encoding: chunked")
    assert status_of(live, chunked, chunks(6 * 1024 * 1024)) == 413


def test_evidence_may_be_as_large_as_its_own_cap(live: tuple[str, int]) -> None:
    """The evidence upload's cap is the evidence's, not the forms': 6 MiB is read (and refused
    afterwards for want of a session), 9 MiB is not."""
    body = b"x" * (6 * 1024 * 1024)
    within = head("/incidents/1/evidence/", f"Content-Length: {len(body)}")
    assert status_of(live, within, body) in (302, 401, 403)
    over = head("/incidents/1/evidence/", "Transfer-Encoding: chunked")
    assert status_of(live, over, chunks(EVIDENCE_CAP + 1024 * 1024)) == 413
