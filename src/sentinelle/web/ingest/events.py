"""``POST /api/v1/events``: NDJSON events from any client with an ``ingest`` token.

Each non-blank line is one event, in any shape the JSON readers take (EVTX-JSON, Winlogbeat or
ECS documents, flat objects); it is journaled as sent, and the detector normalises it exactly
as ``sentinelle hunt`` would read the same line from a file.

Answers:

* ``200 {"accepted": N}`` once the N events are in the journal on disk and synced;
* ``400 {"accepted": N, "refused": [{"line": L, "reason": ...}], "refused_count": K}`` when
  some lines are not JSON objects (or are over the line cap): the good lines are accepted and
  durable all the same (a log shipper that drops a batch on a 4xx must not lose them), and
  sending the same body again is harmless (the same events have the same ids);
* ``413`` (body over the cap, also once decompressed), ``415`` (an encoding other than gzip or
  deflate), ``400`` (damaged gzip): nothing accepted;
* ``503`` with ``Retry-After`` when the journal cannot take them now (disk full, stopping,
  too many requests at once): nothing accepted, send again later;
* ``401`` without a valid token, ``403`` with a token of another role (counted).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from sentinelle.service.inputs import metrics
from sentinelle.service.inputs.limits import InputLimits
from sentinelle.service.records import Record, RecordKind
from sentinelle.web.access import TokenRole, access, principal_of
from sentinelle.web.ingest.body import BodyError, iter_lines, parse_document, read_body
from sentinelle.web.ingest.handover import (
    SLOTS,
    Unavailable,
    make_durable,
    retry_after,
    service_sink,
)

INPUT = "http"


def unavailable(exc: Unavailable) -> HttpResponse:
    response = JsonResponse({"error": exc.reason, "detail": exc.detail}, status=503)
    response["Retry-After"] = retry_after(exc, INPUT)
    return response


def parse_events(
    request: HttpRequest, limits: InputLimits, sender: str
) -> tuple[list[Record], list[dict[str, Any]], int]:
    """The records of the good lines, the refused lines (as listed), how many were refused.
    Runs in a worker thread: reading, decompressing and parsing a large body must not hold
    the event loop that the other inputs share."""
    body = read_body(request, request.headers.get("Content-Encoding", ""), limits)
    received = time.time()
    records: list[Record] = []
    refused: list[dict[str, Any]] = []
    count = 0
    for number, line in iter_lines(body):
        document, reason = parse_document(line, limits)
        if document is None:
            count += 1
            what = "oversized" if reason.startswith("line longer") else "malformed"
            if what == "oversized":
                metrics.OVERSIZED.labels(INPUT, "line").inc()
            else:
                metrics.MALFORMED.labels(
                    INPUT, "bad-json" if reason.startswith("invalid") else "not-object"
                ).inc()
            if len(refused) < limits.refused_lines_listed:
                refused.append({"line": number, "reason": reason})
            continue
        records.append(Record(INPUT, sender, RecordKind.JSON, line.strip(), received))
    return records, refused, count


@csrf_exempt
@access(tokens={TokenRole.INGEST})
async def events(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return JsonResponse({"error": "POST NDJSON events here"}, status=405)
    try:
        sink, limits = service_sink()
        SLOTS.enter(limits)
    except Unavailable as exc:
        return unavailable(exc)
    try:
        sender = principal_of(request).name
        try:
            records, refused, count = await asyncio.to_thread(parse_events, request, limits, sender)
        except BodyError as exc:
            exc.count(INPUT)
            return JsonResponse({"error": exc.message}, status=exc.status)
        try:
            await make_durable(sink, records, INPUT)
        except Unavailable as exc:
            return unavailable(exc)
    finally:
        SLOTS.leave()
    if count:
        answer = {"accepted": len(records), "refused": refused, "refused_count": count}
        return JsonResponse(answer, status=400)
    return JsonResponse({"accepted": len(records)})
