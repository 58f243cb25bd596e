"""The detector: journal records into stored alerts, once, enriched, grouped; as a hunt finds."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from sentinelle.engine import load_compiled
from sentinelle.service.config import ServeConfig
from sentinelle.service.detector import CHECKPOINT, Detector
from sentinelle.service.ids import alert_id
from sentinelle.service.journal import Journal, JournalLimits, JournalReader
from sentinelle.service.normalise import journal_batches
from sentinelle.service.records import Record, RecordKind

pytestmark = pytest.mark.django_db

RULE = """
title: Credential dumping tool on the command line
id: 5f0a8c3e-0000-4000-8000-000000000001
status: test
level: high
tags: [attack.credential-access, attack.t1003]
logsource: {product: windows, category: process_creation}
detection:
  selection: {CommandLine|contains: mimikatz}
  condition: selection
"""
SYSLOG_RULE = """
title: Administrator logon refused on a firewall
id: 5f0a8c3e-0000-4000-8000-000000000002
status: test
level: medium
logsource: {product: linux}
detection:
  selection: {message|contains: 'refused admin'}
  condition: selection
"""


def process_event(n: int, host: str, command: str) -> Record:
    doc = {
        "Event": {
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
                "EventID": 1,
                "Channel": "Microsoft-Windows-Sysmon/Operational",
                "Computer": host,
                "TimeCreated": {"#attributes": {"SystemTime": f"2026-11-27T22:{n % 60:02d}:00Z"}},
            },
            "EventData": {"CommandLine": command, "Image": "C:\\\\Windows\\\\cmd.exe", "N": n},
        }
    }
    return Record("http", "winlogbeat", RecordKind.JSON, orjson.dumps(doc), 1_800_000_000.0)


def fill(journal_dir: Path, records: list[Record]) -> None:
    journal = Journal(journal_dir, JournalLimits(min_free_bytes=0))
    try:
        journal.submit(records).result(timeout=10)
    finally:
        journal.close()


def run_once(config: ServeConfig) -> Detector:
    detector = Detector(config, lambda: False)
    detector.load_rules()
    position, state = detector.restore()
    while True:
        entries = detector.reader.read(position, config.detector.batch_records)
        if not entries:
            break
        position = detector.process(entries, state)
    detector.reader.close()
    return detector


def test_alerts_are_stored_once_enriched_and_equal_a_hunt_of_the_journal(
    tmp_path: Path, rules: Path
) -> None:
    from sentinelle.web.alerts.models import Alert
    from sentinelle.web.incidents.models import Incident
    from sentinelle.web.pipeline.models import Checkpoint

    records = [
        process_event(1, "www01", "mimikatz.exe sekurlsa::logonpasswords"),
        process_event(2, "www01", "notepad.exe"),
        process_event(3, "www02", "C:\\tools\\mimikatz.exe"),
        Record(
            "syslog-udp",
            "10.0.0.9",
            RecordKind.SYSLOG,
            b"<13>Nov 27 22:05:00 fw-edge01 sshd[1]: refused admin login",
            1_800_000_000.0,
        ),
        Record("syslog-udp", "10.0.0.9", RecordKind.SYSLOG, b"\xff\xfe not text", 1.0),
        Record("http", "t", RecordKind.JSON, b"[1, 2]", 1.0),  # not an object: counted, skipped
    ]
    fill(tmp_path / "data" / "journal", records)
    config = ServeConfig(data_dir=str(tmp_path / "data"), rules=(str(rules),))
    run_once(config)
    stored = {a.id: a for a in Alert.objects.all()}
    assert len(stored) == 3
    checkpoint = Checkpoint.objects.get(name=CHECKPOINT)
    assert checkpoint.position == len(records)

    # The same alerts as a hunt of the journal (same normalising, same engine).
    compiled = load_compiled([rules])
    reader_entries = {e.seq: e for e in JournalReader(tmp_path / "data" / "journal").iter_records()}
    expected = set()
    for batch in journal_batches(tmp_path / "data" / "journal"):
        for det in compiled.match_batch(batch):
            assert det.event is not None
            expected.add(alert_id(det.rule_id, reader_entries[det.event.record].record.event_id))
    assert set(stored) == expected

    dump = next(a for a in stored.values() if a.host == "www01")
    assert (dump.site, dump.zone, dump.asset) == ("cen", "dmz", "web-servers")
    assert dump.services and dump.services[0]["id"] == "public-website"
    assert dump.event["CommandLine"].startswith("mimikatz")
    assert dump.event_id == records[0].event_id
    # Two high alerts of one rule at one site within minutes: one incident (a wave); the
    # firewall's alert shares nothing with them: its own.
    assert Incident.objects.count() == 2
    incident = Incident.objects.get(alerts__host="www01")
    assert incident.alerts.count() == 2
    assert set(incident.hosts) >= {"www01", "www02"}
    assert incident.severity == "high"
    assert incident.impact["services"]

    # A replay from the start (a crash before the checkpoint) stores nothing twice.
    Checkpoint.objects.filter(name=CHECKPOINT).delete()
    run_once(config)
    assert Alert.objects.count() == 3
    assert Incident.objects.count() == 2


def test_suppressions_stop_new_alerts_and_count_their_hits(tmp_path: Path, rules: Path) -> None:
    """By rule and host, by a field's value; an expired or revoked one no longer applies."""
    from datetime import timedelta

    from django.utils import timezone

    from sentinelle.web.accounts.models import User
    from sentinelle.web.alerts.models import Alert, Suppression

    author = User.objects.create_user("ana", password="x" * 20, role="analyst")
    rule = Suppression.objects.create(
        rule_id="5f0a8c3e-0000-4000-8000-000000000001",
        host="www02",
        reason="red team exercise",
        author=author,
    )
    by_value = Suppression.objects.create(
        field="CommandLine", value="mimikatz --lab", reason="training room", author=author
    )
    # Rule-wide, but over or taken back: they suppress nothing.
    dump = "5f0a8c3e-0000-4000-8000-000000000001"
    Suppression.objects.create(
        rule_id=dump, reason="old", author=author, expires=timezone.now() - timedelta(hours=1)
    )
    Suppression.objects.create(rule_id=dump, reason="undone", author=author, revoked=timezone.now())
    fill(
        tmp_path / "data" / "journal",
        [
            process_event(1, "www01", "mimikatz"),
            process_event(2, "www02", "mimikatz"),
            process_event(3, "www03", "mimikatz --lab"),
            process_event(4, "www03", "mimikatz --prod"),
        ],
    )
    run_once(ServeConfig(data_dir=str(tmp_path / "data"), rules=(str(rules),)))
    shown = sorted(a.event["CommandLine"] + "@" + a.host for a in Alert.objects.all())
    assert shown == ["mimikatz --prod@www03", "mimikatz@www01"]
    rule.refresh_from_db()
    assert rule.hits == 1 and rule.last_hit is not None
    by_value.refresh_from_db()
    assert by_value.hits == 1


