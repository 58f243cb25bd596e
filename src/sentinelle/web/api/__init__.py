"""The read API (``/api/v1/alerts``, ``/api/v1/incidents``), health probes and ``/metrics``."""
