"""Archives and compressed files (zip, tar, gzip, bzip2), read member by member with the limits
that keep a hostile archive from costing more than itself.

* **Nesting**: archives inside archives are followed ``MAX_ARCHIVE_DEPTH`` deep.
* **Decompression ratio**: every decompressing stream is wrapped in a :class:`CappedStream`:
  past ``ratio_floor`` bytes, a stream may not expand to more than ``max_ratio`` times the
  compressed bytes it has consumed (a 10 MB gzip of 10 GiB of one letter is refused after a few
  tens of MB), and all the streams of one input together not past ``max_ratio`` times the input's
  own size (nesting cannot multiply ratios). A zip member is judged on its declared sizes
  before it is opened (the zip reader never gives more than the declared size).
* **Spool**: EVTX files and zip or compressed archives inside an archive are copied to a
  temporary file, all of one input's members together within ``max_spool_bytes``.
* **Names and kinds**: members are never extracted, so a name with ``..`` or a leading ``/``
  only names the member (``archive.tar!../x``); links, devices and FIFOs inside a tar are
  reported and not followed; encrypted zip members are reported.

Each refusal is a ``file`` read issue naming the member; the other members are read.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from sentinelle.errors import Location, ReadError
from sentinelle.events import EventBatch
from sentinelle.readers.lines import ByteStream
from sentinelle.readers.members import STREAM_ERRORS, Reading, read_member, unreadable

MAX_ARCHIVE_DEPTH = 3


class CappedStream:
    """A decompressing stream that stops with ReadError once its output passes the ratio cap.

    ``consumed()`` gives the compressed bytes read so far (the raw file's position). The check
    runs per block read, so a bomb is stopped within one block of the cap.
    """

    def __init__(
        self, stream: ByteStream, consumed: Callable[[], int], name: str, reading: Reading
    ) -> None:
        self._stream = stream
        self._consumed = consumed
        self._name = name
        self._reading = reading
        self.expanded = 0

    def read(self, size: int = -1, /) -> bytes:
        return self._count(self._stream.read(size))

    def readline(self, size: int = -1, /) -> bytes:
        return self._count(self._stream.readline(size))

    def _count(self, data: bytes) -> bytes:
        self.expanded += len(data)
        reading = self._reading
        reading.expanded += len(data)
        limits = reading.limits
        cap = limits.ratio_floor + limits.max_ratio * self._consumed()
        overall = reading.expansion_cap()
        if self.expanded > cap or (overall is not None and reading.expanded > overall):
            raise ReadError(
                f"refused: expands past the decompression ratio of {limits.max_ratio}:1"
                f" (over {self.expanded >> 20} MiB from {self._consumed() >> 10} KiB read;"
                " max_ratio, ratio_floor)",
                Location(self._name),
            )
        return data


def read_archive(
    path: Path, fmt: str, source: str, reading: Reading, depth: int
) -> Iterator[EventBatch]:
    """Every member of the archive or compressed file at ``path`` (format ``fmt``)."""
    if depth >= MAX_ARCHIVE_DEPTH:
        yield unreadable(source, f"archive nested deeper than {MAX_ARCHIVE_DEPTH}", fmt)
        return
    if fmt == "zip":
        yield from _read_zip(path, source, reading, depth)
        return
    if fmt == "tar":
        try:
            with path.open("rb") as raw:
                yield from read_tar(raw, source, reading, depth)
        except OSError as exc:
            yield unreadable(source, f"cannot read: {exc.strerror or exc}", fmt)
        return
    inner_name = source[: -len(Path(source).suffix)] if Path(source).suffix else source
    try:
        with path.open("rb") as raw, _decompressing(fmt, raw) as stream:
            capped = CappedStream(stream, raw.tell, source, reading)
            yield from read_member(capped, inner_name, source, reading, depth)
    except STREAM_ERRORS as exc:
        yield unreadable(source, f"{fmt} stream unreadable: {_reason(exc)}", fmt)


def _decompressing(fmt: str, raw: IO[bytes]) -> gzip.GzipFile | bz2.BZ2File:
    return gzip.GzipFile(fileobj=raw, mode="rb") if fmt == "gzip" else bz2.BZ2File(raw, "rb")


def _read_zip(path: Path, source: str, reading: Reading, depth: int) -> Iterator[EventBatch]:
    try:
        archive = zipfile.ZipFile(path)
    except (*STREAM_ERRORS, zipfile.LargeZipFile) as exc:
        yield unreadable(source, f"zip archive unreadable: {exc}", "zip")
        return
    limits = reading.limits
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            member = f"{source}!{info.filename}"
            if info.flag_bits & 0x1:
                yield unreadable(member, "encrypted zip member, skipped", "zip")
                continue
            if info.file_size > limits.ratio_floor + limits.max_ratio * info.compress_size:
                yield unreadable(
                    member,
                    f"refused: declares {info.file_size} bytes from {info.compress_size}"
                    f" compressed, past the decompression ratio of {limits.max_ratio}:1"
                    " (max_ratio, ratio_floor)",
                    "zip",
                )
                continue
            try:
                with archive.open(info) as stream:
                    # The zip reader stops at the declared size: the whole compressed size is
                    # what the member may expand from.
                    whole = functools.partial(int, info.compress_size)
                    capped = CappedStream(stream, whole, member, reading)
                    yield from read_member(capped, member, member, reading, depth)
            except (*STREAM_ERRORS, NotImplementedError) as exc:
                yield unreadable(member, f"zip member unreadable: {_reason(exc)}")


def read_tar(stream: ByteStream, source: str, reading: Reading, depth: int) -> Iterator[EventBatch]:
    """Every regular member of a tar stream, read as it comes (no seeking, no extraction)."""
    if depth >= MAX_ARCHIVE_DEPTH:
        yield unreadable(source, f"archive nested deeper than {MAX_ARCHIVE_DEPTH}", "tar")
        return
    tail = _Tail(stream)
    try:
        archive = tarfile.open(fileobj=tail, mode="r|")  # type: ignore[call-overload]  # noqa: SIM115 - closed by the with below
    except STREAM_ERRORS as exc:
        yield unreadable(source, f"tar archive unreadable: {_reason(exc)}", "tar")
        return
    with archive:
        try:
            for info in archive:
                member = f"{source}!{info.name}"
                if info.isdir():
                    continue
                if info.issym() or info.islnk():
                    yield unreadable(
                        member, f"link in archive (to {info.linkname!r}), not followed", "tar"
                    )
                    continue
                if not info.isfile():
                    yield unreadable(member, "device or FIFO in archive, not read", "tar")
                    continue
                handle = archive.extractfile(info)
                if handle is None:
                    continue
                try:
                    yield from read_member(handle, member, member, reading, depth)
                finally:
                    handle.close()
        except STREAM_ERRORS as exc:
            # A damaged or refused stream: the members read so far stay, the rest is reported.
            yield unreadable(source, f"tar archive unreadable past here: {_reason(exc)}", "tar")
            return
        # tarfile ends quietly at a damaged header: the bytes after it would be lost unsaid.
        try:
            unread = tail.unread_after(archive.offset)
            reason = f"damaged tar: {unread} bytes past offset {archive.offset} not read"
        except STREAM_ERRORS as exc:
            unread, reason = 1, f"tar archive unreadable past here: {_reason(exc)}"
        if unread:
            yield unreadable(source, reason, "tar")


class _Tail:
    """A stream as tarfile reads it, remembering the last bytes it handed over, so that what
    follows the point where tarfile stopped can be checked for anything but end padding."""

    _KEEP = 1 << 16  # tarfile reads ahead by one record (10 KiB)

    def __init__(self, stream: ByteStream) -> None:
        self._stream = stream
        self._recent = b""
        self.position = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self._stream.read(size)
        self.position += len(data)
        self._recent = (self._recent + data)[-self._KEEP :]
        return data

    def unread_after(self, offset: int) -> int:
        """Non-zero bytes from ``offset`` to the end of the stream (its rest is read)."""
        start = offset - (self.position - len(self._recent))
        count = len(self._recent[max(start, 0) :].replace(b"\0", b""))
        while block := self._stream.read(1 << 20):
            count += len(block.replace(b"\0", b""))
        return count


def _reason(exc: BaseException) -> str:
    return exc.message if isinstance(exc, ReadError) else f"{type(exc).__name__}: {exc}"
