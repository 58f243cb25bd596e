"""The inputs of ``sentinelle serve``: syslog (UDP, TCP, TLS), NetFlow/IPFIX, the watched folder.

Every listener treats its peer as hostile (``limits``), turns what it receives into
:class:`~sentinelle.service.records.Record` s, and hands them to the journal; a stream sender
is read only as fast as the journal makes them durable. The HTTP inputs (NDJSON and the
Elasticsearch ``_bulk`` subset) live in the web app (``sentinelle.web.ingest``) and share the
same limits and counters (``metrics``).
"""
