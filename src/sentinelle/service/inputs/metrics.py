"""The inputs' counters, on prometheus-client's default registry (the service's ``/metrics``).

Every record an input does not turn into a journal entry is counted here by input and reason,
so that an operator sees a flood (``rate-limited``, ``backlog``), a full disk (``refused``), a
broken sender (``malformed``, ``oversized``) or a probe (``auth``) in numbers. Label values are
always from a fixed set of words, never text a peer sent: a peer cannot make new series.

Inputs: ``syslog-udp``, ``syslog-tcp``, ``syslog-tls``, ``syslog-relp``, ``syslog-relp-tls``,
``netflow``, ``http``, ``bulk``, ``folder``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

EVENTS = Counter(
    "sentinelle_input_events",
    "Records an input handed to the journal and the journal made durable.",
    ["input"],
)
DROPPED = Counter(
    "sentinelle_input_dropped",
    "Records received and lost, by reason: refused (the journal could not take them: disk "
    "full, stopping), backlog (too many submissions pending), rate-limited, journal-error. "
    "Only UDP inputs drop: the others make their sender wait or retry.",
    ["input", "reason"],
)
REFUSED = Counter(
    "sentinelle_input_refused",
    "Times a sender was told to retry later or slowed down: an HTTP 503 (reason: refused, "
    "busy, not-ready) or a TCP/TLS connection no longer read until the journal takes more "
    "(reason: refused, journal-error).",
    ["input", "reason"],
)
MALFORMED = Counter(
    "sentinelle_input_malformed",
    "Frames, lines, datagrams or documents skipped as malformed, by reason (binary, empty, "
    "truncated, bad-json, not-object, bad-action, unsupported-action, not-netflow, bad-gzip, "
    "read-issue, unreadable-file).",
    ["input", "reason"],
)
OVERSIZED = Counter(
    "sentinelle_input_oversized",
    "Messages, lines, datagrams or request bodies over their size cap, skipped or refused.",
    ["input", "what"],
)
RATE_LIMITED = Counter(
    "sentinelle_input_rate_limited",
    "Messages over their source's rate: dropped (UDP) or read later (TCP, TLS).",
    ["input"],
)
AUTH_FAILURES = Counter(
    "sentinelle_input_auth_failures",
    "Ingest requests refused for a missing, unknown, revoked or wrong-role token (401, 403).",
    ["input"],
)
CONNECTIONS = Counter(
    "sentinelle_input_connections",
    "Connections by outcome: accepted, over-total (max_connections), over-source "
    "(max_connections_per_source), stopping, tls-failed, idle-timeout, slow-sender.",
    ["input", "outcome"],
)
OPEN_CONNECTIONS = Gauge(
    "sentinelle_input_open_connections",
    "Connections open now.",
    ["input"],
    multiprocess_mode="livesum",  # one series summed over the live processes, not one per pid
)
FILES = Counter(
    "sentinelle_input_files",
    "Files of the watched folder by outcome: read, failed (unreadable as a whole), unchanged "
    "(same content seen again under a new time), changed (read again after a change).",
    ["outcome"],
)
