"""The EVTX worker process: runs the native parser where a hang or a huge allocation is harmless.

Started by :mod:`sentinelle.readers.evtx` as ``python -P evtx_worker.py MEMORY_MB BACKLOG``.
It caps its own address space (``RLIMIT_AS``), reads requests (one JSON line each: path, first
chunk, ANSI codec, request number) on stdin and answers with frames on stdout. Before each chunk
it writes (request number, chunk) into a page shared with the parent; the parent kills it when
no frame comes in time and learns from that page which chunk was at fault.

Each 64 KiB chunk is read, checked (signature, header and data CRC32) and parsed on its own,
through a one-chunk EVTX image whose file header is made here. Chunks are self-contained in the
format (records never span chunks, string and template tables are per chunk), so this yields the
same records as a whole-file parse, keeps memory at one chunk, recovers the chunks of files whose
file header is damaged or that are carved chunks, and pins every problem to a chunk number.

Load balancing: normalising (JSON decoding and flattening) costs the parent about as much as
parsing costs here, more when the parent also runs rules. When the parent falls behind (more
unread in the pipe than the threshold the parent writes after the progress in the shared page,
``BACKLOG_BYTES`` until it does), this process normalises the chunk itself and sends the flat
fields (``N`` frame), which the parent decodes several times faster than a raw record; otherwise
it sends raw records (``R`` frame). So
both processes stay busy whichever is slower on a given machine and load. Everything crossing the
pipe is JSON, decoded by orjson: the parent never unpickles what a worker that parses hostile
input could have been made to write.

Rules: the parent may offer the compiled rule set its consumer runs (a ``{"rules": size}``
request followed by the pickle; the direction of trust is parent to worker). When the parent
says so in the shared page, the chunks normalised here are matched here too, and their rows
carry the record's rule hits instead of its fields: the parent then neither decodes nor matches
those records, which costs less in all than sending the fields (no second decoding).

Frames are ``kind (1 byte) + payload length (u32 LE) + payload``:
``R`` records: count (u32), record ids
(i64 each), the UTF-8 size of each record's compact JSON (u32 each), then those texts one after
the other; ``N`` normalised records: count, record ids and sizes as in ``R``, length (u32) of a
JSON list of rows, that list, then the texts as in ``R``; a row is ``[fields, timestamp, flags]``,
or ``[EventRecordID, timestamp, flags, rule indices]`` for a matched record, or null for one
the parent must decode itself;
``I`` an issue (JSON: chunk, reason); ``E`` the file cannot be read (JSON: reason); ``D`` done.
"""

from __future__ import annotations

import fcntl
import gc
import io
import mmap
import os
import pickle
import resource
import stat
import struct
import sys
import termios
import warnings
import zlib
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import orjson

try:  # ISA-L's CRC-32 (the same checksum) is about four times faster than zlib's here
    from isal.isal_zlib import crc32
except ImportError:  # pragma: no cover - a platform without isal wheels
    from zlib import crc32

FILE_MAGIC = b"ElfFile\x00"
CHUNK_MAGIC = b"ElfChnk\x00"
FILE_HEADER_SIZE = 4096
CHUNK_SIZE = 65536
# The protocol with the parent (sentinelle.readers.evtx imports these): frame header, and the
# page both share: request number and chunk index + 1 (0: no chunk yet), written here; after
# it, written by the parent, given (1) or not yet (0), the backlog past which to normalise, and
# whether to run the offered rules on what is normalised (1) or not (0).
FRAME = struct.Struct("<cI")
PROGRESS = struct.Struct("<QQ")
HINT = struct.Struct("<qqq")
PAGE_SIZE = PROGRESS.size + HINT.size
BACKLOG_BYTES = 256 * 1024  # the backlog past which to normalise until the parent says
_DIRECT_FRAME = 16384  # frames from this size on are written to the pipe without buffering
_COLLECT_EVERY = 256  # files between two runs of the cyclic collector (see main)
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


def _package_importable() -> None:
    """Let this script import Sentinelle (it starts with only the standard path, see ``-P``)."""
    if _PACKAGE_ROOT not in sys.path:
        sys.path.append(_PACKAGE_ROOT)


def one_chunk_header() -> bytes:
    """A valid EVTX file header announcing exactly one chunk."""
    header = bytearray(FILE_HEADER_SIZE)
    # signature, first chunk, last chunk, next record id, header size, minor, major,
    # header block size, chunk count
    struct.pack_into("<8sQQQIHHHH", header, 0, FILE_MAGIC, 0, 0, 1, 128, 1, 3, 4096, 1)
    struct.pack_into("<I", header, 124, zlib.crc32(bytes(header[:120])))
    return bytes(header)


_ONE_CHUNK_HEADER = one_chunk_header()
_ZERO_CHUNK = bytes(CHUNK_SIZE)


