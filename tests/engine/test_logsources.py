"""Logsource mapping: Sysmon and Security 4688 process creation; fields a source lacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sentinelle.events import event_from_mapping
from sentinelle.readers import read_file
from sentinelle.sigma.logsources import load_logsource_map
from tests.engine.conftest import Compile

SYSMON = "Microsoft-Windows-Sysmon/Operational"
RULE = """
title: Whoami
logsource: {product: windows, category: process_creation}
detection:
    sel: {Image|endswith: '\\\\whoami.exe'}
    filter: {OriginalFileName: 'whoami.exe'}
    condition: %s
level: high
"""


def _fires(compile_yaml: Compile, condition: str, fields: dict[str, Any]) -> bool:
    compiled = compile_yaml(RULE % condition, logsources=load_logsource_map())
    assert not compiled.errors
    return bool(compiled.match(event_from_mapping(fields)))


def test_sysmon_process_creation(compile_yaml: Compile) -> None:
    ev = {"Channel": SYSMON, "EventID": 1, "Image": "C:\\Windows\\whoami.exe"}
    assert _fires(compile_yaml, "sel", ev)
    assert not _fires(compile_yaml, "sel", {**ev, "EventID": 3})
    assert not _fires(compile_yaml, "sel", {**ev, "Channel": "Security"})


def test_security_4688_maps_field_names(compile_yaml: Compile) -> None:
    ev = {"Channel": "Security", "EventID": 4688, "NewProcessName": "C:\\Windows\\whoami.exe"}
    assert _fires(compile_yaml, "sel", ev)
    assert not _fires(compile_yaml, "sel", {**ev, "EventID": 4624})


def test_field_4688_lacks_reads_as_absent(compile_yaml: Compile) -> None:
    ev = {"Channel": "Security", "EventID": 4688, "NewProcessName": "C:\\Windows\\whoami.exe"}
    # 4688 has no OriginalFileName: the filter's test does not hold, so `not filter` does, as in
    # pySigma's backends and the Sigma specification.
    assert _fires(compile_yaml, "sel and not filter", ev)
    assert _fires(compile_yaml, "sel or filter", ev)
    assert not _fires(compile_yaml, "filter", ev)
    # Even when a 4688 event carries a field of that name, the source's list decides: what it
    # does not list is not the field the rule means.
    assert _fires(compile_yaml, "sel and not filter", {**ev, "OriginalFileName": "whoami.exe"})
    sysmon = {"Channel": SYSMON, "EventID": 1, "Image": "C:\\x\\whoami.exe"}
    assert not _fires(
        compile_yaml, "sel and not filter", {**sysmon, "OriginalFileName": "whoami.exe"}
    )
    assert _fires(compile_yaml, "sel and not filter", {**sysmon, "OriginalFileName": "a"})


ABSENT_RULE = """
title: Absence tests
logsource: {product: windows, category: process_creation}
detection:
    sel: {Image|endswith: '\\\\whoami.exe'}
    filter_user: {User|contains: AUTHORI}
    filter_null: {OriginalFileName: null}
    filter_missing: {Hashes|exists: false}
    filter_present: {Hashes|exists: true}
    filter_ref: {CommandLine|fieldref: ParentCommandLine}
    condition: %s
