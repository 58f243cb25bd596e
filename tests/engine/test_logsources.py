"""Logsource mapping: Sysmon and Security 4688 process creation; Kleene logic on missing fields."""

from __future__ import annotations

from typing import Any

from sentinelle.events import event_from_mapping
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


def test_field_absent_from_4688_never_decides_a_match(compile_yaml: Compile) -> None:
    ev = {"Channel": "Security", "EventID": 4688, "NewProcessName": "C:\\Windows\\whoami.exe"}
    # `not filter` could be true or false: 4688 has no OriginalFileName, so the rule holds off.
    assert not _fires(compile_yaml, "sel and not filter", ev)
    # `sel or filter` holds whatever OriginalFileName would be.
    assert _fires(compile_yaml, "sel or filter", ev)
    sysmon = {
        "Channel": SYSMON,
        "EventID": 1,
        "Image": "C:\\x\\whoami.exe",
        "OriginalFileName": "a",
    }
    assert _fires(compile_yaml, "sel and not filter", sysmon)


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


def test_firewall_category_on_normalised_records(compile_yaml: Compile) -> None:
    compiled = compile_yaml(
        "title: t\nlogsource: {category: firewall}\n"
        "detection:\n    sel: {dst_port: [21, 23], action: [accept, pass]}\n    condition: sel\n",
        logsources=load_logsource_map(),
    )
    record = {"program": "filterlog", "dst_ip": "10.0.0.9", "dst_port": 23, "action": "pass"}
    assert compiled.match(event_from_mapping(record))
    assert not compiled.match(event_from_mapping({**record, "dst_port": 443}))
    # Without the canonical fields (a Windows event with the same names absent) nothing fires.
    assert not compiled.match(event_from_mapping({"Channel": "Security", "dst_port": 23}))