def chunk_base(head: bytes) -> tuple[int, str | None]:
    """Offset of chunk 0, and a problem with the file header if there is one."""
    if head.startswith(CHUNK_MAGIC):
        return 0, None  # a carved chunk (or run of chunks) with no file header
    if not head.startswith(FILE_MAGIC):
        return FILE_HEADER_SIZE, "file header has no EVTX signature; recovering its chunks"
    if len(head) >= 128:
        stored = struct.unpack_from("<I", head, 124)[0]
        if stored != zlib.crc32(head[:120]):
            return FILE_HEADER_SIZE, "file header checksum mismatch; chunks parsed anyway"
    return FILE_HEADER_SIZE, None


def chunk_problems(chunk: bytes) -> list[str]:
    """Checksum problems of an intact-length chunk that has the signature (records still read)."""
    problems = []
    view = memoryview(chunk)  # checksums over views: slices would copy the chunk
    header_crc = struct.unpack_from("<I", chunk, 124)[0]
    if header_crc != crc32(view[128:512], crc32(view[:120])):
        problems.append("chunk header checksum mismatch")
    free_offset = struct.unpack_from("<I", chunk, 48)[0]
    if 512 <= free_offset <= CHUNK_SIZE:
        data_crc = struct.unpack_from("<I", chunk, 52)[0]
        if data_crc != crc32(view[512:free_offset]):
            problems.append("records checksum mismatch")
    else:
        problems.append(f"free space offset {free_offset} out of range")
    return problems


class _Warnings:
    """The parser's warnings (records it skipped), collected per chunk.

    ``catch_warnings`` on every chunk costs about a microsecond per record; instead every
    warning of this process goes to one list, routed there once, and each chunk starts by
    emptying it.
    """

    installed = False
    caught: list[str] = []  # noqa: RUF012 - one process-wide list, emptied per chunk

    @classmethod
    def start(cls) -> list[str]:
        """The emptied list the next warnings go to."""
        if not cls.installed:
            warnings.simplefilter("always")
            warnings.showwarning = cls._show
            cls.installed = True
        cls.caught.clear()
        return cls.caught

    @classmethod
    def _show(cls, message: Warning | str, *_args: object, **_kwargs: object) -> None:
        cls.caught.append(str(message))


Flatten = Callable[[str], tuple[dict[str, Any], float | None, tuple[str, ...]]]


class _Out:
    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._fd = stream.fileno()
        self._flatten: Flatten | None = None
        self.normalise_past = BACKLOG_BYTES
        self.progress: mmap.mmap | None = None
        self.rules: bytes | None = None  # the rule set the parent offered, pickled
        self._hits: Callable[[dict[str, Any]], list[int]] | None = None
        self._loaded: bytes | None = None  # the pickle _hits comes from

    def at(self, seq: int, chunk: int) -> None:
        if self.progress is not None:
            PROGRESS.pack_into(self.progress, 0, seq, chunk + 1)

    def plan(self) -> tuple[int, bool]:
        """The backlog past which a chunk is normalised here (0: always, -1: never), and
        whether the offered rules run on it then."""
        if self.progress is not None:
            given, normalise, match = HINT.unpack_from(self.progress, PROGRESS.size)
            if given:
                return int(normalise), bool(match)
        return self.normalise_past, False

    def backlog(self) -> int:
        """Bytes written to the pipe that the parent has not read yet (0 if unknown)."""
        count = array("i", [0])
        try:
            fcntl.ioctl(self._fd, termios.FIONREAD, count, True)
        except OSError:
            return 0
        return count[0]

    def normaliser(self) -> Flatten:
        if self._flatten is None:
            # Imported on first use only: most runs never fall behind, and start faster.
            _package_importable()
            from sentinelle.readers.evtx_records import decode_record

            self._flatten = decode_record
        return self._flatten

    def matcher(self) -> Callable[[dict[str, Any]], list[int]] | None:
        """The offered rule set's ``hits``, loaded on first use (None: none offered, or it
        could not be loaded, which the parent notices as records arriving unmatched)."""
        if self.rules is not self._loaded:
            self._loaded = self.rules
            self._hits = None
            if self.rules is not None:
                _package_importable()  # unpickling imports the engine
                try:
                    # The parent's own rule set (CompiledRules.pickled), never input data.
                    self._hits = pickle.loads(self.rules).hits  # noqa: S301
                except Exception as exc:  # noqa: BLE001 - any failure only costs the help
                    print(f"rule set not loaded: {exc!r}", file=sys.stderr)
        return self._hits

    def frame(self, kind: bytes, *parts: bytes) -> None:
        """One frame made of ``parts``. A large one goes straight to the pipe, with no copy
        into the buffer, after what the buffer holds."""
        size = sum(map(len, parts))
        if size < _DIRECT_FRAME:
            self._stream.write(FRAME.pack(kind, size))
            for part in parts:
                self._stream.write(part)
            return
        self._stream.flush()
        pending: list[bytes | memoryview] = [FRAME.pack(kind, size), *parts]
        while pending:
            written = os.writev(self._fd, pending)
            while pending and written >= len(pending[0]):
                written -= len(pending.pop(0))
            if pending and written:
                pending[0] = memoryview(pending[0])[written:]

    def issue(self, chunk: int | None, reason: str) -> None:
        self.frame(b"I", orjson.dumps({"chunk": chunk, "reason": reason}))

    def flush(self) -> None:
        self._stream.flush()