def test_outbox_rows_follow_the_routes(tmp_path: Path, rules: Path) -> None:
    from sentinelle.service.config import NotifySection, Route
    from sentinelle.web.alerts.models import Notification

    routes = (
        Route("matrix", ("json://127.0.0.1:9/",), min_level="high"),
        Route("site-nord", ("json://127.0.0.1:9/",), min_level="low", sites=("nord",)),
    )
    fill(tmp_path / "data" / "journal", [process_event(1, "www01", "mimikatz")])
    config = ServeConfig(
        data_dir=str(tmp_path / "data"),
        rules=(str(rules),),
        notifications=NotifySection(routes=routes),
    )
    run_once(config)
    assert [n.route for n in Notification.objects.all()] == ["matrix"]  # www01 is at cen


LATERAL = """
title: Remote execution tool
id: 5f0a8c3e-0000-4000-8000-000000000003
status: test
level: medium
logsource: {product: windows, category: process_creation}
detection:
  selection: {CommandLine|contains: psexec}
  condition: selection
"""


def lateral(n: int, host: str, user: str) -> Record:
    doc = {
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "EventID": 1,
        "Computer": host,
        "User": f"CHU\\{user}",
        "CommandLine": f"psexec.exe \\\\srv{n} cmd",
        "@timestamp": f"2026-11-27T22:{n:02d}:00Z",
    }
    return Record("http", "winlogbeat", RecordKind.JSON, orjson.dumps(doc), 1_800_000_000.0)


