"""Windows events as EVTX-JSON documents (the shape ``evtx`` renders a record in).

Each builder returns the ``{"Event": {"System": ..., "EventData": ...}}`` document of one record,
with the field names and types Windows itself writes (Security auditing, the Service Control
Manager, Sysmon), so the readers flatten them exactly as they would a real export. The record id
is left at 0: the sink numbers records per file in time order when it writes them, as a real log
does.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from sentinelle.scenarios.topology import Host

SECURITY = "Security"
SYSTEM = "System"
SYSMON = "Microsoft-Windows-Sysmon/Operational"

_XMLNS = {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"}
_SECURITY_PROVIDER = ("Microsoft-Windows-Security-Auditing", "54849625-5478-4994-A5BA-3E3B0328C30D")
_SYSMON_PROVIDER = ("Microsoft-Windows-Sysmon", "5770385F-C22A-43E0-BF4C-06F5698FFBD9")
_SCM_PROVIDER = ("Service Control Manager", "555908D1-A6D7-4695-8E1E-26931D2012F4")

# Task (category) numbers Windows writes for each Security event id.
_SECURITY_TASK = {4624: 12544, 4625: 12544, 4634: 12545, 4648: 12544, 4672: 12548, 4688: 13312}
_SECURITY_TASK_SERVICE = 12289  # 4697, "Security System Extension"
_AUDIT_SUCCESS = "0x8020000000000000"
_AUDIT_FAILURE = "0x8010000000000000"
# Sysmon writes the event id as the task, and each event its own schema version.
_SYSMON_VERSION = {1: 5, 3: 5, 10: 3, 11: 2, 13: 2}

LOCAL_SYSTEM_SID = "S-1-5-18"


def system_time(ts: float) -> str:
    """``TimeCreated/SystemTime`` as Windows renders it (microseconds, ``Z``)."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sysmon_utc(ts: float) -> str:
    """Sysmon's own ``UtcTime`` field (milliseconds, space separator, no zone)."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _document(
    *,
    ts: float,
    host: Host,
    channel: str,
    provider: tuple[str, str],
    event_id: int,
    version: int,
    level: int,
    task: int,
    keywords: str,
    process_id: int,
    thread_id: int,
    user_sid: str | None,
    data: dict[str, Any],
) -> dict[str, Any]:
    system: dict[str, Any] = {
        "Provider": {"#attributes": {"Name": provider[0], "Guid": provider[1]}},
        "EventID": event_id,
        "Version": version,
        "Level": level,
        "Task": task,
        "Opcode": 0,
        "Keywords": keywords,
        "TimeCreated": {"#attributes": {"SystemTime": system_time(ts)}},
        "EventRecordID": 0,
        "Correlation": None,
        "Execution": {"#attributes": {"ProcessID": process_id, "ThreadID": thread_id}},
        "Channel": channel,
        "Computer": host.fqdn,
        "Security": None if user_sid is None else {"#attributes": {"UserID": user_sid}},
    }
    return {"Event": {"#attributes": dict(_XMLNS), "System": system, "EventData": data}}


def _security(
    ts: float, host: Host, event_id: int, data: dict[str, Any], *, ok: bool = True
) -> Any:
    return _document(
        ts=ts,
        host=host,
        channel=SECURITY,
        provider=_SECURITY_PROVIDER,
        event_id=event_id,
        version=2 if event_id in (4624, 4688) else 0,
        level=0,
        task=_SECURITY_TASK.get(event_id, _SECURITY_TASK_SERVICE),
        keywords=_AUDIT_SUCCESS if ok else _AUDIT_FAILURE,
        process_id=host.lsass_pid,
        thread_id=host.lsass_pid + 52,
        user_sid=None,
        data=data,
    )


def _sysmon(ts: float, host: Host, event_id: int, data: dict[str, Any]) -> Any:
    return _document(
        ts=ts,
        host=host,
        channel=SYSMON,
        provider=_SYSMON_PROVIDER,
        event_id=event_id,
        version=_SYSMON_VERSION[event_id],
        level=4,
        task=event_id,
        keywords="0x8000000000000000",
        process_id=host.sysmon_pid,
        thread_id=host.sysmon_pid + 8,
        user_sid=LOCAL_SYSTEM_SID,
        data=data,
    )


def guid(rng: random.Random) -> str:
    """A GUID in the upper-case form Windows prints inside braces."""
    h = f"{rng.getrandbits(128):032X}"
    return f"{{{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}}}"


def logon_id(rng: random.Random) -> str:
    return f"0x{rng.randrange(0x10000, 0xFFFFFFF):x}"


class Process:
    """A running process as Sysmon and 4688 describe it: what later events refer back to."""

    __slots__ = ("command_line", "guid", "image", "logon_id", "pid", "user")

    def __init__(
        self, image: str, command_line: str, pid: int, guid: str, user: str, logon_id: str
    ) -> None:
        self.image = image
        self.command_line = command_line
        self.pid = pid
        self.guid = guid
        self.user = user  # DOMAIN\name
        self.logon_id = logon_id


def new_process(
    rng: random.Random, image: str, command_line: str, user: str, session_logon_id: str
) -> Process:
    return Process(
        image, command_line, rng.randrange(1000, 20000, 4), guid(rng), user, session_logon_id
    )


def _split_user(user: str) -> tuple[str, str]:
    domain, _, name = user.rpartition("\\")
    return domain, name


# The subject of an event when no account acted (a network logon before it is authenticated).
_NOBODY = ("S-1-0-0", "-", "-", "0x0")


def _account(role: str, sid: str, domain: str, name: str, logon_id: str) -> dict[str, str]:
    """The four fields naming an event's ``Subject`` or ``Target`` account, in Windows' order."""
    return {
        f"{role}UserSid": sid,
        f"{role}UserName": name,
        f"{role}DomainName": domain,
        f"{role}LogonId": logon_id,
    }


def logon(
    ts: float,
    host: Host,
    *,
    user: str,
    user_sid: str,
    logon_type: int,
    ip: str = "-",
    port: str = "-",
    workstation: str = "-",
    target_logon_id: str,
    package: str = "Negotiate",
    elevated: bool = False,
) -> Any:
    """4624: an account logged on (logon types 2 interactive, 3 network, 7 unlock, 10 RDP...)."""
    domain, name = _split_user(user)
    via_lsa = logon_type in (2, 7, 10, 11)
    data = {
        **(
            _account("Subject", LOCAL_SYSTEM_SID, host.domain, f"{host.name}$", "0x3e7")
            if via_lsa
            else _account("Subject", *_NOBODY)
        ),
        **_account("Target", user_sid, domain, name, target_logon_id),
        "LogonType": logon_type,
        "LogonProcessName": "User32 " if via_lsa else "NtLmSsp ",
        "AuthenticationPackageName": package,
        "WorkstationName": workstation,
        "LogonGuid": "{00000000-0000-0000-0000-000000000000}",
        "TransmittedServices": "-",
        "LmPackageName": "NTLM V2" if package == "NTLM" else "-",
        "KeyLength": 128 if package == "NTLM" else 0,
        "ProcessId": f"0x{host.winlogon_pid:x}" if via_lsa else "0x0",
        "ProcessName": "C:\\Windows\\System32\\svchost.exe" if via_lsa else "-",
        "IpAddress": ip,
        "IpPort": port,
        "ImpersonationLevel": "%%1833",
        "RestrictedAdminMode": "%%1843" if logon_type == 10 else "-",
        "TargetOutboundUserName": "-",
        "TargetOutboundDomainName": "-",
        "VirtualAccount": "%%1843",
        "TargetLinkedLogonId": "0x0",
        "ElevatedToken": "%%1842" if elevated else "%%1843",
    }
    return _security(ts, host, 4624, data)


# NTSTATUS codes of 4625: bad password, unknown user, locked out.
STATUS_BAD_PASSWORD = "0xc000006a"  # noqa: S105 (an NTSTATUS code, not a password)
STATUS_NO_SUCH_USER = "0xc0000064"
STATUS_LOGON_FAILURE = "0xc000006d"


def logon_failure(
    ts: float,
    host: Host,
    *,
    user: str,
    logon_type: int,
    ip: str = "-",
    port: str = "-",
    workstation: str = "-",
    sub_status: str = STATUS_BAD_PASSWORD,
) -> Any:
    """4625: an account failed to log on."""
    domain, name = _split_user(user)
    data = {
        **_account("Subject", *_NOBODY),
        "TargetUserSid": "S-1-0-0",
        "TargetUserName": name,
        "TargetDomainName": domain,
        "Status": STATUS_LOGON_FAILURE,
        "FailureReason": "%%2313",
        "SubStatus": sub_status,
        "LogonType": logon_type,
        "LogonProcessName": "NtLmSsp ",
        "AuthenticationPackageName": "NTLM",
        "WorkstationName": workstation,
        "TransmittedServices": "-",
        "LmPackageName": "-",
        "KeyLength": 0,
        "ProcessId": "0x0",
        "ProcessName": "-",
        "IpAddress": ip,
        "IpPort": port,
    }
    return _security(ts, host, 4625, data, ok=False)


def logoff(
    ts: float, host: Host, *, user: str, user_sid: str, target_logon_id: str, logon_type: int
) -> Any:
    """4634: a logon session ended."""
    domain, name = _split_user(user)
    data = {
        **_account("Target", user_sid, domain, name, target_logon_id),
        "LogonType": logon_type,
    }
    return _security(ts, host, 4634, data)


def special_privileges(
    ts: float, host: Host, *, user: str, user_sid: str, target_logon_id: str
) -> Any:
    """4672: administrator-equivalent privileges assigned to a new logon."""
    domain, name = _split_user(user)
    data = {
        **_account("Subject", user_sid, domain, name, target_logon_id),
        "PrivilegeList": "SeSecurityPrivilege\r\n\t\t\tSeBackupPrivilege\r\n\t\t\t"
        "SeRestorePrivilege\r\n\t\t\tSeDebugPrivilege\r\n\t\t\tSeImpersonatePrivilege",
    }
    return _security(ts, host, 4672, data)


def process_creation_4688(
    ts: float, host: Host, proc: Process, parent: Process, user_sid: str
) -> Any:
    """4688 with command-line auditing on: the hosts without Sysmon still show processes."""
    domain, name = _split_user(proc.user)
    data = {
        **_account("Subject", user_sid, domain, name, proc.logon_id),
        "NewProcessId": f"0x{proc.pid:x}",
        "NewProcessName": proc.image,
        "TokenElevationType": "%%1936",
        "ProcessId": f"0x{parent.pid:x}",
        "CommandLine": proc.command_line,
        **_account("Target", *_NOBODY),
        "ParentProcessName": parent.image,
        "MandatoryLabel": "S-1-16-12288",
    }
    return _security(ts, host, 4688, data)


def service_installed_7045(ts: float, host: Host, *, name: str, path: str, user_sid: str) -> Any:
    """System 7045: the Service Control Manager installed a service."""
    data = {
        "ServiceName": name,
        "ImagePath": path,
        "ServiceType": "user mode service",
        "StartType": "demand start",
        "AccountName": "LocalSystem",
    }
    return _document(
        ts=ts,
        host=host,
        channel=SYSTEM,
        provider=_SCM_PROVIDER,
        event_id=7045,
        version=0,
        level=4,
        task=0,
        keywords="0x8080000000000000",
        process_id=host.services_pid,
        thread_id=host.services_pid + 4,
        user_sid=user_sid,
        data=data,
    )


def sysmon_process(ts: float, host: Host, proc: Process, parent: Process, *, integrity: str) -> Any:
    """Sysmon 1: process creation with its parent."""
    data = {
        "RuleName": "-",
        "UtcTime": sysmon_utc(ts),
        "ProcessGuid": proc.guid,
        "ProcessId": proc.pid,
        "Image": proc.image,
        "FileVersion": "-",
        "Description": "-",
        "Product": "-",
        "Company": "-",
        "OriginalFileName": proc.image.rsplit("\\", 1)[-1],
        "CommandLine": proc.command_line,
        "CurrentDirectory": "C:\\Windows\\system32\\",
        "User": proc.user,
        "LogonGuid": "{00000000-0000-0000-0000-000000000000}",
        "LogonId": proc.logon_id,
        "TerminalSessionId": 0 if proc.logon_id == "0x3e7" else 1,
        "IntegrityLevel": integrity,
        "Hashes": "-",
        "ParentProcessGuid": parent.guid,
        "ParentProcessId": parent.pid,
        "ParentImage": parent.image,
        "ParentCommandLine": parent.command_line,
        "ParentUser": parent.user,
    }
    return _sysmon(ts, host, 1, data)


def sysmon_network(
    ts: float,
    host: Host,
    proc: Process,
    *,
    src_port: int,
    dst_ip: str,
    dst_port: int,
    protocol: str = "tcp",
) -> Any:
    """Sysmon 3: an outbound network connection."""
    data = {
        "RuleName": "-",
        "UtcTime": sysmon_utc(ts),
        "ProcessGuid": proc.guid,
        "ProcessId": proc.pid,
        "Image": proc.image,
        "User": proc.user,
        "Protocol": protocol,
        "Initiated": True,
        "SourceIsIpv6": False,
        "SourceIp": host.ip,
        "SourceHostname": host.fqdn,
        "SourcePort": src_port,
        "SourcePortName": "-",
        "DestinationIsIpv6": False,
        "DestinationIp": dst_ip,
        "DestinationHostname": "-",
        "DestinationPort": dst_port,
        "DestinationPortName": "-",
    }
    return _sysmon(ts, host, 3, data)


def sysmon_process_access(
    ts: float, host: Host, source: Process, target: Process, *, access: str, call_trace: str
) -> Any:
    """Sysmon 10: one process opened another (how credential dumpers reach lsass)."""
    data = {
        "RuleName": "-",
        "UtcTime": sysmon_utc(ts),
        "SourceProcessGUID": source.guid,
        "SourceProcessId": source.pid,
        "SourceThreadId": source.pid + 12,
        "SourceImage": source.image,
        "TargetProcessGUID": target.guid,
        "TargetProcessId": target.pid,
        "TargetImage": target.image,
        "GrantedAccess": access,
        "CallTrace": call_trace,
        "SourceUser": source.user,
        "TargetUser": target.user,
    }
    return _sysmon(ts, host, 10, data)


def sysmon_file_create(ts: float, host: Host, proc: Process, path: str) -> Any:
    """Sysmon 11: a file was created or overwritten."""
    data = {
        "RuleName": "-",
        "UtcTime": sysmon_utc(ts),
        "ProcessGuid": proc.guid,
        "ProcessId": proc.pid,
        "Image": proc.image,
        "TargetFilename": path,
        "CreationUtcTime": sysmon_utc(ts),
        "User": proc.user,
    }
    return _sysmon(ts, host, 11, data)


def sysmon_registry_set(ts: float, host: Host, proc: Process, key: str, details: str) -> Any:
    """Sysmon 13: a registry value was set."""
    data = {
        "RuleName": "-",
        "EventType": "SetValue",
        "UtcTime": sysmon_utc(ts),
        "ProcessGuid": proc.guid,
        "ProcessId": proc.pid,
        "Image": proc.image,
        "TargetObject": key,
        "Details": details,
        "User": proc.user,
    }
    return _sysmon(ts, host, 13, data)
