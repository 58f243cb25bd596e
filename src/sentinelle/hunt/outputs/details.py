"""Details, ExtraFieldInfo and AllFieldInfo: the event's fields as one line of text each.

Details holds the fields that tell what happened for the event's kind (a process creation:
its command line, image, user, parent; a logon: its type, account, source address...), in a
fixed order and under short labels; ExtraFieldInfo holds every other field of the event, so
nothing the log said is lost from the row; AllFieldInfo holds them all under their own names.
The labels follow the vocabulary of Hayabusa timelines (``Cmdline``, ``Proc``, ``TgtUser``,
``SrcIP``, ``LID``...), which analysts and their scripts already read. Kinds without an entry
here show all their fields in Details and nothing in ExtraFieldInfo.

These are text for people: Windows ``%%NNNN`` codes are rendered as words, line breaks are
folded so one detection stays one line; the JSON outputs keep every value exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from sentinelle.detections import Detection
from sentinelle.hunt.outputs.fields import field_text
from sentinelle.hunt.outputs.winmessages import render_codes

DETAILS_SEPARATOR = " ¦ "
EMPTY = "-"
_LINE_BREAKS = re.compile(r"[\r\n\t]+")

# The EVTX System header: says where and how the record was written, not what happened. It has
# columns of its own (Channel, EventID, Computer, RecordID) or is of no use to a reader.
SYSTEM_FIELDS = frozenset(
    {
        "Channel",
        "EventID",
        "Computer",
        "EventRecordID",
        "Provider_Name",
        "Provider_Guid",
        "Provider_EventSourceName",
        "Keywords",
        "Level",
        "Opcode",
        "Task",
        "Version",
        "ThreadID",
        "ProcessID",
        "SystemTime",
        "ActivityID",
        "RelatedActivityID",
        "Qualifiers",
    }
)

_SECURITY = "security"
_SYSTEM = "system"
_SYSMON = "microsoft-windows-sysmon/operational"
_POWERSHELL = ("microsoft-windows-powershell/operational", "powershellcore/operational")
_DEFENDER = "microsoft-windows-windows defender/operational"
_FIREWALL = "microsoft-windows-windows firewall with advanced security/firewall"
_TASKS = "microsoft-windows-taskscheduler/operational"

Labels = tuple[tuple[str, str], ...]  # (label, field name), in display order

_SUBJECT: Labels = (("User", "SubjectUserName"), ("LID", "SubjectLogonId"))
_ACCOUNT_CHANGE: Labels = (
    ("TgtUser", "TargetUserName"),
    ("TgtSID", "TargetSid"),
    ("SamUser", "SamAccountName"),
    ("UAC", "UserAccountControl"),
    *_SUBJECT,
)
_GROUP_CHANGE: Labels = (
    ("Member", "MemberName"),
    ("MemberSID", "MemberSid"),
    ("TgtGrp", "TargetUserName"),
    *_SUBJECT,
)
_OBJECT: Labels = (
    ("ObjName", "ObjectName"),
    ("ObjType", "ObjectType"),
    ("Access", "AccessList"),
    ("Proc", "ProcessName"),
    *_SUBJECT,
)

_SECURITY_KINDS: dict[int, Labels] = {
    1102: (("User", "SubjectUserName"), ("Domain", "SubjectDomainName")),
    4616: (
        ("PrevTime", "PreviousTime"),
        ("NewTime", "NewTime"),
        ("Proc", "ProcessName"),
        *_SUBJECT,
    ),
    4624: (
        ("Type", "LogonType"),
        ("TgtUser", "TargetUserName"),
        ("TgtDomain", "TargetDomainName"),
        ("SrcComp", "WorkstationName"),
        ("SrcIP", "IpAddress"),
        ("AuthPkg", "AuthenticationPackageName"),
        ("Proc", "ProcessName"),
        ("LID", "TargetLogonId"),
    ),
    4625: (
        ("Type", "LogonType"),
        ("TgtUser", "TargetUserName"),
        ("TgtDomain", "TargetDomainName"),
        ("SrcComp", "WorkstationName"),
        ("SrcIP", "IpAddress"),
        ("Reason", "FailureReason"),
        ("Status", "Status"),
        ("SubStatus", "SubStatus"),
        ("AuthPkg", "AuthenticationPackageName"),
        ("Proc", "ProcessName"),
    ),
    4648: (
        ("TgtUser", "TargetUserName"),
        ("TgtSvr", "TargetServerName"),
        ("SrcUser", "SubjectUserName"),
        ("SrcIP", "IpAddress"),
        ("Proc", "ProcessName"),
        ("LID", "SubjectLogonId"),
    ),
    4656: _OBJECT,
    4661: _OBJECT,
    4662: (
        ("ObjName", "ObjectName"),
        ("ObjType", "ObjectType"),
        ("OpType", "OperationType"),
        ("Access", "AccessList"),
        ("Props", "Properties"),
        *_SUBJECT,
    ),
    4663: _OBJECT,
    4672: (("TgtUser", "SubjectUserName"), ("Privs", "PrivilegeList"), ("LID", "SubjectLogonId")),
    4674: (
        ("ObjName", "ObjectName"),
        ("Privs", "PrivilegeList"),
        ("Proc", "ProcessName"),
        *_SUBJECT,
    ),
    4688: (
        ("Cmdline", "CommandLine"),
        ("Proc", "NewProcessName"),
        ("PID", "NewProcessId"),
        ("ParentProc", "ParentProcessName"),
        ("User", "SubjectUserName"),
        ("TgtUser", "TargetUserName"),
        ("Elevation", "TokenElevationType"),
        ("LID", "SubjectLogonId"),
    ),
    4697: (
        ("Svc", "ServiceName"),
        ("Path", "ServiceFileName"),
        ("Acct", "ServiceAccount"),
        ("StartType", "ServiceStartType"),
        *_SUBJECT,
    ),
    4698: (("Name", "TaskName"), ("Content", "TaskContent"), *_SUBJECT),
    4699: (("Name", "TaskName"), *_SUBJECT),
    4702: (("Name", "TaskName"), ("Content", "TaskContentNew"), *_SUBJECT),
    4706: (("Domain", "DomainName"), ("DomainSID", "DomainSid"), *_SUBJECT),
    4719: (
        ("Category", "CategoryId"),
        ("Subcategory", "SubcategoryId"),
        ("Changes", "AuditPolicyChanges"),
        *_SUBJECT,
    ),
    4720: _ACCOUNT_CHANGE,
    4722: _ACCOUNT_CHANGE,
    4724: _ACCOUNT_CHANGE,
    4725: _ACCOUNT_CHANGE,
    4726: _ACCOUNT_CHANGE,
    4728: _GROUP_CHANGE,
    4729: _GROUP_CHANGE,
    4732: _GROUP_CHANGE,
    4733: _GROUP_CHANGE,
    4738: _ACCOUNT_CHANGE,
    4741: (("Computer", "TargetUserName"), ("DnsName", "DnsHostName"), *_ACCOUNT_CHANGE[1:]),
    4742: (
        ("Computer", "TargetUserName"),
        ("SPN", "ServicePrincipalNames"),
        ("UAC", "UserAccountControl"),
        *_SUBJECT,
    ),
    4743: (("Computer", "TargetUserName"), *_SUBJECT),
    4756: _GROUP_CHANGE,
    4765: (
        ("TgtUser", "TargetUserName"),
        ("SrcUser", "SourceUserName"),
        ("SidHistory", "SidList"),
        *_SUBJECT,
    ),
    4768: (
        ("TgtUser", "TargetUserName"),
        ("Svc", "ServiceName"),
        ("SrcIP", "IpAddress"),
        ("Status", "Status"),
        ("PreAuthType", "PreAuthType"),
        ("EncType", "TicketEncryptionType"),
    ),
    4769: (
        ("TgtUser", "TargetUserName"),
        ("Svc", "ServiceName"),
        ("SrcIP", "IpAddress"),
        ("Status", "Status"),
        ("EncType", "TicketEncryptionType"),
    ),
    4771: (
        ("TgtUser", "TargetUserName"),
        ("Svc", "ServiceName"),
        ("SrcIP", "IpAddress"),
        ("Status", "Status"),
    ),
    4776: (("TgtUser", "TargetUserName"), ("SrcComp", "Workstation"), ("Status", "Status")),
    4781: (
        ("OldTgtUser", "OldTargetUserName"),
        ("NewTgtUser", "NewTargetUserName"),
        *_SUBJECT,
    ),
    4794: (("SrcComp", "Workstation"), ("Status", "Status"), *_SUBJECT),
    4825: (("User", "AccountName"), ("Domain", "AccountDomain"), ("SrcIP", "ClientAddress")),
    5136: (
        ("ObjDN", "ObjectDN"),
        ("Attr", "AttributeLDAPDisplayName"),
        ("Value", "AttributeValue"),
        ("OpType", "OperationType"),
        *_SUBJECT,
    ),
    5140: (
        ("ShareName", "ShareName"),
        ("SharePath", "ShareLocalPath"),
        ("SrcIP", "IpAddress"),
        ("SrcUser", "SubjectUserName"),
        ("LID", "SubjectLogonId"),
    ),
    5145: (
        ("ShareName", "ShareName"),
        ("SharePath", "ShareLocalPath"),
        ("Path", "RelativeTargetName"),
        ("Access", "AccessList"),
        ("SrcIP", "IpAddress"),
        ("SrcUser", "SubjectUserName"),
        ("LID", "SubjectLogonId"),
    ),
    5156: (
        ("Proc", "Application"),
        ("SrcIP", "SourceAddress"),
        ("SrcPort", "SourcePort"),
        ("TgtIP", "DestAddress"),
        ("TgtPort", "DestPort"),
        ("Proto", "Protocol"),
    ),
}

_PROC: Labels = (("Proc", "Image"), ("PID", "ProcessId"), ("PGUID", "ProcessGuid"))
_SYSMON_KINDS: dict[int, Labels] = {
    1: (
        ("Cmdline", "CommandLine"),
        ("Proc", "Image"),
        ("User", "User"),
        ("ParentCmdline", "ParentCommandLine"),
        ("ParentProc", "ParentImage"),
        ("Integrity", "IntegrityLevel"),
        ("LID", "LogonId"),
        ("PID", "ProcessId"),
        ("PGUID", "ProcessGuid"),
        ("Hashes", "Hashes"),
    ),
    2: (("Path", "TargetFilename"), ("CreationTime", "CreationUtcTime"), *_PROC),
    3: (
        ("Proto", "Protocol"),
        ("SrcIP", "SourceIp"),
        ("SrcPort", "SourcePort"),
        ("SrcHost", "SourceHostname"),
        ("TgtIP", "DestinationIp"),
        ("TgtPort", "DestinationPort"),
        ("TgtHost", "DestinationHostname"),
        ("User", "User"),
        *_PROC,
    ),
    5: _PROC,
    6: (("Path", "ImageLoaded"), ("Sig", "Signature"), ("Signed", "Signed")),
    7: (
        ("Image", "ImageLoaded"),
        ("Signed", "Signed"),
        ("Sig", "Signature"),
        ("Hashes", "Hashes"),
        *_PROC,
    ),
    8: (
        ("SrcProc", "SourceImage"),
        ("TgtProc", "TargetImage"),
        ("StartAddr", "StartAddress"),
        ("SrcPID", "SourceProcessId"),
        ("TgtPID", "TargetProcessId"),
    ),
    9: (("Device", "Device"), *_PROC),
    10: (
        ("SrcProc", "SourceImage"),
        ("TgtProc", "TargetImage"),
        ("Access", "GrantedAccess"),
        ("SrcPID", "SourceProcessId"),
        ("TgtPID", "TargetProcessId"),
    ),
    11: (("Path", "TargetFilename"), *_PROC),
    12: (("EventType", "EventType"), ("TgtObj", "TargetObject"), *_PROC),
    13: (("EventType", "EventType"), ("TgtObj", "TargetObject"), ("Value", "Details"), *_PROC),
    14: (("EventType", "EventType"), ("TgtObj", "TargetObject"), ("NewName", "NewName"), *_PROC),
    15: (("Path", "TargetFilename"), ("Hash", "Hash"), *_PROC),
    17: (("Pipe", "PipeName"), *_PROC),
    18: (("Pipe", "PipeName"), *_PROC),
    19: (("Op", "Operation"), ("Name", "Name"), ("Query", "Query"), ("User", "User")),
    20: (("Op", "Operation"), ("Name", "Name"), ("Type", "Type"), ("Tgt", "Destination")),
    21: (("Op", "Operation"), ("Consumer", "Consumer"), ("Filter", "Filter")),
    22: (("Query", "QueryName"), ("Result", "QueryResults"), *_PROC),
    23: (("Path", "TargetFilename"), ("User", "User"), *_PROC),
    25: (("Type", "Type"), *_PROC),
    26: (("Path", "TargetFilename"), ("User", "User"), *_PROC),
}

_OTHER_KINDS: dict[tuple[str, int], Labels] = {
    (_SYSTEM, 104): (
        ("Log", "UserData.LogFileCleared.Channel"),
        ("User", "SubjectUserName"),
        ("Domain", "SubjectDomainName"),
    ),
    (_SYSTEM, 7036): (("Svc", "param1"), ("State", "param2")),
    (_SYSTEM, 7040): (("Svc", "param1"), ("OldStart", "param2"), ("NewStart", "param3")),
    (_SYSTEM, 7045): (
        ("Svc", "ServiceName"),
        ("Path", "ImagePath"),
        ("Acct", "AccountName"),
        ("StartType", "StartType"),
    ),
    (_DEFENDER, 1116): (
        ("Threat", "Threat Name"),
        ("Severity", "Severity Name"),
        ("Type", "Category Name"),
        ("User", "Detection User"),
        ("Path", "Path"),
        ("Proc", "Process Name"),
    ),
    (_DEFENDER, 1117): (
        ("Threat", "Threat Name"),
        ("Action", "Action Name"),
        ("User", "Detection User"),
        ("Path", "Path"),
    ),
    (_DEFENDER, 5007): (("Old", "Old Value"), ("New", "New Value")),
    (_FIREWALL, 2003): (
        ("Profile", "Profiles"),
        ("Setting", "SettingType"),
        ("Value", "SettingValueString"),
        ("User", "ModifyingUser"),
        ("App", "ModifyingApplication"),
    ),
    (_FIREWALL, 2004): (
        ("RuleName", "RuleName"),
        ("App", "ApplicationPath"),
        ("Action", "Action"),
        ("Direction", "Direction"),
        ("LocalPort", "LocalPorts"),
        ("RemoteAddr", "RemoteAddresses"),
        ("User", "ModifyingUser"),
    ),
    ("microsoft-windows-bits-client/operational", 3): (
        ("JobTitle", "jobTitle"),
        ("JobOwner", "jobOwner"),
        ("Proc", "processPath"),
        ("PID", "processId"),
    ),
    ("microsoft-windows-taskscheduler/operational", 106): (
        ("Name", "TaskName"),
        ("User", "UserContext"),
    ),
    ("microsoft-windows-taskscheduler/operational", 141): (
        ("Name", "TaskName"),
        ("User", "UserName"),
    ),
}
for _ps in _POWERSHELL:
    _OTHER_KINDS[(_ps, 4103)] = (("Payload", "Payload"), ("Context", "ContextInfo"))
    _OTHER_KINDS[(_ps, 4104)] = (("ScriptBlock", "ScriptBlockText"), ("Path", "Path"))
_OTHER_KINDS[("windows powershell", 400)] = (("Data", "Data"),)
_OTHER_KINDS[("windows powershell", 800)] = (("Data", "Data"),)

# Events of the text readers (firewalls, Zeek, syslog) are told apart by the fields they carry.
_NETWORK: Labels = (
    ("Action", "action"),
    ("Proto", "proto"),
    ("SrcIP", "src_ip"),
    ("SrcPort", "src_port"),
    ("TgtIP", "dst_ip"),
    ("TgtPort", "dst_port"),
    ("BytesOut", "bytes_out"),
    ("BytesIn", "bytes_in"),
)
_SYSLOG: Labels = (("Host", "host"), ("Program", "program"), ("PID", "pid"), ("Message", "message"))


def _event_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdecimal() and len(value) < 10:
        return int(value)
    return None


def kind_labels(fields: Mapping[str, Any]) -> Labels | None:
    """The curated Details fields for this event's kind, or None when it has no entry."""
    channel = fields.get("Channel")
    eid = _event_id(fields.get("EventID"))
    if isinstance(channel, str) and eid is not None:
        folded = channel.lower()
        if folded == _SECURITY:
            return _SECURITY_KINDS.get(eid)
        if folded == _SYSMON:
            return _SYSMON_KINDS.get(eid)
        return _OTHER_KINDS.get((folded, eid))
    if "src_ip" in fields or "dst_ip" in fields:
        return _NETWORK
    if "program" in fields and "message" in fields:
        return _SYSLOG
    return None


