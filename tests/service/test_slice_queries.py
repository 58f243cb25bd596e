"""A slice's store transaction makes a bounded number of queries, whatever its alerts."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from sentinelle.service.config import ServeConfig
from sentinelle.service.records import Record, RecordKind
from tests.service.test_detector import LATERAL, fill, lateral, process_event, run_once

pytestmark = pytest.mark.django_db

# Queries one slice makes, whatever its number of alerts (up to store.STORED_IDS_CHUNK): its
# transaction (a savepoint here, inside the test's; opened and released), the alerts already
# stored, the incidents (read, insert, their ids, update), the alerts, the outbox, the watching
# counts (sources read, inserted, updated; the fields census of one kind of event: read, then
# insert or update), the checkpoint.
SLICE_QUERIES = 15


@pytest.mark.parametrize("alerts", [10, 600])
def test_a_slice_makes_as_many_queries_whatever_its_number_of_alerts(
    tmp_path: Path, rules: Path, monkeypatch: pytest.MonkeyPatch, alerts: int
) -> None:
    """Alerts are stored by the slice, not one by one: enriched, grouped into incidents at five
    sites (opened and extended), notified and counted for watching in a bounded number of
    queries, whether the slice holds ten alerts or six hundred."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from sentinelle.service.config import DetectorSection, NotifySection, Route
    from sentinelle.watch import hook
    from sentinelle.web.alerts.models import Alert, Notification
    from sentinelle.web.incidents.models import Incident
    from sentinelle.web.watch.models import SourceRhythm

    monkeypatch.setattr(hook, "FLUSH_SECONDS", 0.0)  # the watching counts in every slice
    (rules / "lateral.yml").write_text(LATERAL)
    hosts = ("www01", "dc-nord01", "dc-snz01", "urg-cht01", "urg-mere01")

    def burst(start: int, count: int, sites: int) -> list[Record]:
        out = []
        for n in range(start, start + count):
            host = hosts[n % sites]
            if n % 2:
                out.append(process_event(n, host, f"mimikatz.exe {n}"))
            else:  # an account's remote execution: incidents by entity, not only by wave
                doc = orjson.loads(lateral(n % 60, host, f"{host}-user{n % 3}").data)
                doc["N"] = n
                out.append(Record("http", "wlb", RecordKind.JSON, orjson.dumps(doc), 1.8e9))
        return out

    journal = tmp_path / "data" / "journal"
    config = ServeConfig(
        data_dir=str(tmp_path / "data"),
        rules=(str(rules),),
        detector=DetectorSection(batch_records=5000),
        notifications=NotifySection(
            routes=(Route("sms", ("json://127.0.0.1:9/",), min_level="low"),)
        ),
    )
    fill(journal, burst(0, 10, 3))
    detector = run_once(config)  # the incidents the measured slice extends
    assert Incident.objects.count() == 3
    fill(journal, burst(10, alerts, 5))
    position, state = detector.restore()
    entries = detector.reader.read(position, 5000)
    assert len(entries) == alerts
    with CaptureQueriesContext(connection) as queries:
        detector.process(entries, state)
    detector.reader.close()
    assert Alert.objects.count() == 10 + alerts
    assert Notification.objects.count() == 10 + alerts
    # Three extended, two opened, one per site, every alert in its site's.
    assert Incident.objects.filter(status="open").count() == Incident.objects.count() == 5
    assert not Alert.objects.filter(incident=None).exists()
    assert SourceRhythm.objects.filter(host__in=hosts).count() == len(hosts)
    assert len(queries) <= SLICE_QUERIES, [q["sql"][:80] for q in queries.captured_queries]