level: high
"""


def test_absence_tests_on_fields_4688_lacks(compile_yaml: Compile) -> None:
    """`null` and `exists: false` hold on a field the source lacks, every other test fails."""
    ev = event_from_mapping(
        {"Channel": "Security", "EventID": 4688, "NewProcessName": "C:\\Windows\\whoami.exe"}
    )
    expected = {
        "filter_user": False,
        "filter_null": True,
        "filter_missing": True,
        "filter_present": False,
        "filter_ref": False,
    }
    for name, holds in expected.items():
        compiled = compile_yaml(ABSENT_RULE % f"sel and {name}", logsources=load_logsource_map())
        assert not compiled.errors
        assert bool(compiled.match(ev)) is holds, name


def test_rule_made_only_of_an_absent_filter_fires_on_every_4688(compile_yaml: Compile) -> None:
    compiled = compile_yaml(ABSENT_RULE % "not filter_user", logsources=load_logsource_map())
    assert compiled.match(event_from_mapping({"Channel": "Security", "EventID": 4688}))
    assert not compiled.match(event_from_mapping({"Channel": "Security", "EventID": 4624}))
    sysmon = {"Channel": SYSMON, "EventID": 1, "User": "NT AUTHORITY\\SYSTEM"}
    assert not compiled.match(event_from_mapping(sysmon))
    assert compiled.match(event_from_mapping({**sysmon, "User": "CHU\\j.martin"}))


def test_detection_names_the_filters_that_could_not_apply(compile_yaml: Compile) -> None:
    condition = "sel and not filter_user and not filter_ref and not filter_present"
    compiled = compile_yaml(ABSENT_RULE % condition, logsources=load_logsource_map())
    ev = {"Channel": "Security", "EventID": 4688, "NewProcessName": "C:\\Windows\\whoami.exe"}
    (det,) = compiled.match(event_from_mapping(ev))
    assert det.details["unsupported_filter_fields"] == {
        "filter_present": ["Hashes"],
        "filter_ref": ["ParentCommandLine"],
        "filter_user": ["User"],
    }
    # On Sysmon every field exists: no note.
    sysmon = {"Channel": SYSMON, "EventID": 1, "Image": "C:\\x\\whoami.exe"}
    (det,) = compiled.match(event_from_mapping(sysmon))
    assert "unsupported_filter_fields" not in det.details


def test_logon_id_reads_subject_logon_id_on_4688(compile_yaml: Compile) -> None:
    """As pySigma's Windows audit pipeline maps it."""
    rule = """
title: WmiPrvSE child
logsource: {product: windows, category: process_creation}
detection:
    selection: {ParentImage|endswith: '\\\\WmiPrvSe.exe'}
    filter_logonid: {LogonId: ['0x3e7', 'null']}
    filter_null: {LogonId: null}
    condition: selection and not 1 of filter_*
level: medium
"""
    compiled = compile_yaml(rule, logsources=load_logsource_map())
    base = {
        "Channel": "Security",
        "EventID": 4688,
        "ParentProcessName": "C:\\Windows\\System32\\wbem\\WmiPrvSE.exe",
    }
    assert compiled.match(event_from_mapping({**base, "SubjectLogonId": "0x3e4"}))
    assert not compiled.match(event_from_mapping({**base, "SubjectLogonId": "0x3e7"}))
    assert not compiled.match(event_from_mapping(base))  # no logon id: filter_null holds


def test_unmapped_logsource_never_fires(compile_yaml: Compile) -> None:
    compiled = compile_yaml(
        "title: t\nlogsource: {product: nowhere}\n"
        "detection:\n    sel: {F: x}\n    condition: sel\n",
        logsources=load_logsource_map(),
    )
    assert compiled.plan.unmapped == [0]
    assert compiled.rules[0].sources == ()
    assert not compiled.match(event_from_mapping({"F": "x"}))


def test_defender_spaced_names(compile_yaml: Compile) -> None:
    compiled = compile_yaml(
        "title: t\nlogsource: {product: windows, service: windefend}\n"
        "detection:\n    sel: {ThreatName|contains: EICAR}\n    condition: sel\n",
        logsources=load_logsource_map(),
    )
    channel = "Microsoft-Windows-Windows Defender/Operational"
    assert compiled.match(event_from_mapping({"Channel": channel, "Threat Name": "Virus:EICAR"}))
    assert compiled.match(event_from_mapping({"Channel": channel, "ThreatName": "Virus:EICAR"}))


