"""Silent sources, with generated traffic through the detector's hook and real journal records:
a site that stops is one alert about the site, within two intervals; one host that stops is an
alert naming it, its site and the services that depend on it; drops and known gaps."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from sentinelle.service.config import ServeConfig
from sentinelle.service.detector import Detector
from sentinelle.service.journal import Journal, JournalLimits
from sentinelle.service.records import Record, RecordKind
from sentinelle.watch import hook
from sentinelle.watch.rhythm import INTERVAL, Rhythm
from sentinelle.web.watch.silencestore import evaluate_silences

pytestmark = pytest.mark.django_db

START = 1_800_000_000.0 - (1_800_000_000.0 % INTERVAL)  # an interval boundary
CEN = ["dc-cen01", "dc-cen02", "exch01", "exch02", "fs-cen01"]
SNZ = ["dc-snz01"]
RULE = """
title: never fires
id: 00000000-0000-4000-8000-00000000beef
status: test
level: low
logsource: {product: linux}
detection:
  selection: {message|contains: 'no such text anywhere'}
  condition: selection
"""


def syslog(host: str, n: int, received: float) -> Record:
    line = f"<134>1 2027-01-15T10:00:00Z {host} app 1 - - event {n}".encode()
    return Record("syslog-tcp", "10.9.9.9", RecordKind.SYSLOG, line, received)


class Traffic:
    """Journal records for hosts at 24 events per interval, fed to a real detector."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(hook, "FLUSH_SECONDS", 0.0)
        rules = tmp_path / "rules"
        rules.mkdir()
        (rules / "r.yml").write_text(RULE)
        self.config = ServeConfig(data_dir=str(tmp_path / "data"), rules=(str(rules),))
        self.journal = Journal(self.config.journal_path(), JournalLimits(min_free_bytes=0))
        self.detector = Detector(self.config, lambda: False)
        self.detector.load_rules()
        self.position, self.state = self.detector.restore()
        self.n = 0

    def send(self, hosts: list[str], start: float, end: float) -> None:
        records = []
        t = start
        while t < end:
            for host in hosts:
                self.n += 1
                records.append(syslog(host, self.n, t))
            t += INTERVAL / 24
        self.journal.submit(records).result(timeout=30)
        while True:
            entries = self.detector.reader.read(self.position, 2000)
            if not entries:
                return
            self.position = self.detector.process(entries, self.state)

    def close(self) -> None:
        self.journal.close()
        self.detector.reader.close()


@pytest.fixture
def traffic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    made = Traffic(tmp_path, monkeypatch)
    yield made
    made.close()


def passes(until: float, start: float) -> tuple[float | None, list[str]]:
    """Silence passes every 30 s from ``start``; when the first alert came, and all alerts."""
    raised: list[str] = []
    first = None
    t = start
    while t <= until:
        got = evaluate_silences(None, (), now=t)
        if got and first is None:
            first = t
        raised += got
        t += 30
    return first, raised


def test_a_site_that_stops_is_one_alert_within_two_intervals(traffic: Traffic) -> None:
    from sentinelle.hospital import example_model_path, load_model
    from sentinelle.web.alerts.models import Alert
    from sentinelle.web.watch.models import SourceRhythm

    model = load_model(example_model_path())
    learned = START + 2 * 3600
    traffic.send(CEN + SNZ, START, learned)
    stop = learned
    traffic.send(SNZ, stop, stop + 3 * INTERVAL)  # Saint-Nazaire goes on, the centre is silent
    assert SourceRhythm.objects.count() == 6
    from sentinelle.web.watch.models import SeenFields

    census = SeenFields.objects.get(channel="", event_id=-1)  # syslog: no channel, no id
    assert {"host", "message", "app_name"} <= set(census.fields)
    assert census.events == traffic.n
    assert set(SourceRhythm.objects.values_list("site", flat=True)) == {"cen", "snz"}
    raised: list[str] = []
    first = None
    t = stop
    while t <= stop + 3 * INTERVAL:
        got = evaluate_silences(model, (), now=t)
        first = t if got and first is None else first
        raised += got
        t += 30
    assert first is not None and first - stop <= 2 * INTERVAL, first
    (alert,) = Alert.objects.filter(id__in=raised)
    assert alert.rule_type == "silence" and alert.site == "cen" and alert.level == "high"
    assert sorted(alert.details["hosts"]) == sorted(CEN)
    assert "5 log sources stopped at Hôpital Central" in alert.rule_title
    assert {s["id"] for s in alert.services} >= {"workstations", "internal-email"}
    assert set(SourceRhythm.objects.filter(site="cen").values_list("state", flat=True)) == {
        "silent"
    }
    assert SourceRhythm.objects.get(host="dc-snz01").state == "ok"
    # The site comes back: its sources are "ok" again and no new alert is raised.
    traffic.send(CEN + SNZ, stop + 3 * INTERVAL, stop + 4 * INTERVAL)
    assert set(SourceRhythm.objects.values_list("state", flat=True)) == {"ok"}
    assert "sending again since" in SourceRhythm.objects.get(host="exch01").reason


