"""The service's Prometheus counters, made once per process.

Every process of the service (the ``serve`` process, the detector) counts into the default
registry; with ``PROMETHEUS_MULTIPROC_DIR`` set (``runner.prepare_metrics``) prometheus-client
keeps them in files of that folder, and ``/metrics`` adds up every process's files (the
detector's counters reach it that way). The journal's numbers are read when scraped
(``web.api.health.JournalCollector``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class DetectorMetrics:
    records: Any
    unreadable: Any
    detections: Any
    stored: Any
    replayed: Any
    suppressed: Any
    merged: Any
    slice_seconds: Any
    network_losses: Any
    ahead: Any
    correlation_evictions: Any
    correlation_eviction_times: Any


@functools.cache
def detector_metrics() -> DetectorMetrics:
    from prometheus_client import Counter, Gauge, Histogram

    return DetectorMetrics(
        records=Counter("sentinelle_detector_records", "Journal records matched"),
        unreadable=Counter(
            "sentinelle_detector_unreadable_records", "Journal records no reader could read"
        ),
        detections=Counter("sentinelle_detector_detections", "Detections produced"),
        stored=Counter("sentinelle_alerts_stored", "Alerts stored", ["level"]),
        replayed=Counter(
            "sentinelle_alerts_already_stored", "Alerts found already stored (replays)"
        ),
        suppressed=Counter("sentinelle_alerts_suppressed", "Alerts suppressed"),
        merged=Counter(
            "sentinelle_incidents_merged", "Incidents absorbed by the live grouping (bridged)"
        ),
        slice_seconds=Histogram(
            "sentinelle_detector_slice_seconds", "Time to match and store one journal slice"
        ),
        # The detector's state is restored from its checkpoint after a restart and the value
        # set again: the most recent value of any process is the one that counts.
        network_losses=Gauge(
            "sentinelle_network_losses",
            "Every loss of the network path by name (network.losses): flows set aside, "
            "templates refused, state evicted... since the detector's state began",
            ["loss"],
            multiprocess_mode="mostrecent",
        ),
        ahead=Counter(
            "sentinelle_detector_events_ahead",
            "Detections whose event time was after their arrival: correlated at arrival",
        ),
        # What each correlation rule's state caps made it forget (Correlator.evictions): groups
        # evicted (an attack in one may go unseen), window entries dropped, events not kept.
        correlation_evictions=Gauge(
            "sentinelle_correlation_state_evictions",
            "What a correlation rule's state caps made it forget since the detector's state "
            "began: groups evicted, entries dropped, events not kept",
            ["rule_id", "rule", "lost"],
            multiprocess_mode="mostrecent",
        ),
        correlation_eviction_times=Gauge(
            "sentinelle_correlation_state_eviction_time_seconds",
            "Input time (Unix seconds) of a correlation rule's first and latest eviction",
            ["rule_id", "rule", "at"],
            multiprocess_mode="mostrecent",
        ),
    )


@dataclass(frozen=True, slots=True)
class NotifyMetrics:
    sent: Any
    failures: Any
    given_up: Any


@functools.cache
def notify_metrics() -> NotifyMetrics:
    from prometheus_client import Counter

    return NotifyMetrics(
        sent=Counter("sentinelle_notifications_sent", "Notifications sent", ["route"]),
        failures=Counter(
            "sentinelle_notification_failures", "Notification attempts that failed", ["route"]
        ),
        given_up=Counter(
            "sentinelle_notifications_given_up",
            "Notifications abandoned after every retry",
            ["route"],
        ),
    )