@pytest.mark.parametrize("slice_records", [3, 1000])
def test_an_alert_that_bridges_two_live_incidents_merges_them(
    tmp_path: Path, slice_records: int
) -> None:
    """alice on wsa and bob on wsb are two stories, until bob's account runs psexec on wsa:
    one story, told by the oldest incident; the other points at it. Whether the bridge comes
    in a later slice (the absorbed incident is stored) or in the same one (it never is)."""
    from sentinelle.service.config import DetectorSection
    from sentinelle.web.accounts.models import AuditEntry
    from sentinelle.web.alerts.models import Alert
    from sentinelle.web.incidents.models import Incident

    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "lateral.yml").write_text(LATERAL)
    events = [lateral(1, "wsa", "alice"), lateral(2, "wsb", "bob"), lateral(3, "wsc", "carol")]
    events.append(lateral(4, "wsa", "bob"))  # the bridge
    fill(tmp_path / "data" / "journal", events)
    config = ServeConfig(
        data_dir=str(tmp_path / "data"),
        rules=(str(folder),),
        detector=DetectorSection(batch_records=slice_records),
    )
    run_once(config)
    first = Alert.objects.get(event_id=events[0].event_id).incident
    assert first is not None
    assert sorted(Alert.objects.filter(incident=first).values_list("host", flat=True)) == [
        "wsa",
        "wsa",
        "wsb",
    ]
    first.refresh_from_db()
    assert first.status == "open" and first.hosts == ["wsa", "wsb"]
    assert sorted(first.accounts) == ["alice", "bob"]
    carol = Alert.objects.get(event_id=events[2].event_id).incident
    assert carol is not None and carol.pk != first.pk and carol.status == "open"
    merged = Incident.objects.filter(status="merged")
    if slice_records == 3:  # bob's incident was stored, then absorbed
        (absorbed,) = merged
        assert absorbed.merged_into_id == first.pk
        assert not Alert.objects.filter(incident=absorbed).exists()
        entry = AuditEntry.objects.get(action="incident.merge")
        assert entry.actor == "detector" and entry.object_id == str(absorbed.pk)
        assert Incident.objects.count() == 3
    else:  # decided within one slice: bob's incident was never stored
        assert not merged.exists()
        assert Incident.objects.count() == 2


def test_an_alert_joining_an_incident_a_person_merged_lands_on_the_survivor(
    tmp_path: Path,
) -> None:
    """Across a restart of the detector (the grouping's state comes from the checkpoint, so
    the checkpoint must hold the slice's own grouping), and through a person's merge."""
    from sentinelle.web.alerts.models import Alert
    from sentinelle.web.incidents.merging import absorb
    from sentinelle.web.incidents.models import Incident

    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "lateral.yml").write_text(LATERAL)
    journal = tmp_path / "data" / "journal"
    config = ServeConfig(data_dir=str(tmp_path / "data"), rules=(str(folder),))
    fill(journal, [lateral(1, "wsa", "alice")])
    run_once(config)
    live = Alert.objects.get().incident
    assert live is not None
    manual = Incident.objects.create(title="Investigation", origin="manual")
    absorb(live, manual)  # an analyst merged the live incident into theirs
    fill(journal, [lateral(5, "wsa", "alice")])
    run_once(config)
    assert set(Alert.objects.values_list("incident", flat=True)) == {manual.pk}


def test_two_incidents_a_person_merged_into_one_grow_it_together_in_one_slice(
    tmp_path: Path,
) -> None:
    """Alerts of two live incidents that a person merged into one of theirs, in the same
    slice: the survivor is written once, with what both brought (neither overwrites the
    other), and a person's own fields are left as they are."""
    from sentinelle.web.alerts.models import Alert
    from sentinelle.web.incidents.merging import absorb
    from sentinelle.web.incidents.models import Incident

    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "lateral.yml").write_text(LATERAL)
    journal = tmp_path / "data" / "journal"
    config = ServeConfig(data_dir=str(tmp_path / "data"), rules=(str(folder),))
    fill(journal, [lateral(1, "wsa", "alice"), lateral(2, "wsb", "bob")])
    run_once(config)
    first, second = (a.incident for a in Alert.objects.order_by("timestamp"))
    assert first is not None and second is not None and first.pk != second.pk
    manual = Incident.objects.create(title="Investigation", origin="manual", summary="ours")
    absorb(first, manual)
    absorb(second, manual)
    fill(journal, [lateral(5, "wsc", "alice"), lateral(6, "wsd", "bob")])  # on new machines
    run_once(config)
    assert set(Alert.objects.values_list("incident", flat=True)) == {manual.pk}
    manual.refresh_from_db()
    assert manual.hosts == ["wsa", "wsb", "wsc", "wsd"]
    assert sorted(manual.accounts) == ["alice", "bob"]
    assert (manual.title, manual.summary, manual.origin) == ("Investigation", "ours", "manual")