def test_one_host_that_stops_names_its_site_and_services(traffic: Traffic) -> None:
    from sentinelle.hospital import example_model_path, load_model
    from sentinelle.service.config import Route
    from sentinelle.web.alerts.models import Alert, Notification

    model = load_model(example_model_path())
    learned = START + 2 * 3600
    traffic.send(CEN + SNZ, START, learned)
    traffic.send(CEN, learned, learned + 3 * INTERVAL)
    route = Route(name="soc", urls=("json://127.0.0.1:9/",), min_level="high")
    raised = []
    t = learned
    while t <= learned + 3 * INTERVAL:
        raised += evaluate_silences(model, [route], now=t)
        t += 30
    (alert,) = Alert.objects.filter(id__in=raised)
    assert alert.host == "dc-snz01" and alert.site == "snz"
    assert alert.rule_title == "Logs stopped from dc-snz01 (syslog) at snz"
    assert alert.level == "high"  # vital services depend on the directory there
    assert "emergency" in {s["id"] for s in alert.services}
    assert Notification.objects.filter(alert=alert, route="soc").count() == 1
    assert evaluate_silences(model, [route], now=t + 600) == []  # said once


def test_a_known_gap_keeps_a_source_quiet(traffic: Traffic) -> None:
    from django.utils import timezone

    from sentinelle.web.watch.models import KnownGap, SourceRhythm

    learned = START + 2 * 3600
    traffic.send(SNZ, START, learned)
    KnownGap.objects.create(
        match="dc-snz*", reason="domain controller rebuilt", author="ops",
        expires=timezone.now() + timedelta(days=3650),
    )  # fmt: skip
    _first, raised = passes(learned + 4 * INTERVAL, learned)
    assert raised == []
    row = SourceRhythm.objects.get(host="dc-snz01")
    assert row.state == "gap" and "domain controller rebuilt" in row.reason


def test_a_source_that_drops_far_below_its_rhythm(traffic: Traffic) -> None:
    from sentinelle.web.alerts.models import Alert
    from sentinelle.web.watch.models import SourceRhythm

    learned = START + 2 * 3600
    traffic.send(SNZ, START, learned)
    # One event an interval where 24 are usual: still sending, far below.
    for i in range(3):
        traffic.journal.submit([syslog("dc-snz01", 10**6 + i, learned + i * INTERVAL)]).result(10)
    while entries := traffic.detector.reader.read(traffic.position, 2000):
        traffic.position = traffic.detector.process(entries, traffic.state)
    row = SourceRhythm.objects.get(host="dc-snz01")
    assert row.state == "low", row.reason
    assert "1 events in 5 min where about 24 are usual" in row.reason
    alert = Alert.objects.get(id=row.alert)
    assert "fell far below their rhythm" in alert.rule_title


def test_a_row_that_fails_is_pushed_forward_before_the_error(traffic: Traffic) -> None:
    from sentinelle.web.watch.models import SourceRhythm

    learned = START + 2 * 3600
    traffic.send(SNZ, START, learned)
    row = SourceRhythm.objects.get(host="dc-snz01")
    SourceRhythm.objects.filter(pk=row.pk).update(state_since=None, state="late")
    now = learned + 3600
    with pytest.raises(AttributeError):
        evaluate_silences(None, (), now=now)
    row.refresh_from_db()
    assert row.late_after is not None and row.late_after.timestamp() == now + 300
    assert evaluate_silences(None, (), now=now + 60) == []  # not due: the loop goes on


def test_rhythm_learns_hours_of_the_week() -> None:
    rhythm = Rhythm()
    t = START
    for _week in range(4):  # busy days, quiet nights
        for step in range(7 * 288):
            at = t + step * INTERVAL
            hour = int((at % 86_400) // 3600)
            rhythm.add(at, 30 if 8 <= hour < 18 else 1)
        t += 7 * 86_400
    noon = START + 12 * 3600 - (START % 86_400)
    night = noon + 12 * 3600 + 3 * 3600
    assert rhythm.expected(noon)[0] == pytest.approx(30, rel=0.1)
    assert rhythm.expected(night)[0] == pytest.approx(1, abs=0.5)
    # Silence is significant within minutes by day, much later at night (eight intervals).
    assert rhythm.late_after(noon) - noon < INTERVAL
    assert rhythm.late_after(night) - night == pytest.approx(8 * INTERVAL, rel=0.1)
    back = Rhythm.from_json(rhythm.to_json())
    assert back.late_after(noon) == pytest.approx(rhythm.late_after(noon))
    assert Rhythm.from_json({"slots": "garbage"}).overall.n == 0


def test_a_pass_takes_every_due_source_batch_after_batch(
    traffic: Traffic, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sentinelle.web.alerts.models import Alert
    from sentinelle.web.watch import silencestore
    from sentinelle.web.watch.models import SourceRhythm

    monkeypatch.setattr(silencestore, "BATCH", 2)
    learned = START + 2 * 3600
    traffic.send(CEN, START, learned)
    quiet = learned + INTERVAL
    evaluate_silences(None, (), now=quiet)  # five due, in batches of two: all turn late
    assert set(SourceRhythm.objects.values_list("state", flat=True)) == {"late"}
    raised = evaluate_silences(None, (), now=quiet + silencestore.SETTLE_SECONDS + 1)
    (alert,) = Alert.objects.filter(id__in=raised)  # the detector placed them at cen: one alert
    assert sorted(alert.details["hosts"]) == sorted(CEN)