def parse_file(path: str, start_chunk: int, ansi_codec: str, out: _Out, seq: int = 0) -> None:
    # A plain descriptor: a buffered file object costs more to open than a small log costs to
    # read. Reads stay sequential (seeking only to resume), so pipes and devices work too.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        out.frame(b"E", orjson.dumps({"reason": f"cannot open: {exc.strerror or exc}"}))
        return
    index = start_chunk
    try:
        head = _read_full(fd, FILE_HEADER_SIZE)
        base, header_problem = chunk_base(head)
        if header_problem and start_chunk == 0:
            out.issue(None, header_problem)
        # Past the chunks a sound file header declares lies free space (preallocated, mostly
        # zeros: nearly half the chunks of the attack corpus). There only a chunk that starts
        # with a signature (records written after the header was last updated) is read whole.
        declared = None
        if base and header_problem is None and len(head) >= 128 and _regular(fd):
            declared = struct.unpack_from("<H", head, 42)[0]
        position = len(head)
        while True:
            # The parent must know the chunk before its read or parse can hang.
            out.at(seq, index)
            target = base + index * CHUNK_SIZE
            if declared is not None and index >= declared:
                signature = os.pread(fd, len(CHUNK_MAGIC), target)
                if not signature:
                    break
                if signature != CHUNK_MAGIC:
                    index += 1
                    continue
            if target != position:  # seek only when needed: pipes and devices cannot
                os.lseek(fd, target, os.SEEK_SET)
            chunk = _read_full(fd, CHUNK_SIZE)
            position = target + len(chunk)
            if not chunk:
                break
            _parse_chunk(index, chunk, ansi_codec, out)
            # Every earlier chunk's frames are in the pipe before the next read can block.
            out.flush()
            index += 1
    except OSError as exc:
        out.issue(index, f"read error: {exc.strerror or exc}; rest of the file skipped")
    finally:
        os.close(fd)
    out.frame(b"D")
    out.flush()


def _regular(fd: int) -> bool:
    return stat.S_ISREG(os.fstat(fd).st_mode)


def _read_full(fd: int, size: int) -> bytes:
    """``size`` bytes, fewer only at the end of the input (pipes return what they hold)."""
    data = os.read(fd, size)
    while 0 < len(data) < size:
        more = os.read(fd, size - len(data))
        if not more:
            break
        data += more
    return data


def _parse_chunk(index: int, chunk: bytes, ansi_codec: str, out: _Out) -> None:
    if not chunk.startswith(CHUNK_MAGIC):
        # All-zero chunks are preallocated space, not damage (compared without slicing a copy).
        if chunk != (_ZERO_CHUNK if len(chunk) == CHUNK_SIZE else bytes(len(chunk))):
            out.issue(index, f"no chunk signature, {len(chunk)} bytes skipped")
        return
    expected: tuple[int, int] | None = None
    if len(chunk) < CHUNK_SIZE:
        out.issue(
            index,
            f"chunk truncated ({len(chunk)} of {CHUNK_SIZE} bytes); records past the cut are lost",
        )
        chunk = chunk + bytes(CHUNK_SIZE - len(chunk))
    else:
        for problem in chunk_problems(chunk):
            out.issue(index, f"{problem}; records parsed anyway")
        first_id, last_id = struct.unpack_from("<QQ", chunk, 24)
        if first_id <= last_id and last_id - first_id < CHUNK_SIZE:
            expected = (first_id, last_id)
    ids = array("q")
    texts: list[str] = []
    caught = _Warnings.start()
    try:
        import evtx

        parser = evtx.PyEvtxParser(
            io.BytesIO(_ONE_CHUNK_HEADER + chunk),
            number_of_threads=1,
            ansi_codec=ansi_codec,
            indent=False,
            skip_errors=True,
        )
        for item in parser.records_json():
            record: dict[str, Any] = item  # type: ignore[assignment]  # never None
            ids.append(record["event_record_id"])
            texts.append(record["data"])
    except (RuntimeError, ValueError, OSError, OverflowError, MemoryError) as exc:
        out.issue(index, f"parser stopped: {exc}")
    for message in caught:
        out.issue(index, message)
    if texts:
        meta = None
        normalise, match = out.plan()
        if normalise == 0 or (normalise > 0 and out.backlog() > normalise):
            meta = _normalised(texts, out, out.matcher() if match else None)
        # One encode for the whole chunk; the parent cuts its texts apart by their sizes.
        whole = "".join(texts)
        head = struct.pack("<I", len(ids)) + ids.tobytes() + _text_sizes(texts, whole.isascii())
        joined = whole.encode("utf-8", "surrogatepass")
        if meta is not None:
            out.frame(b"N", head, meta, joined)
        else:
            out.frame(b"R", head, joined)
    if expected is not None and len(ids) < expected[1] - expected[0] + 1:
        missing = expected[1] - expected[0] + 1 - len(ids)
        out.issue(
            index,
            f"{missing} of {expected[1] - expected[0] + 1} records unreadable "
            f"(record ids {expected[0]}..{expected[1]})",
        )


