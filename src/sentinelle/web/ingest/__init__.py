"""Events sent over HTTP: ``POST /api/v1/events`` (NDJSON) and the Elasticsearch ``_bulk`` subset.

Both take an ``ingest`` token (``sentinelle tokens create --role ingest``), hand the records to
the service's journal and answer only once they are durable. The caps and counters are the
listeners' (``sentinelle.service.inputs``); the body cap is applied in front of Django, as
every route's (``web.bodycap``), by :class:`~sentinelle.web.ingest.guard.IngestGuard`.
"""
