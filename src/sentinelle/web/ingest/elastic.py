"""The part of Elasticsearch's HTTP API that log shippers need, so that Winlogbeat on a Windows
machine (and Logstash, Fluent Bit, Vector, the official clients) sends straight to Sentinelle.

Served under ``/es/`` (a client's ``path`` or URL prefix), with ``/_bulk`` and
``/<index>/_bulk`` also at the root for clients without one. What a client does first:

* ``GET /`` (the version: Beats refuse a server older than themselves, and read
  ``build_flavor`` to choose ILM over serverless), ``GET /_license``, ``GET /_xpack``,
  ``GET /_cluster/health`` (Vector's health check);
* its setup calls (index templates, component templates, ILM policies, ingest pipelines, data
  streams, rollover aliases): a look-up answers "exists" and a change "acknowledged", so the
  client goes on to send; nothing of it is kept (Sentinelle normalises every event itself);
* ``POST /_bulk``, ``POST /<index>/_bulk``: NDJSON action and source pairs. ``index`` and
  ``create`` are accepted; the source is journaled as sent, keyed by its ``_id`` when it has one
  (a resent bulk gives the same event ids); ``update`` and ``delete`` are refused per item
  (events are never changed). The answer is Elasticsearch's: ``errors`` and one item per
  action with its status, so a client retries exactly what failed.

Every 2xx answer carries ``X-Elastic-Product: Elasticsearch`` (the official clients check it).
Any POST or PUT that would write a document elsewhere (``_doc``, ``_create``, ``_update``) is
refused with 400: only ``_bulk`` takes data, so no event is ever acknowledged and dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from sentinelle import __version__
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

INPUT = "bulk"
# The version reported to clients: Beats 8 refuse a server older than themselves unless told
# otherwise, so the last 8.x; the official 8.x clients accept it. Nothing else depends on it.
REPORTED_VERSION = "8.19.0"
_WRITE_ACTIONS = ("index", "create")
_ACTIONS = ("index", "create", "update", "delete")
_DOCUMENT_ENDPOINTS = ("_doc", "_create", "_update", "_update_by_query", "_delete_by_query")


def es_response(body: Any, status: int = 200) -> HttpResponse:
    response = HttpResponse(orjson.dumps(body), status=status, content_type="application/json")
    response["X-Elastic-Product"] = "Elasticsearch"
    return response


def es_error(status: int, kind: str, reason: str) -> HttpResponse:
    cause = {"type": kind, "reason": reason}
    return es_response({"error": {**cause, "root_cause": [cause]}, "status": status}, status)


def _cluster_uuid() -> str:
    from django.conf import settings

    seed = str(getattr(settings, "SENTINELLE_DATA_DIR", "sentinelle")).encode()
    return hashlib.sha256(b"cluster" + seed).hexdigest()[:22]


# --- handshake --------------------------------------------------------------------------------


@access(tokens={TokenRole.INGEST})
def root(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return es_error(405, "illegal_argument_exception", "use GET /")
    return es_response(
        {
            "name": "sentinelle",
            "cluster_name": "sentinelle",
            "cluster_uuid": _cluster_uuid(),
            "version": {
                "number": REPORTED_VERSION,
                "build_flavor": "default",
                "build_type": "sentinelle",
                "build_hash": __version__,
                "build_date": "2025-01-01T00:00:00.000Z",
                "build_snapshot": False,
                "lucene_version": "9.12.0",
                "minimum_wire_compatibility_version": "7.17.0",
                "minimum_index_compatibility_version": "7.0.0",
            },
            "tagline": "You Know, for Search",
        }
    )


_LICENSE = {
    "status": "active",
    "uid": "00000000-0000-0000-0000-000000000000",
    "type": "basic",
    "issue_date_in_millis": 0,
    "max_nodes": 1000,
    "issued_to": "sentinelle",
    "issuer": "sentinelle",
    "start_date_in_millis": -1,
}


@access(tokens={TokenRole.INGEST})
def license_info(request: HttpRequest) -> HttpResponse:
    return es_response({"license": _LICENSE})


@access(tokens={TokenRole.INGEST})
def xpack(request: HttpRequest) -> HttpResponse:
    features = {
        name: {"available": True, "enabled": True}
        for name in ("ilm", "monitoring", "security", "data_streams", "data_tiers")
    }
    return es_response(
        {
            "build": {"hash": __version__, "date": "2025-01-01T00:00:00.000Z"},
            "license": {
                "uid": _LICENSE["uid"],
                "type": "basic",
                "mode": "basic",
                "status": "active",
            },
            "features": features,
        }
    )


@access(tokens={TokenRole.INGEST})
def cluster_health(request: HttpRequest) -> HttpResponse:
    return es_response(
        {
            "cluster_name": "sentinelle",
            "status": "green",
            "timed_out": False,
            "number_of_nodes": 1,
            "number_of_data_nodes": 1,
            "active_primary_shards": 0,
            "active_shards": 0,
            "relocating_shards": 0,
            "initializing_shards": 0,
            "unassigned_shards": 0,
            "delayed_unassigned_shards": 0,
            "number_of_pending_tasks": 0,
            "number_of_in_flight_fetch": 0,
            "task_max_waiting_in_queue_millis": 0,
            "active_shards_percent_as_number": 100.0,
        }
    )


@csrf_exempt
@access(tokens={TokenRole.INGEST})
def setup(request: HttpRequest, rest: str) -> HttpResponse:
    """A client's setup call (templates, policies, pipelines, aliases): exists, acknowledged."""
    parts = [part for part in rest.split("/") if part]
    if any(part in _DOCUMENT_ENDPOINTS for part in parts):
        metrics.MALFORMED.labels(INPUT, "unsupported-action").inc()
        return es_error(
            400,
            "illegal_argument_exception",
            "Sentinelle takes documents through _bulk only",
        )
    if request.method in ("GET", "HEAD"):
        return es_response({})
    if request.method in ("PUT", "POST"):
        return es_response({"acknowledged": True})
    return es_error(405, "illegal_argument_exception", f"{request.method} is not supported")


