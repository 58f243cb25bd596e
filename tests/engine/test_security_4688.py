"""SigmaHQ process-creation rules on Security 4688 events (hospitals without Sysmon).

4688 lacks most of Sysmon's fields (``ParentCommandLine``, ``User``, ``OriginalFileName``...).
Such a field reads as absent, as in pySigma's backends: a filter on it does not hold, the rule
fires, and the detection names the filters that could not apply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sentinelle.engine import CompiledRules
from sentinelle.events import event_from_mapping
from sentinelle.sigma.logsources import load_logsource_map
from tests.engine.conftest import Compile
from tests.engine.evtx_events import evtx_events

pytestmark = pytest.mark.corpus

PROCESS_CREATION = Path("sigma/rules/windows/process_creation")
CSC = "proc_creation_win_csc_susp_dynamic_compilation.yml"
RUNDLL32 = "proc_creation_win_rundll32_uncommon_dll_extension.yml"
WMIPRVSE = "proc_creation_win_wmiprvse_spawning_process.yml"


def _rule(compile_yaml: Compile, shared_data: Path, name: str) -> CompiledRules:
    text = (shared_data / PROCESS_CREATION / name).read_text(encoding="utf-8")
    compiled = compile_yaml(text, logsources=load_logsource_map())
    assert not compiled.errors, [str(e) for e in compiled.errors]
    return compiled


def _security_4688(**fields: Any) -> dict[str, Any]:
    """A 4688 event as the EVTX reader gives it (fields of a real one from the corpus)."""
    return {
        "EventID": 4688,
        "Version": 2,
        "Channel": "Security",
        "Computer": "ws-ane-07.chu.lan",
        "Provider_Name": "Microsoft-Windows-Security-Auditing",
        "SubjectUserSid": "S-1-5-21-1004336348-1177238915-682003330-1104",
        "SubjectUserName": "j.martin",
        "SubjectDomainName": "CHU",
        "SubjectLogonId": "0x4a1f3c2",
        "NewProcessId": "0x1d2c",
        "TokenElevationType": "%%1938",
        "ProcessId": "0x1a40",
        "TargetUserSid": "S-1-0-0",
        "TargetUserName": "-",
        "TargetDomainName": "-",
        "TargetLogonId": "0x0",
        "MandatoryLabel": "S-1-16-8192",
        **fields,
    }


def test_csc_compiling_a_cmdline_from_temp_fires_on_4688(
    compile_yaml: Compile, shared_data: Path
) -> None:
    compiled = _rule(compile_yaml, shared_data, CSC)
    temp = "C:\\Users\\j.martin\\AppData\\Local\\Temp"
    event = _security_4688(
        NewProcessName="C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\csc.exe",
        ParentProcessName="C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        CommandLine='"C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\csc.exe" /noconfig '
        f'/fullpaths @"{temp}\\xkq3pz1v\\xkq3pz1v.cmdline"',
    )
    (det,) = compiled.match(event_from_mapping(event))
    assert det.rule_title == "Dynamic .NET Compilation Via Csc.EXE"
    # Its Defender and Ansible exclusions test the parent's command line, which 4688 lacks.
    assert det.details["unsupported_filter_fields"] == {
        "filter_optional_ansible": ["ParentCommandLine"],
        "filter_optional_defender": ["ParentCommandLine"],
    }
    # The filters 4688 can check still apply: the same compilation under Program Files is benign.
    benign = {**event, "ParentProcessName": "C:\\Program Files\\Vendor\\agent.exe"}
    assert not compiled.match(event_from_mapping(benign))


def test_rundll32_with_an_uncommon_extension_fires_on_4688(
    compile_yaml: Compile, shared_data: Path
) -> None:
    compiled = _rule(compile_yaml, shared_data, RUNDLL32)
    event = _security_4688(
        NewProcessName="C:\\Windows\\System32\\rundll32.exe",
        ParentProcessName="C:\\Windows\\System32\\cmd.exe",
        CommandLine="rundll32.exe C:\\Users\\Public\\update.dat,DllRegisterServer",
    )
    (det,) = compiled.match(event_from_mapping(event))
    assert det.rule_title == "Rundll32 Execution With Uncommon DLL Extension"
    assert det.details["unsupported_filter_fields"] == {
        "filter_optional_EdgeUpdate": ["ParentCommandLine"]
    }
    dll = {**event, "CommandLine": "rundll32.exe C:\\Windows\\System32\\shell32.dll,Control_RunDLL"}
    assert not compiled.match(event_from_mapping(dll))


def test_wmiprvse_child_fires_on_the_corpus_4688_events(
    compile_yaml: Compile, shared_data: Path
) -> None:
    """wmiexec's cmd.exe under WmiPrvSE.exe, from the attack corpus; its creator is NETWORK
    SERVICE (``SubjectLogonId`` 0x3e4), so the SYSTEM exclusion (``LogonId`` 0x3e7) holds off."""
    compiled = _rule(compile_yaml, shared_data, WMIPRVSE)
    path = (
        shared_data
        / "evtx/mitre/EVTX_full_APT_attack_steps"
        / "ID4688,5140,5145-WMIexec execution via SMB (GLOBAL).evtx"
    )
    found = [d for ev in evtx_events(path) for d in compiled.match(ev)]
    assert len(found) == 2
    for det in found:
        assert det.event is not None
        assert det.event.fields["EventID"] == 4688
        assert det.event.fields["NewProcessName"].endswith("\\cmd.exe")
        assert det.details["unsupported_filter_fields"] == {"filter_system_user": ["User"]}
    # The same process created by SYSTEM is the benign case the rule excludes.
    assert found[0].event is not None
    system = {**found[0].event.fields, "SubjectLogonId": "0x3e7"}
    assert not compiled.match(event_from_mapping(system))
