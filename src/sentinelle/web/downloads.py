"""Files given back whole: the package's static files and the evidence downloads.

Under ASGI (uvicorn, as ``sentinelle serve`` runs the app) Django can only stream an
*asynchronous* iterator: handed a synchronous one (what ``FileResponse`` and
``django.views.static.serve`` make), it warns and reads the whole response into a list in a
worker thread before sending a byte, so a 64 MiB evidence file sat in memory once per download.
Small static files are therefore read whole into an ordinary response, and large files are read
chunk by chunk in a worker thread by :class:`AsyncChunks`; a synchronous server (WSGI, the test
client) keeps Django's ``FileResponse``.
"""

from __future__ import annotations

import asyncio
import mimetypes
from pathlib import Path
from typing import BinaryIO

from django.core.handlers.asgi import ASGIRequest
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotModified,
    StreamingHttpResponse,
)
from django.utils.http import content_disposition_header, http_date
from django.views.static import was_modified_since

CHUNK_BYTES = 256 * 1024


class AsyncChunks:
    """An open file read ``size`` bytes at a time in a worker thread (the event loop never
    waits on the disk). The response closes it once sent, or when the client went away
    (Django calls ``close`` on the streaming content)."""

    def __init__(self, handle: BinaryIO, size: int = CHUNK_BYTES) -> None:
        self._handle = handle
        self._size = size

    def __aiter__(self) -> AsyncChunks:
        return self

    async def __anext__(self) -> bytes:
        data = await asyncio.to_thread(self._handle.read, self._size)
        if not data:
            raise StopAsyncIteration
        return data

    def close(self) -> None:
        self._handle.close()


def attachment(
    request: HttpRequest, handle: BinaryIO, name: str, size: int
) -> StreamingHttpResponse:
    """``handle`` as a download named ``name`` (``application/octet-stream``, never rendered):
    an asynchronous iterator under ASGI, Django's ``FileResponse`` otherwise."""
    if not isinstance(request, ASGIRequest):
        return FileResponse(
            handle, as_attachment=True, filename=name, content_type="application/octet-stream"
        )
    response = StreamingHttpResponse(AsyncChunks(handle), content_type="application/octet-stream")
    response["Content-Length"] = str(size)
    disposition = content_disposition_header(True, name)
    assert disposition is not None  # always one for an attachment
    response["Content-Disposition"] = disposition
    return response


def static(request: HttpRequest, path: Path) -> HttpResponseBase:
    """A static file of the package (a few kB each), read whole; conditional on
    ``If-Modified-Since`` as Django's own static view is."""
    stat = path.stat()
    if not was_modified_since(request.META.get("HTTP_IF_MODIFIED_SINCE"), int(stat.st_mtime)):
        return HttpResponseNotModified()
    content_type, encoding = mimetypes.guess_type(path.name)
    content_type = content_type or "application/octet-stream"
    response = HttpResponse(path.read_bytes(), content_type=content_type)
    response["Last-Modified"] = http_date(stat.st_mtime)
    if encoding:
        response["Content-Encoding"] = encoding
    return response
