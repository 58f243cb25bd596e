"""What a sender may cost the service: every cap of the inputs, with defaults for a hospital.

Every peer is hostile until it proves otherwise: the edge firewall that floods because it is
under attack, the compromised workstation that sends garbage on purpose, the scanner that opens
connections and sends nothing. Each cap below bounds one of those costs (memory, connections,
time, journal share); what goes past a cap is counted by reason (``metrics``) and the rest of
the work goes on. ``docs/INPUTS.md`` lists the same caps for administrators.

Defaults are sized for one machine serving a hospital of a few thousand hosts: the largest
legitimate message (a Windows event forwarded as JSON) is a few KiB, the noisiest source (an
edge firewall, a domain controller) sends a few thousand messages a second, and a busy day
has a few hundred senders.
"""

from __future__ import annotations

from dataclasses import dataclass

from sentinelle.errors import ConfigError

# The key under which ``sentinelle serve`` puts its limits in ``Runtime.extras``, so that the
# HTTP ingest views (running inside Django) apply the same caps as the listeners.
LIMITS_EXTRA = "input_limits"


@dataclass(frozen=True, slots=True)
class InputLimits:
    # --- sizes -------------------------------------------------------------------------
    # One syslog message (a UDP datagram, a TCP/TLS frame or line), framing excluded. RFC 5425
    # asks receivers for at least 2 KiB and rsyslog defaults to 8 KiB; Windows events sent as
    # JSON by NXLog or Winlogbeat reach tens of KiB. Longer messages are skipped and counted.
    max_message_bytes: int = 64 * 1024
    # One NetFlow/IPFIX datagram: the largest a UDP datagram can be.
    max_datagram_bytes: int = 65535
    # One HTTP ingest request, after gzip decompression (Logstash sends up to 20 MiB per bulk
    # request, Vector 10 MB): larger bodies are refused with 413 before they are read further.
    max_body_bytes: int = 32 * 1024 * 1024
    # One NDJSON line or bulk document: the readers' own cap on a JSON document is 16 MiB,
    # but one event is a few KiB; a longer line is refused (its line number reported).
    max_line_bytes: int = 1024 * 1024
    # --- connections -------------------------------------------------------------------
    # Open TCP and TLS syslog connections, all sources together (each costs a buffer of at
    # most ``max_message_bytes`` plus a read chunk).
    max_connections: int = 1024
    # Open connections from one address: a misbehaving host cannot take every slot.
    max_connections_per_source: int = 32
    # HTTP ingest requests processed at once; more get 503 with Retry-After. Bounds the memory
    # the bodies take to ``max_concurrent_requests * max_body_bytes``.
    max_concurrent_requests: int = 8
    # --- time --------------------------------------------------------------------------
    # A connection that sends nothing for this long is closed (rsyslog reconnects by itself
    # and checks the connection before it sends, so nothing is lost).
    idle_timeout: float = 600.0
    # A frame or line that has started must be complete within this time, or the connection
    # is closed: a slow sender (slowloris) cannot hold a slot and a buffer forever. Time spent
    # waiting for the journal (backpressure) does not count.
    frame_timeout: float = 30.0
    # The TLS handshake must be done within this time.
    tls_handshake_timeout: float = 10.0
    # --- rates -------------------------------------------------------------------------
    # Messages per second one source address may send over syslog and NetFlow, and the burst
    # it may send above that rate. Over it, UDP datagrams are dropped and counted; a TCP or
    # TLS connection is read more slowly (nothing is lost, the sender queues).
    source_rate: float = 10_000.0
    source_burst: int = 50_000
    # Sources whose rate is tracked at once; past it, the longest-tracked ones are forgotten
    # (a spoofed UDP flood of random addresses cannot grow this table without bound).
    max_tracked_sources: int = 65_536
    # --- journal hand-over -------------------------------------------------------------
    # Records per submission to the journal.
    batch_records: int = 1000
    # Submissions of one TCP/TLS connection not yet durable; at this count the connection is
    # not read until one completes (backpressure through TCP).
    max_inflight_batches: int = 4
    # Submissions of one UDP input not yet durable; datagrams arriving past this are dropped
    # and counted (reason ``backlog``): a UDP sender cannot be slowed down.
    max_udp_backlog: int = 64
    # How long a UDP input gathers datagrams into one submission.
    udp_linger: float = 0.005
    # --- watched folder ----------------------------------------------------------------
    # How often the watched folder is listed.
    folder_poll_seconds: float = 2.0
    # A file is read only once its size and modification time have not changed for this
    # long (a file still being copied in is not read half-written).
    folder_stable_seconds: float = 5.0
    # Read issues kept on a file's row (all are counted).
    folder_issues_kept: int = 100
    # --- answers -----------------------------------------------------------------------
    # Refused NDJSON lines listed in a 4xx answer (all are counted in it).
    refused_lines_listed: int = 100

    def __post_init__(self) -> None:
        for name in (
            "max_message_bytes",
            "max_datagram_bytes",
            "max_body_bytes",
            "max_line_bytes",
            "max_connections",
            "max_connections_per_source",
            "max_concurrent_requests",
            "source_burst",
            "max_tracked_sources",
            "batch_records",
            "max_inflight_batches",
            "max_udp_backlog",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"input limit {name} must be at least 1")
        for name in (
            "idle_timeout",
            "frame_timeout",
            "tls_handshake_timeout",
            "source_rate",
            "folder_poll_seconds",
        ):
            if not getattr(self, name) > 0:
                raise ConfigError(f"input limit {name} must be greater than 0")
        if self.udp_linger < 0 or self.folder_stable_seconds < 0:
            raise ConfigError("input limits udp_linger and folder_stable_seconds cannot be < 0")
        if self.max_datagram_bytes > 65535:
            raise ConfigError("input limit max_datagram_bytes cannot exceed 65535")
