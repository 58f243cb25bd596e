"""``/healthz`` (the process answers), ``/readyz`` (the service accepts events), ``/metrics``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from sentinelle.service import runtime
from sentinelle.web.access import access


@access(public=True)
def healthz(request: HttpRequest) -> HttpResponse:
    """200 while the process answers, with the network path's losses by name (flows set aside,
    templates refused, state evicted: ``network.losses``) and what each correlation rule's
    state caps made it forget, as the detector last counted them."""
    return JsonResponse(
        {
            "status": "ok",
            "network_losses": network_losses(),
            "correlation_evictions": correlation_evictions(),
        }
    )


def network_losses() -> dict[str, int]:
    """``sentinelle_network_losses`` by loss, read from the service's metrics (the detector is
    another process: its gauges reach this one through prometheus-client's files)."""
    out: dict[str, int] = {}
    for family in _registry().collect():
        if family.name != "sentinelle_network_losses":
            continue
        for sample in family.samples:
            out[sample.labels.get("loss", "")] = int(sample.value)
    return dict(sorted(out.items()))


def correlation_evictions() -> dict[str, dict[str, Any]]:
    """By rule id: the rule's title and what its state caps made it forget (``groups``,
    ``entries``, ``events``; ``first`` and ``last``: input times of the evictions), from the
    detector's gauges."""
    out: dict[str, dict[str, Any]] = {}
    for family in _registry().collect():
        if family.name not in (
            "sentinelle_correlation_state_evictions",
            "sentinelle_correlation_state_eviction_time_seconds",
        ):
            continue
        for sample in family.samples:
            labels = sample.labels
            rule = out.setdefault(labels.get("rule_id", ""), {"title": labels.get("rule", "")})
            if "lost" in labels:
                rule[labels["lost"]] = int(sample.value)
            else:
                rule[labels.get("at", "")] = sample.value
    return dict(sorted(out.items()))


def _registry() -> Any:
    from prometheus_client import REGISTRY, CollectorRegistry

    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
    return registry


@access(public=True)
def readyz(request: HttpRequest) -> HttpResponse:
    """200 once every listener is bound and the journal open, and while it accepts events."""
    current = runtime.current()
    if current is None or not current.ready:
        return JsonResponse({"status": "not ready"}, status=503)
    journal = current.extras.get("journal")
    refusing = getattr(getattr(journal, "stats", None), "refusing", "")
    if refusing:
        response = JsonResponse({"status": "refusing", "reason": refusing}, status=503)
        response["Retry-After"] = "5"
        return response
    return JsonResponse({"status": "ready"})


class JournalCollector:
    """The journal's own numbers, read when scraped (the journal knows nothing of Prometheus)."""

    def __init__(self, journal: Any) -> None:
        self.journal = journal

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        stats = self.journal.stats
        yield GaugeMetricFamily(
            "sentinelle_journal_bytes", "Bytes the journal holds on disk", value=stats.size_bytes
        )
        yield GaugeMetricFamily(
            "sentinelle_journal_segments", "Segment files", value=stats.segments
        )
        yield GaugeMetricFamily(
            "sentinelle_journal_last_seq",
            "Sequence number of the newest record",
            value=stats.last_seq,
        )
        yield GaugeMetricFamily(
            "sentinelle_journal_lag_records",
            "Records accepted but not yet matched by the detector",
            value=max(0, stats.last_seq - stats.released),
        )
        yield GaugeMetricFamily(
            "sentinelle_journal_refusing",
            "1 while new records are refused",
            value=int(bool(stats.refusing)),
        )
        yield CounterMetricFamily(
            "sentinelle_journal_accepted_records", "Records accepted", value=stats.accepted_records
        )
        yield CounterMetricFamily(
            "sentinelle_journal_refused_records", "Records refused", value=stats.refused_records
        )
        yield CounterMetricFamily(
            "sentinelle_journal_removed_records",
            "Records removed by retention",
            value=stats.removed_records,
        )
        yield CounterMetricFamily(
            "sentinelle_journal_commits", "Grouped commits (each one sync)", value=stats.commits
        )


@access(public=True)
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text: every process's counters (multiprocess mode) and the journal's."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    text = generate_latest(_registry())
    current = runtime.current()
    journal = current.extras.get("journal") if current is not None else None
    if journal is not None:
        extra = CollectorRegistry()
        extra.register(JournalCollector(journal))
        text += generate_latest(extra)
    return HttpResponse(text, content_type=CONTENT_TYPE_LATEST)
