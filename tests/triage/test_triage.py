"""Search, metrics and logon summaries over fixed events (the rule and the event side by side)."""

from __future__ import annotations

from typing import Any

import pytest

from sentinelle.errors import ConfigError
from sentinelle.events import Event, event_from_mapping
from sentinelle.triage.logons import LogonSummary
from sentinelle.triage.metrics import MAX_KEYS, OTHER, EventMetrics
from sentinelle.triage.search import build_query

PROCESS = {
    "Channel": "Security",
    "EventID": 4688,
    "Computer": "ws-ane-07",
    "NewProcessName": "C:\\Tools\\Mimikatz\\mimikatz.exe",
    "CommandLine": 'mimikatz.exe "sekurlsa::logonpasswords" exit',
    "Tags": ["alpha", "Beta"],
}


def _matches(event: dict[str, Any], **terms: Any) -> bool:
    query = build_query(
        terms.get("keywords", []),
        terms.get("regexes", []),
        terms.get("fields", []),
        all_terms=terms.get("all_terms", False),
        ignore_case=terms.get("ignore_case", False),
    )
    return query.matches(event_from_mapping(event))


@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        ({"keywords": ["MIMIKATZ"]}, True),  # keywords: any case
        ({"keywords": ["beta"]}, True),  # list items are values too
        ({"keywords": ["4688"]}, True),  # numbers by their text
        ({"keywords": ["lsass"]}, False),
        ({"keywords": ["lsass", "sekurlsa"]}, True),  # any of them
        ({"keywords": ["lsass", "sekurlsa"], "all_terms": True}, False),
        ({"regexes": [r"sekurlsa::\w+"]}, True),
        ({"regexes": [r"SEKURLSA::\w+"]}, False),  # regexes: case-sensitive
        ({"regexes": [r"SEKURLSA::\w+"], "ignore_case": True}, True),
        ({"keywords": ["lsass"], "regexes": [r"logon\w+"]}, True),
        ({"fields": ["EventID=4688"]}, True),
        ({"fields": ["computer=WS-ANE-*"]}, True),  # names and values: any case, wildcards
        ({"fields": ["NewProcessName=*\\mimikatz.exe"]}, True),
        ({"fields": ["NewProcessName=mimikatz.exe"]}, False),  # the whole value
        ({"fields": ["EventID=4688", "Channel=System"]}, False),  # every field term
        ({"fields": ["Missing=*"]}, False),
        ({"fields": ["Channel=Security"], "keywords": ["lsass"]}, False),
        ({"fields": ["Channel=Security"], "keywords": ["exit"]}, True),
    ],
)
def test_search_terms(terms: dict[str, Any], expected: bool) -> None:
    assert _matches(PROCESS, **terms) is expected


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ({}, "at least one"),
        ({"regexes": [r"(a)\1"]}, "not supported by RE2"),
        ({"regexes": [r"(?=x)y"]}, "not supported by RE2"),
        ({"fields": ["NoEquals"]}, "is not NAME=VALUE"),
        ({"keywords": [""]}, "would match every event"),
    ],
)
def test_bad_search_terms_are_refused(terms: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_query(terms.get("keywords", []), terms.get("regexes", []), terms.get("fields", []))


def test_metrics_count_channels_ids_computers_and_the_span() -> None:
    m = EventMetrics()
    rows = [
        ("Security", 4624, "dc-cen01", 100.0),
        ("Security", 4624, "dc-cen01", 50.0),
        ("Security", 4625, "ws-1", 400.0),
        ("System", 7045, "ws-1", None),
    ]
    for channel, eid, computer, ts in rows:
        m.add(Event({"Channel": channel, "EventID": eid, "Computer": computer}, ts, "a.evtx", 1))
    m.add(Event({"message": "x"}, 10.0, "b.log", 1))
    assert m.events == 5 and m.without_time == 1
    assert (m.first, m.last, m.span_seconds) == (10.0, 400.0, 390.0)
    assert m.by_channel == {"Security": 3, "System": 1, "(none)": 1}
    assert m.by_event[("Security", "4624")] == 2
    assert m.by_computer.most_common(1) == [("dc-cen01", 2)]
    assert m.by_source == {"a.evtx": 4, "b.log": 1}


def test_metrics_stay_bounded_on_endless_channel_names() -> None:
    m = EventMetrics()
    for i in range(MAX_KEYS + 10):
        m.add(Event({"Channel": f"c{i}", "EventID": 1}, None, "a", i))
    assert len(m.by_channel) == MAX_KEYS + 1
    assert m.by_channel[OTHER] == 10 and m.folded >= 10


def _logon(eid: int, user: str, logon_type: int, ip: str, ts: float, **extra: str) -> Event:
    fields: dict[str, Any] = {
        "Channel": "Security",
        "EventID": eid,
        "Computer": "dc-cen01",
        "TargetUserName": user,
        "TargetDomainName": "CHU",
        "LogonType": logon_type,
        "WorkstationName": "-",
        "IpAddress": ip,
        **extra,
    }
    return Event(fields, ts, "s.evtx", int(ts))


def test_logons_grouped_by_account_type_and_source_with_failure_reasons() -> None:
    summary = LogonSummary()
    for t in (1.0, 5.0, 3.0):
        summary.add(_logon(4624, "adm-x", 10, "10.10.32.21", t))
    summary.add(_logon(4624, "adm-x", 3, "10.10.32.21", 2.0))
    summary.add(
        _logon(4625, "adm-x", 3, "198.51.100.7", 4.0, Status="0xc000006d", SubStatus="0xC000006A")
    )
    summary.add(
        _logon(4625, "nobody", 3, "198.51.100.7", 6.0, Status="0xc000006d", SubStatus="0xc0000064")
    )
    summary.add(
        _logon(4625, "nobody", 3, "198.51.100.7", 7.0, Status="0xc0000234", SubStatus="0x0")
    )
    summary.add(Event({"Channel": "System", "EventID": 4624}, 1.0, "x", 1))  # not Security
    assert (summary.successes, summary.failures) == (4, 3)
    (top, second) = summary.sorted_rows("success")
    assert (top[0].account, top[0].logon_type, top[1].count) == (
        "CHU\\adm-x",
        "10 RemoteInteractive",
        3,
    )
    assert (top[1].first, top[1].last) == (1.0, 5.0)
    assert second[0].logon_type == "3 Network"
    reasons = {(k.account, k.reason): r.count for k, r in summary.sorted_rows("failure")}
    assert reasons == {
        ("CHU\\adm-x", "bad password"): 1,
        ("CHU\\nobody", "unknown user name"): 1,
        ("CHU\\nobody", "account locked out"): 1,
    }
