"""Flows through the service's detector: arrival times reach the network clock, quiet exporters
still close their windows, every loss is named in /healthz and /metrics, and the decoder's and
detectors' state survive a checkpoint."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from django.test import Client

from sentinelle.network.encode import encode_ipfix
from sentinelle.network.flow import FlowRecord
from sentinelle.service.config import ServeConfig
from sentinelle.service.detector import CHECKPOINT, DetectorState, network_losses
from sentinelle.service.records import Record, RecordKind
from tests.service.test_detector import fill, run_once

pytestmark = pytest.mark.django_db

T = 1_800_000_000.0
EXPORTER = "10.9.9.9"
SUSPECT = "flows far ahead of the clock, never agreed with"


def flows_record(flows: list[FlowRecord], export: float, sequence: int, received: float) -> Record:
    data = encode_ipfix(flows, export, sequence)
    return Record("netflow", EXPORTER, RecordKind.FLOW, data, received)


def web(t: float, n: int) -> list[FlowRecord]:
    """Ordinary client traffic: ``n`` small flows to the web server."""
    return [
        FlowRecord(t, t + 0.5, f"10.0.0.{i % 20 + 1}", "10.1.1.10", 40000 + i, 443, 6, 8, 4000)
        for i in range(n)
    ]


def scan(t: float) -> list[FlowRecord]:
    """One source probing 150 ports of one host with single SYNs."""
    return [
        FlowRecord(t + i / 100, t + i / 100, "10.0.0.66", "10.1.1.20", 50000, 1 + i, 6, 1, 60, 0x02)
        for i in range(150)
    ]


def test_arrival_times_guard_the_clock_and_quiet_exporters_still_close_windows(
    tmp_path: Path, rules: Path
) -> None:
    from sentinelle.web.alerts.models import Alert
    from sentinelle.web.pipeline.models import Checkpoint

    records = [flows_record(web(T, 20), T + 1, 0, T + 1.5)]
    # One exporter sends 1,200 flows stamped ten days ahead, in ten datagrams over four
    # seconds of arrival: as many flows as a file would need to move the clock, but live the
    # run must last a minute of arrival time, and real flows interrupt it.
    far = T + 10 * 86400
    for i in range(10):
        records.append(flows_record(web(far + i, 120), far + i + 1, 20 + i * 120, T + 2 + i * 0.4))
    records.append(flows_record(web(T + 7, 20), T + 8, 1220, T + 8.5))
    records.append(flows_record(scan(T + 9), T + 11, 1240, T + 11.5))
    # Then the exporter is quiet; only syslog arrives, five minutes later.
    records.append(Record("syslog-udp", "10.0.0.9", RecordKind.SYSLOG, b"<13>quiet night", T + 300))
    fill(tmp_path / "data" / "journal", records)
    config = ServeConfig(data_dir=str(tmp_path / "data"), rules=(str(rules),))
    detector = run_once(config)

    # The scan was closed by arrival time passing, not by a later flow.
    scans = Alert.objects.filter(rule_id__startswith="net-scan")
    assert [(a.rule_id, a.group.get("src_ip")) for a in scans] == [("net-scan-ports", "10.0.0.66")]
    assert scans[0].input == "network"

    # The checkpoint holds the decoder (its templates) and the detectors (their clock).
    row = Checkpoint.objects.get(name=CHECKPOINT)
    assert row.state is not None
    state = pickle.loads(bytes(row.state))
    assert isinstance(state, DetectorState)
    assert state.network.clock.jumps == 0
    assert state.network.newest < far
    assert state.flow_decoder.stats.templates.learned >= 2
    losses = network_losses(state)
    assert losses[SUSPECT] == 1200
    restored_position, restored = detector.restore()
    assert restored_position == len(records)
    assert network_losses(restored) == losses
    assert restored.flow_anchor == state.flow_anchor

    # Every loss by name in the health probe and in /metrics.
    client = Client()
    health = client.get("/healthz").json()
    assert health["status"] == "ok"
    assert health["network_losses"][SUSPECT] == 1200
    assert set(health["network_losses"]) == set(losses)
    text = client.get("/metrics").content.decode()
    assert f'sentinelle_network_losses{{loss="{SUSPECT}"}} 1200.0' in text


def test_a_checkpoint_from_before_these_fields_is_completed_not_thrown_away(
    tmp_path: Path, rules: Path
) -> None:
    """An older detector's pickled state lacks ``flow_anchor`` and the grouping's ``opened``:
    it is completed, so its windows and templates are kept."""
    from sentinelle.web.pipeline.models import Checkpoint

    fill(tmp_path / "data" / "journal", [flows_record(web(T, 20), T + 1, 0, T + 1.5)])
    config = ServeConfig(data_dir=str(tmp_path / "data"), rules=(str(rules),))
    detector = run_once(config)
    row = Checkpoint.objects.get(name=CHECKPOINT)
    assert row.state is not None
    state = pickle.loads(bytes(row.state))
    del state.flow_anchor
    del state.incidents.opened
    row.state = pickle.dumps(state)
    row.save()
    _position, restored = detector.restore()
    assert restored.flow_anchor is None and restored.incidents.opened == {}
    assert restored.flow_decoder.stats.templates.learned >= 2