# One line of each firewall log the syslog reader knows, then what each rule below must see.
FIREWALL_LINES = {
    "fortigate traffic": '<189>date=2024-03-11 time=22:02:43 devname="FW-CORE01" devid="FG600E" '
    'logid="0000000013" type="traffic" subtype="forward" level="notice" srcip=10.10.32.20 '
    'srcport=41756 dstip=10.0.0.9 dstport=23 proto=6 action="deny" policyid=0',
    "fortigate anomaly": '<185>date=2024-03-12 time=01:20:18 devname="FW-EDGE01" devid="FG200F" '
    'logid="0720018432" type="anomaly" subtype="anomaly" level="alert" srcip=198.18.148.12 '
    'srcport=53 dstip=10.0.0.9 dstport=23 proto=17 action="clear_session" attack="udp_flood"',
    "fortigate event": '<190>date=2024-03-12 time=00:05:04 devname="VPN-GW01" devid="FG100F" '
    'logid="0101039947" type="event" subtype="vpn" level="information" action="tunnel-up" '
    'remip=198.51.100.77 user="i.vincent" dstport=23',
    "pfsense": "<134>Mar 12 00:05:06 fw-pf01 filterlog[4242]: 5,,,1000000103,igb1,match,block,in,"
    "4,0x0,,64,12345,0,DF,6,tcp,60,198.18.4.9,10.0.0.9,51514,23,0,S,12345678,,64240,,mss",
    "iptables": "<4>Mar 12 00:05:07 gw01 kernel: [12345.678] DROP IN=eth0 OUT= SRC=198.18.4.9 "
    "DST=10.0.0.9 LEN=60 TTL=52 ID=1 DF PROTO=TCP SPT=40000 DPT=23 WINDOW=1024 SYN URGP=0",
    "stormshield": '<134>id=firewall time="2024-03-12 00:05:08" fw="SN910" tz=+0100 '
    'startime="2024-03-12 00:05:08" ruleid=3 src=198.18.4.9 srcport=40001 dst=10.0.0.9 '
    "dstport=23 ipproto=tcp proto=telnet action=block",
    # An IDS speaking CEF: it carries the canonical network fields but is no firewall verdict.
    "cef ids": "<134>Mar 12 00:05:09 ids01 CEF:0|Vendor|IDS|1.0|100|Port probe|5|src=198.18.4.9 "
    "dst=10.0.0.9 dpt=23 act=alert",
}
FIREWALL_RULES = """
title: fw
logsource: {category: firewall}
detection: {sel: {dst_port: 23}, condition: sel}
---
title: fg-event
logsource: {product: fortigate, service: event}
detection: {sel: {dstport: 23}, condition: sel}
---
title: fg-anomaly
logsource: {product: fortigate, service: anomaly}
detection: {sel: {dstport: 23}, condition: sel}
---
title: fg-traffic
logsource: {product: fortigate, service: traffic}
detection: {sel: {dstport: 23}, condition: sel}
---
title: fg-any
logsource: {product: fortigate}
detection: {sel: {dstport: 23}, condition: sel}
"""
FIREWALL_EXPECTED = {
    "fortigate traffic": ["fw", "fg-traffic", "fg-any"],
    "fortigate anomaly": ["fw", "fg-anomaly", "fg-any"],
    "fortigate event": ["fg-event", "fg-any"],
    "pfsense": ["fw"],
    "iptables": ["fw"],
    "stormshield": ["fw"],
    "cef ids": [],
}


def test_firewall_logsources_on_what_the_readers_produce(
    compile_yaml: Compile, tmp_path: Path
) -> None:
    """The firewall category and FortiGate services, on lines read by the real syslog reader."""
    compiled = compile_yaml(FIREWALL_RULES, logsources=load_logsource_map())
    assert not compiled.errors
    assert not compiled.plan.unmapped
    log = tmp_path / "fw.log"
    log.write_text("".join(f"{line}\n" for line in FIREWALL_LINES.values()), encoding="utf-8")
    batches = list(read_file(log))
    assert not [issue for b in batches for issue in b.issues]
    events = [e for b in batches for e in b.events]
    assert len(events) == len(FIREWALL_LINES)
    seen = {
        name: [d.rule_title for d in compiled.match(ev)]
        for name, ev in zip(FIREWALL_LINES, events, strict=True)
    }
    assert seen == FIREWALL_EXPECTED


def test_zeek_conn_is_not_a_firewall(compile_yaml: Compile) -> None:
    """Zeek conn records carry the canonical `dst_ip`/`dst_port` too but are no firewall verdict."""
    compiled = compile_yaml(FIREWALL_RULES, logsources=load_logsource_map())
    conn = {"_path": "conn", "id.resp_h": "10.0.0.9", "id.resp_p": 23}
    assert compiled.match(event_from_mapping({**conn, "dst_ip": "10.0.0.9", "dst_port": 23})) == []


def test_event_id_spellings_pick_the_same_bucket_in_any_order(compile_yaml: Compile) -> None:
    # One compiled set sees the spellings in both orders: a memo keyed on values that compare
    # equal across types (4688 == 4688.0, 1 == True) must not hand one the other's bucket.
    compiled = compile_yaml(RULE % "sel", logsources=load_logsource_map())
    base = {"Channel": "Security", "NewProcessName": "C:\\Windows\\whoami.exe"}
    cases: list[tuple[Any, bool]] = [
        (4688.0, True),
        (4688, True),
        ("4688", True),
        (4688.5, False),
        (True, False),
    ]
    for order in (cases, cases[::-1]):
        for eid, expected in order:
            got = bool(compiled.match(event_from_mapping({**base, "EventID": eid})))
            assert got is expected, eid
    sysmon_true = {"Channel": SYSMON, "EventID": True, "Image": "C:\\Windows\\whoami.exe"}
    sysmon_one = {**sysmon_true, "EventID": 1}
    assert compiled.match(event_from_mapping(sysmon_one))
    assert not compiled.match(event_from_mapping(sysmon_true))
    assert compiled.match(event_from_mapping(sysmon_one))