# --- _bulk ------------------------------------------------------------------------------------


def _item(action: str, index: str, doc_id: str, status: int, error: dict[str, str] | None) -> Any:
    if error is not None:
        return {action: {"_index": index, "_id": doc_id or None, "status": status, "error": error}}
    return {
        action: {
            "_index": index,
            "_id": doc_id,
            "_version": 1,
            "result": "created",
            "_shards": {"total": 1, "successful": 1, "failed": 0},
            "_seq_no": 0,
            "_primary_term": 1,
            "status": status,
        }
    }


class BulkError(Exception):
    """The bulk body as a whole cannot be read (a bad action line): ES answers 400."""


def parse_bulk(
    request: HttpRequest, limits: InputLimits, sender: str, default_index: str
) -> tuple[list[Record], list[Any], list[int]]:
    """The records to journal, every item's answer (records' ids filled in later), and for each
    record the position of its item. Runs in a worker thread."""
    body = read_body(request, request.headers.get("Content-Encoding", ""), limits)
    received = time.time()
    records: list[Record] = []
    items: list[Any] = []
    positions: list[int] = []
    lines = iter_lines(body)
    for number, line in lines:
        try:
            meta = orjson.loads(line) if len(line) <= limits.max_line_bytes else None
        except orjson.JSONDecodeError:
            meta = None
        if not isinstance(meta, dict) or len(meta) != 1 or next(iter(meta)) not in _ACTIONS:
            metrics.MALFORMED.labels(INPUT, "bad-action").inc()
            raise BulkError(f"Malformed action/metadata line [{number}]")
        action, params = next(iter(meta.items()))
        params = params if isinstance(params, dict) else {}
        index = str(params.get("_index") or default_index)
        doc_id = str(params.get("_id") or "")
        source: bytes | None = None
        if action != "delete":
            following = next(lines, None)
            if following is None:
                metrics.MALFORMED.labels(INPUT, "bad-action").inc()
                raise BulkError(f"The bulk request must be terminated by a newline [{number}]")
            source = following[1]
        if action not in _WRITE_ACTIONS:
            metrics.MALFORMED.labels(INPUT, "unsupported-action").inc()
            reason = f"{action} is not supported: events are never changed or removed"
            items.append(_item(action, index, doc_id, 400, _reason("illegal_argument", reason)))
            continue
        if not index:
            metrics.MALFORMED.labels(INPUT, "bad-action").inc()
            items.append(
                _item(
                    action,
                    "",
                    doc_id,
                    400,
                    _reason("action_request_validation", "index is missing"),
                )
            )
            continue
        assert source is not None
        document, reason = parse_document(source, limits)
        if document is None:
            if reason.startswith("line longer"):
                metrics.OVERSIZED.labels(INPUT, "document").inc()
            else:
                metrics.MALFORMED.labels(INPUT, "bad-json").inc()
            items.append(_item(action, index, doc_id, 400, _reason("document_parsing", reason)))
            continue
        positions.append(len(items))
        items.append(_item(action, index, doc_id, 201, None))
        records.append(Record(INPUT, sender, RecordKind.JSON, source.strip(), received, doc_id))
    return records, items, positions


def _reason(kind: str, reason: str) -> dict[str, str]:
    return {"type": f"{kind}_exception", "reason": reason}


@csrf_exempt
@access(tokens={TokenRole.INGEST})
async def bulk(request: HttpRequest, index: str = "") -> HttpResponse:
    if request.method not in ("POST", "PUT"):
        return es_error(405, "illegal_argument_exception", "use POST /_bulk")
    started = time.monotonic()
    try:
        sink, limits = service_sink()
        SLOTS.enter(limits)
    except Unavailable as exc:
        return _unavailable(exc)
    try:
        sender = principal_of(request).name
        try:
            records, items, positions = await asyncio.to_thread(
                parse_bulk, request, limits, sender, index
            )
        except BodyError as exc:
            exc.count(INPUT)
            kind = "content_too_long_exception" if exc.status == 413 else "parse_exception"
            return es_error(exc.status, kind, exc.message)
        except BulkError as exc:
            return es_error(400, "illegal_argument_exception", str(exc))
        try:
            await make_durable(sink, records, INPUT)
        except Unavailable as exc:
            return _unavailable(exc)
    finally:
        SLOTS.leave()
    for record, position in zip(records, positions, strict=True):
        if not record.key:  # Elasticsearch would make one up; ours is the event's own id
            (answer,) = items[position].values()
            answer["_id"] = record.event_id
    errors = len(positions) != len(items)
    took = int((time.monotonic() - started) * 1000)
    return es_response({"took": took, "errors": errors, "items": items})


def _unavailable(exc: Unavailable) -> HttpResponse:
    response = es_error(503, "es_rejected_execution_exception", f"{exc.reason}: {exc.detail}")
    response["Retry-After"] = retry_after(exc, INPUT)
    return response
