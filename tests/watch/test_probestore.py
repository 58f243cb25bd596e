"""Probe results in the store: states, flips as alerts sent once through the outbox, daily
uptime; the board's read interface; the watcher as ``serve`` runs it, against a real server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sentinelle.hospital import example_model_path, load_model
from sentinelle.service.config import NotifySection, Route, ServeConfig
from sentinelle.watch import Result, Status
from sentinelle.watch.scheduler import Limits
from sentinelle.watch.state import ProbeBook
from sentinelle.web.watch.observed import disagreements, observed_impact, observed_states
from sentinelle.web.watch.probestore import store_probes
from tests.ports import free_port
from tests.watch.probe_specs import model_with_probes
from tests.watch.servers import http_server

T0 = datetime(2027, 1, 15, 10, 0, tzinfo=UTC).timestamp()
ROUTE = Route(name="crisis", urls=("json://127.0.0.1:9/",), min_level="high")


def drain_into_store(book: ProbeBook, model: object) -> list[str]:
    flips, tallies, results = book.drain()
    states = {
        pid: (t.state, t.since, t.last.reason if t.last else "") for pid, t in book.trackers.items()
    }
    specs = {pid: t.spec for pid, t in book.trackers.items()}
    return store_probes(specs, flips, tallies, results, states, model, [ROUTE])  # type: ignore[arg-type]


@pytest.mark.django_db
def test_a_vital_service_going_down_is_one_critical_alert_sent_once() -> None:
    from sentinelle.web.alerts.models import Alert, Notification
    from sentinelle.web.watch.models import ProbeDay, ProbeFlip, ProbeStatus

    model = load_model(example_model_path())
    spec = model.probes["dpi-web"]
    book = ProbeBook.for_probes([spec])
    for i, status in enumerate([Status.UP] * 3 + [Status.DOWN] * 5 + [Status.UP]):
        book.feed(
            Result(spec.id, status, f"run {i}" if status is Status.UP else "HTTP 503", T0 + 30 * i)
        )
    raised = drain_into_store(book, model)
    down, back = Alert.objects.filter(id__in=raised).order_by("timestamp")
    assert (down.rule_type, down.level, down.site) == ("probe", "critical", "cen")
    assert down.rule_title.endswith("at cen is down") and down.details["reason"] == "HTTP 503"
    assert "pharmacy" in {s["id"] for s in down.services}  # depends on the patient record
    assert back.level == "informational" and back.rule_title.endswith("is back up")
    assert Notification.objects.filter(route="crisis").count() == 1  # the down, not the recovery
    assert [f.new for f in ProbeFlip.objects.order_by("at")] == ["up", "down", "up"]
    row = ProbeStatus.objects.get(probe="dpi-web")
    assert (row.state, row.last_status, row.component) == ("up", "up", "patient-record")
    day = ProbeDay.objects.get(probe="dpi-web")
    assert (day.up, day.down, day.uptime) == (4, 5, 4 / 9)
    # The same flips stored again (a retry after a failed write): nothing twice.
    again = ProbeBook.for_probes([spec])
    for i, status in enumerate([Status.UP] * 3 + [Status.DOWN] * 5 + [Status.UP]):
        again.feed(Result(spec.id, status, "x", T0 + 30 * i))
    assert drain_into_store(again, model) == []
    assert Alert.objects.count() == 2 and Notification.objects.count() == 1
    assert ProbeFlip.objects.count() == 4  # only the first "up", which raised no alert, again


@pytest.mark.django_db
def test_the_board_reads_the_worst_state_per_site_and_component() -> None:
    model = load_model(example_model_path())
    specs = [model.probes[p] for p in ("dpi-web", "dpi-cert", "urg-snz", "wan-snz", "rdv-api")]
    book = ProbeBook.for_probes(specs)
    statuses = {"dpi-web": Status.UP, "dpi-cert": Status.DEGRADED, "urg-snz": Status.DOWN,
                "wan-snz": Status.DOWN, "rdv-api": Status.UP}  # fmt: skip
    for spec in specs:
        for i in range(spec.retries + 1):
            book.feed(Result(spec.id, statuses[spec.id], f"{spec.id} said so", T0 + i))
    drain_into_store(book, model)
    seen = observed_states()
    record = seen[("cen", "patient-record")]
    assert record.state == "degraded" and record.probes == ("dpi-cert", "dpi-web")
    assert record.reason == "dpi-cert: dpi-cert said so"
    assert seen[("snz", "emergency")].state == "down"
    assert seen[("", "appointment-booking")].state == "up"
    predicted = {("cen", "patient-record"): "down", ("snz", "emergency"): "operational",
                 ("cht", "appointment-booking"): "down", ("nord", "imaging"): "down"}  # fmt: skip
    found = {(d.site, d.component): d.text for d in disagreements(predicted, seen)}
    assert found == {
        ("cen", "patient-record"): "predicted down, seen degraded",
        ("snz", "emergency"): "predicted operational, seen down",
        ("cht", "appointment-booking"): "predicted down, seen up",
    }
    impact = observed_impact(model, seen.values())
    states = {(e.site, e.component): str(e.state) for e in impact.entries}
    assert states[("snz", "emergency")] == "down"
    assert states[("snz", "patient-record")] == "down"  # the WAN link of snz is seen down
    assert states[("cen", "patient-record")] == "degraded"


@pytest.mark.django_db(transaction=True)
def test_the_watcher_runs_probes_on_schedule_and_stores_them(tmp_path: Path) -> None:
    from sentinelle.watch.service import Watcher
    from sentinelle.web.alerts.models import Alert
    from sentinelle.web.watch.models import ProbeStatus

    with http_server() as port:
        model_with_probes(
            tmp_path,
            [
                {"id": "portal", "http": f"http://127.0.0.1:{port}/ok", "interval": "5s"},
                {"id": "portal-api", "tcp": f"127.0.0.1:{free_port()}", "interval": "5s",
                 "retries": 0},
            ],
        )  # fmt: skip
        config = ServeConfig(
            data_dir=str(tmp_path / "data"),
            model=str(tmp_path / "model.yml"),
            notifications=NotifySection(routes=(ROUTE,)),
        )

        async def scenario() -> None:
            watcher = Watcher(config, flush_seconds=0.5, silence_seconds=3600, limits=Limits())
            await watcher.start()
            await asyncio.sleep(6)
            await watcher.stop()

        asyncio.run(scenario())
    rows = {r.probe: r for r in ProbeStatus.objects.all()}
    assert rows["portal"].state == "up" and rows["portal"].elapsed_ms is not None
    assert rows["portal-api"].state == "down" and rows["portal-api"].reason == "connection refused"
    (alert,) = Alert.objects.filter(rule_type="probe")
    assert alert.level == "medium" and alert.details["probe"] == "portal-api"