# Security fields whose text is written by a user or a program, where ``%%1842`` is text (a
# batch file's loop variable), never a message code.
_FREE_TEXT = frozenset({"CommandLine", "ParentCommandLine", "TaskContent", "TaskContentNew"})


def value_text(value: Any, codes: bool = False) -> str:
    """A field value as one line of readable text: line breaks folded, and with ``codes`` the
    ``%%NNNN`` message codes rendered as words."""
    text = field_text(value)
    return _LINE_BREAKS.sub(" ", render_codes(text) if codes else text)


def _codes(fields: Mapping[str, Any]) -> bool:
    """Whether the event's ``%%NNNN`` are ``msobjs.dll`` codes: those of the Security log
    (other providers' codes point into their own message files)."""
    channel = fields.get("Channel")
    return isinstance(channel, str) and channel.lower() == _SECURITY


def _texts(
    fields: Mapping[str, Any], pairs: Iterable[tuple[str, str]]
) -> Iterable[tuple[str, str]]:
    """(label, field name) pairs as (label, text of the field's value)."""
    codes = _codes(fields)
    return (
        (label, value_text(fields[name], codes and name not in _FREE_TEXT)) for label, name in pairs
    )


def _join(pairs: Iterable[tuple[str, Any]]) -> str:
    text = DETAILS_SEPARATOR.join(
        f"{name}: {value if isinstance(value, str) else value_text(value)}" for name, value in pairs
    )
    return text or EMPTY


