"""Who logged on where, how and from where, and who failed: Windows Security 4624 and 4625.

Rows are grouped by result, account, computer, logon type, source workstation and address,
with a count and the first and last time, as Hayabusa's logon summary groups them, plus the
reason a failed logon gives (its ``SubStatus``, else ``Status``). At most ``MAX_ROWS`` groups
are kept; past it new groups are counted in ``overflow``, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sentinelle.events import Event

SUCCESS, FAILURE = 4624, 4625
MAX_ROWS = 200_000

LOGON_TYPES = {
    "0": "System",
    "2": "Interactive",
    "3": "Network",
    "4": "Batch",
    "5": "Service",
    "7": "Unlock",
    "8": "NetworkCleartext",
    "9": "NewCredentials",
    "10": "RemoteInteractive",
    "11": "CachedInteractive",
    "12": "CachedRemoteInteractive",
    "13": "CachedUnlock",
}
# NTSTATUS codes of 4625 (Microsoft's documentation of event 4625).
FAILURE_REASONS = {
    "0xc000005e": "no logon servers",
    "0xc0000064": "unknown user name",
    "0xc000006a": "bad password",
    "0xc000006d": "bad user name or password",
    "0xc000006e": "account restriction",
    "0xc000006f": "outside authorized hours",
    "0xc0000070": "workstation restriction",
    "0xc0000071": "password expired",
    "0xc0000072": "account disabled",
    "0xc00000dc": "server in the wrong state",
    "0xc0000133": "clocks out of sync",
    "0xc000015b": "logon type not granted",
    "0xc000018c": "trust relationship failed",
    "0xc0000192": "Netlogon service not started",
    "0xc0000193": "account expired",
    "0xc0000224": "password must change",
    "0xc0000225": "Windows bug (not a risk)",
    "0xc0000234": "account locked out",
    "0xc00002ee": "error during logon",
    "0xc0000413": "authentication firewall",
}


@dataclass(frozen=True, slots=True)
class LogonKey:
    result: str  # "success" or "failure"
    account: str  # DOMAIN\user
    computer: str
    logon_type: str  # "3 Network"
    workstation: str
    address: str
    reason: str  # failures only


@dataclass(slots=True)
class LogonRow:
    count: int = 0
    first: float | None = None
    last: float | None = None


@dataclass(slots=True)
class LogonSummary:
    rows: dict[LogonKey, LogonRow] = field(default_factory=dict)
    successes: int = 0
    failures: int = 0
    overflow: int = 0  # logons of groups past MAX_ROWS, counted only

    def add(self, event: Event) -> None:
        fields = event.fields
        if fields.get("Channel") != "Security":
            return
        eid = fields.get("EventID")
        if eid not in (SUCCESS, FAILURE) and str(eid) not in ("4624", "4625"):
            return
        success = str(eid) == "4624"
        if success:
            self.successes += 1
        else:
            self.failures += 1
        key = LogonKey(
            result="success" if success else "failure",
            account=_account(fields),
            computer=_text(fields.get("Computer")),
            logon_type=_logon_type(fields.get("LogonType")),
            workstation=_text(fields.get("WorkstationName")),
            address=_text(fields.get("IpAddress")),
            reason="" if success else _reason(fields),
        )
        row = self.rows.get(key)
        if row is None:
            if len(self.rows) >= MAX_ROWS:
                self.overflow += 1
                return
            row = self.rows[key] = LogonRow()
        row.count += 1
        ts = event.timestamp
        if ts is not None:
            row.first = ts if row.first is None else min(row.first, ts)
            row.last = ts if row.last is None else max(row.last, ts)

    def sorted_rows(self, result: str) -> list[tuple[LogonKey, LogonRow]]:
        """The groups of one result, most frequent first (then by account, for a stable order)."""
        rows = [(k, r) for k, r in self.rows.items() if k.result == result]
        rows.sort(key=lambda kr: (-kr[1].count, kr[0].account, kr[0].computer, kr[0].address))
        return rows


def _text(value: Any) -> str:
    if value is None or value in ("", "-"):
        return "-"
    return str(value)


def _account(fields: Mapping[str, Any]) -> str:
    user = _text(fields.get("TargetUserName"))
    domain = fields.get("TargetDomainName")
    return f"{domain}\\{user}" if isinstance(domain, str) and domain not in ("", "-") else user


def _logon_type(value: Any) -> str:
    text = _text(value).strip()
    name = LOGON_TYPES.get(text)
    return f"{text} {name}" if name else text


def _reason(fields: Mapping[str, Any]) -> str:
    for name in ("SubStatus", "Status"):
        code = fields.get(name)
        if isinstance(code, str) and code.lower() not in ("", "-", "0x0"):
            return FAILURE_REASONS.get(code.lower(), code)
    return "-"
