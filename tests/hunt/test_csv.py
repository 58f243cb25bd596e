"""The CSV timeline: Hayabusa's profiles column for column, curated Details on real events."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from pathlib import Path

import pytest

from sentinelle.detections import Detection
from sentinelle.events import Event
from sentinelle.hunt.outputs import PROFILES as PROFILE_NAMES
from sentinelle.hunt.outputs.csv import PROFILES, CsvWriter
from sentinelle.hunt.outputs.details import (
    SYSTEM_FIELDS,
    all_field_info,
    details,
    extra_field_info,
    kind_labels,
)
from sentinelle.hunt.outputs.winmessages import MESSAGES, render_codes
from sentinelle.hunt.summary import HuntSummary
from tests.hunt.helpers import make_detection

# Hayabusa 3.x `list-profiles`, as issue 16 lists them (and the profiles it does not list).
HAYABUSA = {
    "minimal": "Timestamp RuleTitle Level Computer Channel EventID RecordID Details",
    "standard": "Timestamp RuleTitle Level Computer Channel EventID RecordID Details "
    "ExtraFieldInfo RuleID",
    "verbose": "Timestamp RuleTitle Level Computer Channel EventID MitreTactics MitreTags "
    "OtherTags RecordID Details ExtraFieldInfo RuleFile RuleID EvtxFile",
    "all-field-info": "Timestamp RuleTitle Level Computer Channel EventID RecordID AllFieldInfo "
    "RuleFile RuleID EvtxFile",
    "all-field-info-verbose": "Timestamp RuleTitle Level Computer Channel EventID MitreTactics "
    "MitreTags OtherTags RecordID AllFieldInfo RuleFile RuleID EvtxFile",
    "super-verbose": "Timestamp RuleTitle Level Computer Channel EventID RuleAuthor "
    "RuleModifiedDate Status RecordID Details ExtraFieldInfo MitreTactics MitreTags OtherTags "
    "Provider RuleCreationDate RuleFile RuleID EvtxFile",
    "timesketch-minimal": "datetime timestamp_desc message Level Computer Channel EventID "
    "MitreTactics MitreTags OtherTags RecordID Details RuleFile RuleID EvtxFile",
    "timesketch-verbose": "datetime timestamp_desc message Level Computer Channel EventID "
    "MitreTactics MitreTags OtherTags RecordID Details ExtraFieldInfo RuleFile RuleID EvtxFile",
}

RULE = """title: Suspicious Thing
id: 11111111-2222-3333-4444-555555555555
status: test
author: A. Analyst, B. Hunter
date: 2021-03-04
modified: 2024-05-06
logsource: {product: windows, category: process_creation}
detection: {sel: {Image|endswith: '\\\\cmd.exe'}, condition: sel}
level: high
"""

SEC_4624 = {
    "Channel": "Security",
    "EventID": 4624,
    "Computer": "DC1",
    "Provider_Name": "Microsoft-Windows-Security-Auditing",
    "LogonType": 3,
    "TargetUserName": "alice",
    "IpAddress": "10.1.2.3",
    "TargetLogonId": "0x3e7",
    "ImpersonationLevel": "%%1833",
    "ElevatedToken": "%%1842",
}


def _rows(dets: list[Detection], profile: str, **kw: object) -> list[dict[str, str]]:
    buf = io.StringIO()
    writer = CsvWriter(buf, profile, **kw)  # type: ignore[arg-type]
    for det in dets:
        writer.write(det)
    writer.close(HuntSummary())
    return list(csv.DictReader(io.StringIO(buf.getvalue())))


@pytest.mark.parametrize("profile", sorted(HAYABUSA))
def test_each_profile_has_hayabusas_columns_in_order(profile: str) -> None:
    buf = io.StringIO()
    CsvWriter(buf, profile)
    assert buf.getvalue().rstrip("\r\n").split(",") == HAYABUSA[profile].split()
    assert PROFILES[profile] == tuple(HAYABUSA[profile].split())


def test_every_profile_is_offered_and_no_other() -> None:
    assert set(PROFILES) == set(PROFILE_NAMES) == set(HAYABUSA)


def test_super_verbose_reads_the_rule_header(tmp_path: Path) -> None:
    rule = tmp_path / "proc_creation_thing.yml"
    rule.write_text(RULE)
    det = make_detection(SEC_4624, rule_id="11111111-2222-3333-4444-555555555555")
    (row,) = _rows([det], "super-verbose", rule_files={det.rule_id: str(rule)})
    assert row["RuleAuthor"] == "A. Analyst, B. Hunter"
    assert row["RuleCreationDate"] == "2021/03/04"
    assert row["RuleModifiedDate"] == "2024/05/06"
    assert row["Status"] == "test"
    assert row["RuleFile"] == "proc_creation_thing.yml"
    assert row["Provider"] == "Microsoft-Windows-Security-Auditing"
    # a rule file that is gone leaves its cells empty, the row is still written
    (row,) = _rows([det], "super-verbose", rule_files={det.rule_id: str(tmp_path / "gone")})
    assert row["RuleAuthor"] == "" and row["RuleID"] == det.rule_id


def test_details_curated_with_windows_codes_rendered_and_the_rest_extra() -> None:
    (row,) = _rows([make_detection(SEC_4624)], "verbose")
    assert row["Details"] == (
        "Type: 3 ¦ TgtUser: alice ¦ SrcIP: 10.1.2.3 ¦ LID: 0x3e7"
    )  # fields the event lacks are left out
    assert row["ExtraFieldInfo"] == "ImpersonationLevel: Impersonation ¦ ElevatedToken: Yes"
    (row,) = _rows([make_detection(SEC_4624)], "all-field-info")
    assert row["AllFieldInfo"].startswith("LogonType: 3 ¦ TargetUserName: alice")
    assert "Provider_Name" not in row["AllFieldInfo"]  # the System header has its columns


def test_codes_are_rendered_in_security_fields_only() -> None:
    batch = "cmd /c for %%1842 in (a) do echo %%1842"
    security = {**SEC_4624, "EventID": 4688, "CommandLine": batch, "TokenElevationType": "%%1937"}
    (row,) = _rows([make_detection(security)], "standard")
    assert f"Cmdline: {batch}" in row["Details"]  # a command line's %% is text
    assert "Elevation: TokenElevationTypeFull (2)" in row["Details"]
    defender = {"Channel": "Microsoft-Windows-Windows Defender/Operational", "EventID": 5007}
    (row,) = _rows([make_detection({**defender, "New Value": "%%1842"})], "standard")
    assert "%%1842" in row["Details"] + row["ExtraFieldInfo"]  # another provider's table


def test_timesketch_profiles_write_what_timesketch_imports() -> None:
    (row,) = _rows([make_detection(SEC_4624)], "timesketch-verbose")
    assert row["datetime"] == "2020-09-13T12:26:40.250000+00:00"
    assert row["timestamp_desc"] == "Event Time"
    assert row["message"] == "Rule one"


def test_cells_to_a_terminal_pass_through_printable() -> None:
    det = make_detection({**SEC_4624, "TargetUserName": "\x1b]0;owned\x07bob\u202e"})
    (row,) = _rows([det], "standard", terminal=True)
    assert "\x1b" not in row["Details"] and "\\x1b]0;owned\\x07bob\\u202e" in row["Details"]
    (row,) = _rows([det], "standard")  # a file keeps the text as the log wrote it
    assert "\x1b]0;owned" in row["Details"]


def test_windows_codes_known_and_unknown() -> None:
    assert render_codes("%%1842") == "Yes"
    assert render_codes("%%1833") == "Impersonation"
    assert (
        render_codes("%%1538\n\t\t\t\t%%1541 %%99999")
        == "READ_CONTROL\n\t\t\t\tSYNCHRONIZE %%99999"
    )
    assert MESSAGES[2080] == "Account Disabled" and MESSAGES[2084] == "'Normal Account' - Enabled"
    assert MESSAGES[2048] == "Account Enabled" and MESSAGES[2058] == "Account Unlocked"
    assert MESSAGES[12544] == "Logon" and MESSAGES[14338] == "Other Account Logon Events"
    assert MESSAGES[16390] == "Permit" and MESSAGES[8448] == "Success removed"


# --- Details over the real events of the corpus ------------------------------------------


@pytest.fixture(scope="module")
def corpus_events(shared_data: Path) -> list[Event]:
    from sentinelle.readers import expand_paths, read_paths

    wanted = {
        ("Security", 4688),
        ("Security", 4624),
        ("Security", 4662),
        ("Security", 4719),
        ("Security", 5145),
        ("System", 7045),
        ("System", 104),
        ("Microsoft-Windows-Sysmon/Operational", 1),
        ("Microsoft-Windows-Sysmon/Operational", 13),
        ("Microsoft-Windows-PowerShell/Operational", 4104),
    }
    files = expand_paths([shared_data / "evtx" / "mitre"])
    kept: list[Event] = []
    per_kind: Counter[tuple[str, int]] = Counter()
    for batch in read_paths(files):
        for ev in batch.events:
            kind = (ev.fields.get("Channel"), ev.fields.get("EventID"))
            if kind in wanted and per_kind[kind] < 40:
                per_kind[kind] += 1
                kept.append(ev)
    assert set(per_kind) == wanted
    return kept


_LABEL = re.compile(r"(?:^| ¦ )([A-Za-z]+): ")


@pytest.mark.corpus
def test_details_on_corpus_events_show_the_kind_and_lose_nothing(
    corpus_events: list[Event],
) -> None:
    for ev in corpus_events:
        det = Detection("r", "Rule", "high", ev.timestamp, event=ev)
        labels = kind_labels(ev.fields)
        assert labels is not None, ev
        text, extra, every = details(det), extra_field_info(det), all_field_info(det)
        shown = [label for label, name in labels if ev.fields.get(name) not in (None, "")]
        assert _LABEL.findall(text) == shown, (ev, text)
        assert "\n" not in text + extra + every
        # every field of the event is in Details or ExtraFieldInfo, under one of them only
        used = {name for _, name in labels}
        for name, value in ev.fields.items():
            if name in SYSTEM_FIELDS or value in (None, ""):
                continue
            named = re.compile(f"(?:^| ¦ ){re.escape(name)}: ")
            assert bool(named.search(extra)) != (name in used), (name, text, extra)
            assert named.search(every), (name, every)
        for code in re.findall(r"%%(\d+)", text + extra):
            assert int(code) not in MESSAGES  # every known code is rendered

    by_kind = {(ev.fields["Channel"], ev.fields["EventID"]): ev for ev in corpus_events}
    sample = details(Detection("r", "R", "high", 0.0, event=by_kind[("Security", 4688)]))
    assert sample.startswith("Cmdline: ") and " ¦ Proc: " in sample and " ¦ User: " in sample
    sample = details(Detection("r", "R", "high", 0.0, event=by_kind[("System", 7045)]))
    assert sample.startswith("Svc: ") and " ¦ Path: " in sample
    sample = details(Detection("r", "R", "high", 0.0, event=by_kind[("System", 104)]))
    assert sample.startswith("Log: ")  # the cleared log, from UserData


@pytest.mark.parametrize("eid", ["²", "①", "-1"])
def test_an_event_id_int_cannot_read_has_no_curated_details(eid: str) -> None:
    """A superscript or circled digit passes ``str.isdigit`` but not ``int``: it stopped the
    output ("invalid literal for int()") instead of falling back to the generic Details."""
    ev = Event({"Channel": "Security", "EventID": eid, "SubjectUserName": "bob"}, 0.0, "x", 1)
    assert kind_labels(ev.fields) is None
    assert "SubjectUserName: bob" in details(Detection("r", "Rule", "high", 0.0, event=ev))