def _text_sizes(texts: list[str], ascii_only: bool) -> bytes:
    """The UTF-8 size of each text (u32 each), by which the parent cuts them apart without
    scanning them: their lengths when all are ASCII, as nearly all are."""
    if ascii_only:
        return array("I", map(len, texts)).tobytes()
    return array("I", [len(text.encode("utf-8", "surrogatepass")) for text in texts]).tobytes()


def _normalised(
    texts: list[str], out: _Out, hits: Callable[[dict[str, Any]], list[int]] | None
) -> bytes | None:
    """The records as a JSON list of rows, or None to send them raw instead.

    A row is ``[fields, timestamp, flags]``; with ``hits`` (the offered rules),
    ``[EventRecordID, timestamp, flags, rule indices]`` instead: the parent then needs no
    fields to match the record, and decodes them from the raw text only if someone asks.
    None for a record that failed here: the parent decodes it and reports the failure."""
    flatten = out.normaliser()
    rows: list[Any] = []
    for text in texts:
        try:
            row = flatten(text)
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            rows.append(None)  # the parent decodes this one itself, and reports it if it fails
            continue
        entry: Any = row
        if hits is not None:
            fields, ts, flags = row
            try:
                entry = (fields.get("EventRecordID"), ts, flags, hits(fields))
            except Exception:  # noqa: BLE001 - the parent then matches this record itself
                entry = row
        rows.append(entry)
    try:
        meta = orjson.dumps(rows)
    except TypeError:  # an int past 64 bits (from a digit string): the parent copes with those
        return None
    return struct.pack("<I", len(meta)) + meta


def _limit_memory(megabytes: int) -> None:
    """Cap the address space at ``megabytes``, or at the limit inherited if that is lower.

    Raising a limit above what the parent was given is refused (``ulimit -v`` below 2 GiB made
    every EVTX file "parser unavailable"): the smaller of the two is taken, and the hard limit
    is only ever lowered.
    """
    if megabytes <= 0:
        return
    inherited_limits = resource.getrlimit(resource.RLIMIT_AS)
    limit = megabytes * 1024 * 1024
    for inherited in inherited_limits:
        if inherited != resource.RLIM_INFINITY:
            limit = min(limit, inherited)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main() -> None:
    # Frames go to a private copy of stdout; fd 1 now points at stderr, so a stray print from
    # any library cannot corrupt the protocol.
    frames = os.fdopen(os.dup(1), "wb", buffering=1 << 20)
    os.dup2(2, 1)
    out = _Out(frames)
    if len(sys.argv) > 2:
        out.normalise_past = int(sys.argv[2])
    if len(sys.argv) > 3:
        out.progress = mmap.mmap(int(sys.argv[3]), PAGE_SIZE)
    import evtx  # noqa: F401 - imported now, for the freeze below; _parse_chunk uses it

    # Last: the cap is for the parser, not for setting up the process.
    _limit_memory(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    # Nothing here makes reference cycles on the way through a file, but every record is a
    # dict, and allocations keep triggering the collector's passes over them: it runs between
    # files instead, and never walks what the start-up made (the modules, the parser's among
    # them): those passes then cost microseconds, not milliseconds.
    gc.disable()
    gc.freeze()
    handled = 0
    requests = sys.stdin.buffer
    while line := requests.readline():
        request = orjson.loads(line)
        if "rules" in request:  # the pickled set follows the line
            size = int(request["rules"])
            out.rules = requests.read(size) if size else None
            continue
        start, seq = int(request["start"]), int(request.get("seq", 0))
        parse_file(request["path"], start, request["codec"], out, seq)
        handled += 1
        if handled % _COLLECT_EVERY == 0:
            gc.collect()


if __name__ == "__main__":
    main()
