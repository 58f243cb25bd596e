"""Which format a file holds, from its first bytes (magic numbers, then text shape); the file
name only breaks ties (``.csv``, ``.json``) or marks a damaged EVTX worth recovering (``.evtx``).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import PurePath

from sentinelle.readers.evtx_worker import CHUNK_MAGIC, FILE_HEADER_SIZE, FILE_MAGIC
from sentinelle.readers.payloads import parse_kv
from sentinelle.readers.syslog import looks_like_syslog

SNIFF_BYTES = 65536
# Blank bytes read past in search of the first line of text before a file counts as blank.
BLANK_LIMIT = 1 << 30
MAGIC_BYTES = FILE_HEADER_SIZE + 8  # enough for every magic number, and a carved EVTX chunk

# Formats whose content is a compressed container of another file.
ARCHIVES = frozenset(("gzip", "bzip2", "zip", "tar"))
# POSIX (ustar), GNU and pax tar headers all carry this at offset 257.
_TAR_MAGIC = b"ustar"
_TAR_OFFSET = 257
# Formats read line by line by the syslog parser.
LINE_FORMATS = frozenset(("syslog", "cef", "kv", "text"))

_MAGIC = (
    (FILE_MAGIC, "evtx"),
    (CHUNK_MAGIC, "evtx"),
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
)
_CONTROL_RE = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")
_NAME_RE = re.compile(r"^[\w .@#:/()\[\]-]{1,64}$")


def skip_blank(head: bytes, read: Callable[[int], bytes]) -> tuple[bytes, int, bool]:
    """``(head, lines skipped, whole)``: the input from its first line holding text, topped up
    to the sniff window, with the number of blank lines before it.

    ``head`` is what was read so far, ``read(n)`` reads on. Blank lines (spaces, tabs, empty)
    are passed over as they come, holding one window at a time, so 70,000 newlines in front of
    an attack cannot make a log look empty; ``whole`` is False when ``BLANK_LIMIT`` bytes held
    nothing else (the caller reports the file rather than read on).
    """
    skipped = scanned = 0
    while not head.strip():
        cut = head.rfind(b"\n") + 1
        skipped += head.count(b"\n", 0, cut)
        scanned += len(head)
        # The blank start of the next line is kept, unless it alone fills a window.
        head = head[cut:] if len(head) - cut < SNIFF_BYTES else b""
        if scanned >= BLANK_LIMIT:
            return b"", skipped, False
        block = read(SNIFF_BYTES)
        if not block:
            return head, skipped, True
        head += block
    start = len(head) - len(head.lstrip())
    cut = head.rfind(b"\n", 0, start) + 1
    skipped += head.count(b"\n", 0, cut)
    head = head[cut:]
    while len(head) < SNIFF_BYTES:
        block = read(SNIFF_BYTES - len(head))
        if not block:
            break
        head += block
    return head, skipped, True


def is_binary_container(head: bytes) -> bool:
    """Whether ``head`` already shows an EVTX file or an archive (no more bytes needed)."""
    return (
        any(head.startswith(magic) for magic, _ in _MAGIC)
        or head[FILE_HEADER_SIZE : FILE_HEADER_SIZE + 8] == CHUNK_MAGIC
        or head[_TAR_OFFSET : _TAR_OFFSET + 5] == _TAR_MAGIC
    )


def sniff_bytes(head: bytes, name: str = "") -> str:
    """The format of a file starting with ``head`` (see ``sentinelle.readers.sniff_format``)."""
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            return fmt
    if head[_TAR_OFFSET : _TAR_OFFSET + 5] == _TAR_MAGIC:
        return "tar"
    suffixes = [s.lower() for s in PurePath(name).suffixes]
    if head[FILE_HEADER_SIZE : FILE_HEADER_SIZE + 8] == CHUNK_MAGIC or (
        suffixes and suffixes[-1] == ".evtx" and head
    ):
        return "evtx"  # a damaged file header: the worker recovers the chunks
    if not head.strip():
        return "empty"
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    # The last line may be cut by the sniff window: judge by whole lines where possible.
    body = head if len(head) < SNIFF_BYTES else head[: head.rfind(b"\n") + 1] or head
    # The format is decided by the lines that hold text: a line with a control byte costs only
    # itself when read (reported), so an attacker's first line, or many, cannot make a log look
    # binary. Unstructured text with a majority of such lines is taken for binary content.
    raw_lines = [line for line in body.splitlines() if line.strip()][:200]
    clean = [line for line in raw_lines if not _CONTROL_RE.search(line)]
    lines = b"\n".join(clean).decode("utf-8", "replace").splitlines()[:20]
    if not lines:
        return "binary"
    fmt = _text_format(lines, suffixes)
    if fmt == "text" and (len(raw_lines) - len(clean)) * 2 > len(raw_lines):
        return "binary"
    return fmt


def _text_format(lines: list[str], suffixes: list[str]) -> str:
    first = lines[0].lstrip()
    if first.startswith(("#separator", "#fields")):
        return "zeek"
    if first[:1] in "{[":
        return "jsonl"
    if suffixes and suffixes[-1] in (".json", ".jsonl", ".ndjson"):
        return "jsonl"
    if first.startswith("CEF:"):
        return "cef"
    if looks_like_syslog(first):
        return "syslog"
    if parse_kv(first) is not None:
        return "kv"
    if _looks_like_csv(lines) or (suffixes and suffixes[-1] in (".csv", ".tsv") and len(lines)):
        return "csv"
    return "text"


def _looks_like_csv(lines: list[str]) -> bool:
    if len(lines) < 2:
        return False
    header = lines[0]
    delimiter = max((",", ";", "\t", "|"), key=header.count)
    if header.count(delimiter) == 0:
        return False
    try:
        rows = list(csv.reader(lines[:10], delimiter=delimiter))
    except csv.Error:
        return False
    names = rows[0]
    if not all(_NAME_RE.match(name.strip()) for name in names if name.strip()):
        return False
    # Rows may be cut by quoted newlines; most must match the header's width.
    matching = sum(1 for row in rows[1:] if len(row) == len(names))
    return matching >= max(1, (len(rows) - 1) // 2)