def test_nul_characters_from_an_event_are_stored_visibly_on_any_database(
    tmp_path: Path, rules: Path
) -> None:
    """PostgreSQL refuses NUL in text and JSON: one hostile event must not fail its slice's
    transaction (again at every restart, a crash loop); it is kept with a visible sign."""
    from sentinelle.web.alerts.models import Alert
    from sentinelle.web.incidents.models import Incident

    fill(tmp_path / "data" / "journal", [process_event(1, "ws\x0001", "mimikatz\x00.exe")])
    run_once(ServeConfig(data_dir=str(tmp_path / "data"), rules=(str(rules),)))
    alert = Alert.objects.get()
    assert alert.event["CommandLine"] == "mimikatz\u2400.exe"
    assert alert.host == "ws\u240001"
    assert Incident.objects.get().hosts == ["ws\u240001"]


def test_a_rule_added_to_a_watched_folder_switches_in_at_one_position(
    tmp_path: Path, rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The detector looks at its rule folders (here at every pass): a rule file added, with
    either suffix the loader reads, switches in at a journal position; the events before it
    are not matched by it, the events after are, and the old rules match each event once."""
    import time

    from sentinelle.service import detector as detector_module
    from sentinelle.web.alerts.models import Alert
    from sentinelle.web.pipeline.models import Checkpoint

    monkeypatch.setattr(detector_module, "RULES_LOOK_SECONDS", 0.0)
    journal = tmp_path / "data" / "journal"
    before = process_event(1, "www01", "mimikatz.exe psexec.exe")
    after = process_event(2, "www02", "mimikatz.exe psexec.exe")
    fill(journal, [before])
    deadline = time.monotonic() + 60
    steps: list[str] = []

    def position() -> int:
        row = Checkpoint.objects.filter(name=CHECKPOINT).first()
        return row.position if row is not None else 0

    def stop() -> bool:
        assert time.monotonic() < deadline, f"detector stuck after {steps}"
        if not steps and position() >= 1:
            (rules / "lateral.yaml").write_text(LATERAL)  # `.yaml` is a rule file too
            fill(journal, [after])
            steps.append("rule added")
        return bool(steps) and position() >= 2

    config = ServeConfig(data_dir=str(tmp_path / "data"), rules=(str(rules),))
    Detector(config, stop).run()
    matched = set(Alert.objects.values_list("rule_id", "event_id"))
    dump, lateral_rule = (f"5f0a8c3e-0000-4000-8000-00000000000{n}" for n in (1, 3))
    assert matched == {
        (dump, before.event_id),
        (dump, after.event_id),
        (lateral_rule, after.event_id),
    }


REPEATED = """
title: Credential dumping tool run three times on one host
id: 5f0a8c3e-0000-4000-8000-000000000004
status: test
level: critical
correlation:
  type: event_count
  rules: [5f0a8c3e-0000-4000-8000-000000000001]
  group-by: [Computer]
  timespan: 10m
  condition: {gte: 3}
"""


def test_an_event_stamped_in_the_future_cannot_stop_the_correlations_clock(
    tmp_path: Path, rules: Path
) -> None:
    """The correlations' clock follows the events' own times. A sender controls those: one
    event stamped in 2099 (a forged line, a device whose clock is wrong) must not carry the
    clock there, where every later event would count at 2099 and no burst after the first
    would fire again. An event is correlated at its own time, or when it arrived if that is
    earlier (the service's clock, not the sender's)."""
    from datetime import datetime

    from sentinelle.web.alerts.models import Alert

    (rules / "repeated.yml").write_text(REPEATED)

    def dump(host: str, when: str, arrived: str) -> Record:
        doc = {
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "EventID": 1,
            "Computer": host,
            "CommandLine": f"mimikatz.exe {when}",
            "@timestamp": when,
        }
        received = datetime.fromisoformat(arrived).timestamp()
        return Record("http", "winlogbeat", RecordKind.JSON, orjson.dumps(doc), received)

    forged = dump("evil", "2099-01-01T00:00:00Z", "2026-11-27T21:59:00+00:00")
    bursts = [
        dump("ws01", f"2026-11-27T{hour}:0{n}:00Z", f"2026-11-27T{hour}:0{n}:05+00:00")
        for hour in (22, 23)
        for n in range(3)
    ]
    fill(tmp_path / "data" / "journal", [forged, *bursts])
    run_once(ServeConfig(data_dir=str(tmp_path / "data"), rules=(str(rules),)))
    fired = Alert.objects.filter(rule_id="5f0a8c3e-0000-4000-8000-000000000004")
    assert sorted(str(a.timestamp and a.timestamp.isoformat()) for a in fired) == [
        "2026-11-27T22:02:00+00:00",
        "2026-11-27T23:02:00+00:00",
    ]


def test_a_correlation_window_survives_a_restart_and_a_replay_doubles_nothing(
    tmp_path: Path, rules: Path
) -> None:
    """Three dumps on one host, one slice each: the first two are checkpointed with the window
    that counts them, the detector is started again (its state only from the checkpoint), and
    the third completes the burst. Replaying from the second checkpoint stores no second alert."""
    from sentinelle.service.config import DetectorSection
    from sentinelle.web.alerts.models import Alert
    from sentinelle.web.pipeline.models import Checkpoint

    (rules / "repeated.yml").write_text(REPEATED)
    fill(
        tmp_path / "data" / "journal",
        [process_event(n, "ws01", f"mimikatz.exe {n}") for n in (1, 2, 3)],
    )
    config = ServeConfig(
        data_dir=str(tmp_path / "data"),
        rules=(str(rules),),
        detector=DetectorSection(batch_records=1),
    )
    first = Detector(config, lambda: False)
    first.load_rules()
    position, state = first.restore()
    for _ in range(2):
        position = first.process(first.reader.read(position, 1), state)
    first.reader.close()
    saved = Checkpoint.objects.values("position", "state", "rules_digest").get(name=CHECKPOINT)
    assert saved["position"] == 2 and not Alert.objects.exists()

    run_once(config)  # a new detector: what it knows of the window is the checkpoint's
    fired = list(Alert.objects.filter(rule_id="5f0a8c3e-0000-4000-8000-000000000004"))
    assert len(fired) == 1 and fired[0].host == "ws01"

    Checkpoint.objects.filter(name=CHECKPOINT).update(**saved)  # a crash after the second
    run_once(config)
    assert list(Alert.objects.values_list("id", flat=True)) == [fired[0].id]


def test_a_refused_rule_is_logged_with_where_and_why(
    tmp_path: Path, rules: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An operator who edits a rule folder and makes a typo finds the file and line in the
    service's log, not only a count."""
    import logging

    typo = RULE.replace("CommandLine|contains", "CommandLine|contians")
    (rules / "typo.yml").write_text(typo.replace("-000000000001", "-000000000009"))
    with caplog.at_level(logging.WARNING, logger="sentinelle.service.detector"):
        Detector(
            ServeConfig(data_dir=str(tmp_path / "data"), rules=(str(rules),)), bool
        ).load_rules()
    refused = [r.getMessage() for r in caplog.records if "detector.rule_refused" in r.getMessage()]
    assert len(refused) == 1 and "typo.yml" in refused[0] and "contians" in refused[0], refused


def test_a_detector_whose_service_died_before_it_started_stops_at_once(
    tmp_path: Path, rules: Path
) -> None:
    """The service may be killed while its detector is still starting (spawning takes a
    second); the detector, whose parent is then another process, must not run on unseen
    beside the next service's detector."""
    import multiprocessing
    import subprocess
    import sys

    from sentinelle.service.detector import detector_main

    data = tmp_path / "data"
    data.mkdir()
    # A store it could run on (this test's own database is not one a process can share).
    made = (
        "from pathlib import Path; from sentinelle.web import configure; "
        f"configure(Path({str(data)!r}), None, migrate=True)"
    )
    subprocess.run([sys.executable, "-c", made], check=True, timeout=120)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a service that has died: its pid is not the detector's parent
    config = ServeConfig(data_dir=str(data), rules=(str(rules),))
    process = multiprocessing.get_context("spawn").Process(
        target=detector_main, args=(config, None, None, gone.pid)
    )
    process.start()
    process.join(20)
    if process.is_alive():
        process.kill()
        process.join()
    assert process.exitcode == 1