def _present(fields: Mapping[str, Any], name: str) -> bool:
    return fields.get(name) not in (None, "")


def _shown(fields: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """Every field but the System header, as (name, name) for ``_texts``."""
    return ((k, k) for k, v in fields.items() if k not in SYSTEM_FIELDS and v not in (None, ""))


def _engine_notes(det: Detection) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in det.details.items() if k != "suppressed"]


def details(det: Detection, limit: int | None = None) -> str:
    """The Details column: the fields that matter for the event's kind, or a correlation's
    count and group, then whatever the engine noted (e.g. an incomplete window)."""
    ev = det.event
    pairs: list[tuple[str, Any]] = []
    if ev is None:
        if det.value is not None:
            pairs.append(("Count", f"{det.value:g}"))
        pairs.extend(det.group.items())
        pairs.append(("Events", len(det.events)))
    else:
        labels = kind_labels(ev.fields)
        if labels is None:
            pairs.extend(_texts(ev.fields, _shown(ev.fields)))
        else:
            present = ((label, name) for label, name in labels if _present(ev.fields, name))
            pairs.extend(_texts(ev.fields, present))
    pairs.extend(_engine_notes(det))
    return _cut(_join(pairs), limit)


def extra_field_info(det: Detection, limit: int | None = None) -> str:
    """The ExtraFieldInfo column: the event's fields that Details does not show."""
    ev = det.event
    if ev is None:
        return EMPTY
    labels = kind_labels(ev.fields)
    if labels is None:
        return EMPTY  # Details already shows every field
    used = {name for _, name in labels}
    rest = ((k, k) for k, _ in _shown(ev.fields) if k not in used)
    return _cut(_join(_texts(ev.fields, rest)), limit)


def all_field_info(det: Detection, limit: int | None = None) -> str:
    """The AllFieldInfo column: every field of the event (of the first one, for a correlation)
    under its own name, the System header left out."""
    ev = det.event if det.event is not None else (det.events[0] if det.events else None)
    if ev is None:
        return _join(det.group.items())
    return event_field_info(ev.fields, limit)


def event_field_info(fields: Mapping[str, Any], limit: int | None = None) -> str:
    """Every field of an event under its own name, the System header left out (what
    ``sentinelle search`` shows of the events it finds)."""
    return _cut(_join(_texts(fields, _shown(fields))), limit)


def _cut(text: str, limit: int | None) -> str:
    if limit is not None and len(text) > limit:
        return text[: max(limit - 1, 0)] + "…"
    return text
