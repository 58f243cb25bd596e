"""Correlation state in the service: its cap is the detector's setting, a flood evicts the
flood's groups and not the attack's, and what was lost is on /healthz and /metrics."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from django.test import Client

from sentinelle.service.config import DetectorSection, ServeConfig
from sentinelle.service.detector import CHECKPOINT, correlation_evictions
from sentinelle.service.records import Record, RecordKind
from tests.correlation import spray
from tests.correlation.test_flood import SHIPPED, SPRAYING
from tests.service.test_detector import fill, run_once

pytestmark = pytest.mark.django_db


def test_a_flood_is_evicted_not_the_spray_and_the_health_says_so(tmp_path: Path) -> None:
    from sentinelle.web.alerts.models import Alert
    from sentinelle.web.pipeline.models import Checkpoint

    records = [
        Record("syslog-udp", "10.0.0.1", RecordKind.SYSLOG, line.encode(), spray.START + n)
        for n, line in enumerate(spray.spray_lines(flood=40))
    ]
    fill(tmp_path / "data" / "journal", records)
    config = ServeConfig(
        data_dir=str(tmp_path / "data"),
        rules=(str(SHIPPED),),
        detector=DetectorSection(batch_records=7, max_correlation_groups=10),
    )
    run_once(config)

    # 40 one-off addresses through a state of 10 groups: the spray's group, the furthest on,
    # stays and fires.
    assert Alert.objects.filter(rule_title=SPRAYING).count() == 1
    state = pickle.loads(bytes(Checkpoint.objects.get(name=CHECKPOINT).state or b""))
    lost = {e["title"]: e for e in correlation_evictions(state)}
    assert lost[SPRAYING]["groups"] == 31  # 41 addresses (40 and the attacker's) into 10

    # The same on the health probe and in /metrics, rule by rule.
    client = Client()
    health = client.get("/healthz").json()["correlation_evictions"]
    by_title = {entry["title"]: entry for entry in health.values()}
    assert by_title[SPRAYING]["groups"] == 31
    assert by_title[SPRAYING]["entries"] == 0
    assert by_title[SPRAYING]["first"] <= by_title[SPRAYING]["last"]
    assert lost[SPRAYING]["rule_id"] in health
    text = client.get("/metrics").content.decode()
    assert (
        f'sentinelle_correlation_state_evictions{{lost="groups",rule="{SPRAYING}",'
        f'rule_id="{lost[SPRAYING]["rule_id"]}"}} 31.0'
    ) in text


def test_the_cap_follows_the_setting_across_a_restart(tmp_path: Path) -> None:
    records = [
        Record("syslog-udp", "10.0.0.1", RecordKind.SYSLOG, line.encode(), spray.START + n)
        for n, line in enumerate(spray.spray_lines(flood=20))
    ]
    fill(tmp_path / "data" / "journal", records[:10])
    first = ServeConfig(data_dir=str(tmp_path / "data"), rules=(str(SHIPPED),))
    run_once(first)
    fill(tmp_path / "data" / "journal", records[10:])
    tighter = ServeConfig(
        data_dir=str(tmp_path / "data"),
        rules=(str(SHIPPED),),
        detector=DetectorSection(max_correlation_groups=4),
    )
    detector = run_once(tighter)
    _, state = detector.restore()
    assert state.correlator.limits.max_groups == 4
    lost = {e["title"]: e for e in correlation_evictions(state)}
    assert lost[SPRAYING]["groups"] > 0
