"""Reading an ingest request's body under its caps: size, compression, lines.

The body is decompressed as it is read (gzip, as Beats, Fluent Bit, Vector and Logstash send
it; zlib ``deflate``), and reading stops at ``max_body_bytes`` of decompressed data, so a
decompression bomb costs at most that. Lines are cut on LF (a CR before it is dropped); a line
longer than ``max_line_bytes`` is refused with its number, never parsed.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any, Protocol

import orjson

from sentinelle.errors import SentinelleError
from sentinelle.service.inputs import metrics
from sentinelle.service.inputs.limits import InputLimits

_CHUNK = 1 << 20


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class BodyError(SentinelleError):
    """The body as a whole cannot be taken: ``status`` 413 (too large), 415 (an encoding we do
    not read) or 400 (damaged compression)."""

    def __init__(self, status: int, message: str, what: str) -> None:
        super().__init__(message)
        self.status = status
        self.what = what  # the counter's reason: oversized, bad-gzip, encoding

    def count(self, input_name: str) -> None:
        if self.what == "oversized":
            metrics.OVERSIZED.labels(input_name, "body").inc()
        else:
            metrics.MALFORMED.labels(input_name, self.what).inc()


def read_body(stream: Readable, encoding: str, limits: InputLimits) -> bytes:
    """The whole body, decompressed; BodyError past the cap or on damaged data."""
    cap = limits.max_body_bytes
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        data = stream.read(cap + 1)
        if len(data) > cap:
            raise BodyError(413, f"request body larger than {cap} bytes", "oversized")
        return data
    if encoding in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif encoding == "deflate":
        wbits = zlib.MAX_WBITS
    else:
        raise BodyError(415, f"unsupported Content-Encoding {encoding[:40]!r}", "encoding")
    return _inflate(stream, wbits, cap, encoding)


def _inflate(stream: Readable, wbits: int, cap: int, encoding: str) -> bytes:
    out = bytearray()
    inflater = zlib.decompressobj(wbits)
    try:
        while True:
            chunk = stream.read(_CHUNK)
            if not chunk:
                break
            while chunk:
                out += inflater.decompress(chunk, cap + 1 - len(out))
                if len(out) > cap:
                    raise BodyError(
                        413, f"request body larger than {cap} bytes once decompressed", "oversized"
                    )
                chunk = inflater.unconsumed_tail
                if inflater.eof and inflater.unused_data:
                    # Concatenated gzip members (RFC 1952 allows them): go on with the next.
                    chunk = inflater.unused_data + chunk
                    inflater = zlib.decompressobj(wbits)
        out += inflater.flush()
    except zlib.error as exc:
        raise BodyError(400, f"damaged {encoding} body: {exc}", "bad-gzip") from exc
    if not inflater.eof and out:
        raise BodyError(400, f"{encoding} body cut short", "bad-gzip")
    if len(out) > cap:
        raise BodyError(413, f"request body larger than {cap} bytes once decompressed", "oversized")
    return bytes(out)


def iter_lines(body: bytes) -> Iterator[tuple[int, bytes]]:
    """``(line number, line)`` of an NDJSON body, blank lines left out."""
    for number, raw in enumerate(body.split(b"\n"), 1):
        line = raw[:-1] if raw.endswith(b"\r") else raw
        if line.strip():
            yield number, line


def parse_document(line: bytes, limits: InputLimits) -> tuple[dict[str, Any] | None, str]:
    """One JSON object of a line, or None and why it is refused."""
    if len(line) > limits.max_line_bytes:
        return None, f"line longer than {limits.max_line_bytes} bytes"
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc}"
    if not isinstance(document, dict):
        return None, f"a JSON {type(document).__name__} is not an event (an object)"
    return document, ""
