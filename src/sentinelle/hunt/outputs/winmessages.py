"""Windows ``%%NNNN`` insertion codes rendered as the words Event Viewer shows.

The Security log writes many values as references into the message table of ``msobjs.dll``
(``ImpersonationLevel: %%1833``, ``AccessList: %%1538 %%1541``) and leaves the lookup to the
viewer. A timeline read by a person wants the words, so the text columns (Details,
ExtraFieldInfo, AllFieldInfo, the Timesketch message) render the codes they know; the JSON
outputs keep the values exactly as the log wrote them.

The strings are those of the Windows 10 / Server 2019+ ``msobjs.dll`` message table (the codes
here are decimal, as the log writes them; the table lists them in hexadecimal). Only the
ranges met in Security logs are kept: access rights, audit values, token and logon values,
user-account-control flags, logon failure reasons, audit categories and subcategories, and
the Filtering Platform values. A code missing from the table is left as it is.
"""

from __future__ import annotations

import re

_ACCESS = {
    1537: "DELETE",
    1538: "READ_CONTROL",
    1539: "WRITE_DAC",
    1540: "WRITE_OWNER",
    1541: "SYNCHRONIZE",
    1542: "ACCESS_SYS_SEC",
    1543: "MAX_ALLOWED",
    # File and pipe access (0x1140...)
    4416: "ReadData (or ListDirectory)",
    4417: "WriteData (or AddFile)",
    4418: "AppendData (or AddSubdirectory or CreatePipeInstance)",
    4419: "ReadEA",
    4420: "WriteEA",
    4421: "Execute/Traverse",
    4422: "DeleteChild",
    4423: "ReadAttributes",
    4424: "WriteAttributes",
    # Registry keys (0x1150...)
    4432: "Query key value",
    4433: "Set key value",
    4434: "Create sub-key",
    4435: "Enumerate sub-keys",
    4436: "Notify about changes to keys",
    4437: "Create Link",
    # Processes (0x1180...)
    4480: "Force process termination",
    4481: "Create new thread in process",
    4482: "Set process session ID",
    4483: "Perform virtual memory operation",
    4484: "Read from process memory",
    4485: "Write to process memory",
    4486: "Duplicate handle into or out of process",
    4487: "Create a subprocess of process",
    4488: "Set process quotas",
    4489: "Set process information",
    4490: "Query process information",
    4491: "Set process termination port",
    # Directory service objects (0x1e00...)
    7680: "Create Child",
    7681: "Delete Child",
    7682: "List Contents",
    7683: "Write Self",
    7684: "Read Property",
    7685: "Write Property",
    7686: "Delete Tree",
    7687: "List Object",
    7688: "Control Access",
}

_VALUES = {
    1792: "<value changed, but not displayed>",
    1793: "<value not set>",
    1794: "<never>",
    1795: "Enabled",
    1796: "Disabled",
    1797: "All",
    1798: "None",
    1801: "Granted by",
    1802: "Denied by",
    1803: "Denied by Integrity Policy check",
    1804: "Granted by Ownership",
    1805: "Not granted",
    1806: "Granted by NULL DACL",
    1807: "Denied by Empty DACL",
    1808: "Granted by NULL Security Descriptor",
    1809: "Unknown or unchecked",
    1810: "Not granted due to missing",
    1811: "Granted by ACE on parent folder",
    1812: "Denied by ACE on parent folder",
    1832: "Identification",
    1833: "Impersonation",
    1840: "Delegation",
    1841: "Denied by Process Trust Label ACE",
    1842: "Yes",
    1843: "No",
    1844: "System",
    1845: "Not Available",
    1846: "Default",
    1847: "DisallowMmConfig",
    1848: "Off",
    1849: "Auto",
    1936: "TokenElevationTypeDefault (1)",
    1937: "TokenElevationTypeFull (2)",
    1938: "TokenElevationTypeLimited (3)",
    2304: "An Error occured during Logon.",
    2305: "The specified user account has expired.",
    2306: "The NetLogon component is not active.",
    2307: "Account locked out.",
    2308: "The user has not been granted the requested logon type at this machine.",
    2309: "The specified account's password has expired.",
    2310: "Account currently disabled.",
    2311: "Account logon time restriction violation.",
    2312: "User not allowed to logon at this computer.",
    2313: "Unknown user name or bad password.",
    2314: "Domain sid inconsistent.",
    2315: "Smartcard logon is required and was not used.",
    # Audit policy categories (0x2050...) and changes (0x2100...)
    8272: "System",
    8273: "Logon/Logoff",
    8274: "Object Access",
    8275: "Privilege Use",
    8276: "Detailed Tracking",
    8277: "Policy Change",
    8278: "Account Management",
    8279: "DS Access",
    8280: "Account Logon",
    8448: "Success removed",
    8449: "Success Added",
    8450: "Failure removed",
    8451: "Failure added",
    # Directory service changes (0x3952...)
    14674: "Value Added",
    14675: "Value Deleted",
    14676: "Active Directory Domain Services",
    14677: "Active Directory Lightweight Directory Services",
    14678: "Yes",
    14679: "No",
    # Filtering Platform (0x4000...)
    16384: "Add",
    16385: "Delete",
    16386: "Boot-time",
    16387: "Persistent",
    16388: "Not persistent",
    16389: "Block",
    16390: "Permit",
    16391: "Callout",
}

# Audit subcategories (0x3000...), by category block.
_SUBCATEGORIES = (
    (
        12288,
        (
            "Security State Change",
            "Security System Extension",
            "System Integrity",
            "IPsec Driver",
            "Other System Events",
        ),
    ),
    (
        12544,
        (
            "Logon",
            "Logoff",
            "Account Lockout",
            "IPsec Main Mode",
            "Special Logon",
            "IPsec Quick Mode",
            "IPsec Extended Mode",
            "Other Logon/Logoff Events",
            "Network Policy Server",
            "User / Device Claims",
            "Group Membership",
        ),
    ),
    (
        12800,
        (
            "File System",
            "Registry",
            "Kernel Object",
            "SAM",
            "Other Object Access Events",
            "Certification Services",
            "Application Generated",
            "Handle Manipulation",
            "File Share",
            "Filtering Platform Packet Drop",
            "Filtering Platform Connection",
            "Detailed File Share",
            "Removable Storage",
            "Central Policy Staging",
        ),
    ),
    (
        13056,
        ("Sensitive Privilege Use", "Non Sensitive Privilege Use", "Other Privilege Use Events"),
    ),
    (
        13312,
        (
            "Process Creation",
            "Process Termination",
            "DPAPI Activity",
            "RPC Events",
            "Plug and Play Events",
            "Token Right Adjusted Events",
        ),
    ),
    (
        13568,
        (
            "Audit Policy Change",
            "Authentication Policy Change",
            "Authorization Policy Change",
            "MPSSVC Rule-Level Policy Change",
            "Filtering Platform Policy Change",
            "Other Policy Change Events",
        ),
    ),
    (
        13824,
        (
            "User Account Management",
            "Computer Account Management",
            "Security Group Management",
            "Distribution Group Management",
            "Application Group Management",
            "Other Account Management Events",
        ),
    ),
    (
        14080,
        (
            "Directory Service Access",
            "Directory Service Changes",
            "Directory Service Replication",
            "Detailed Directory Service Replication",
        ),
    ),
    (
        14336,
        (
            "Credential Validation",
            "Kerberos Service Ticket Operations",
            "Other Account Logon Events",
            "Kerberos Authentication Service",
        ),
    ),
)

# User account control flags (0x800...): bit n cleared is 2048 + n, set is 2080 + n.
_UAC_FLAGS = (
    "Account Disabled",
    "'Home Directory Required'",
    "'Password Not Required'",
    "'Temp Duplicate Account'",
    "'Normal Account'",
    "'MNS Logon Account'",
    "'Interdomain Trust Account'",
    "'Workstation Trust Account'",
    "'Server Trust Account'",
    "'Don't Expire Password'",
    "Account Locked",
    "'Encrypted Text Password Allowed'",
    "'Smartcard Required'",
    "'Trusted For Delegation'",
    "'Not Delegated'",
    "'Use DES Key Only'",
    "'Don't Require Preauth'",
    "'Password Expired'",
    "'Trusted To Authenticate For Delegation'",
    "'Exclude Authorization Information'",
    "'Undefined UserAccountControl Bit 20'",
    "'Protect Kerberos Service Tickets with AES Keys'",
)
# The first and the eleventh bits have their own words for "cleared".
_UAC_CLEARED = {0: "Account Enabled", 10: "Account Unlocked"}


def _build() -> dict[int, str]:
    table = {**_ACCESS, **_VALUES}
    for start, names in _SUBCATEGORIES:
        table.update((start + i, name) for i, name in enumerate(names))
    for bit, name in enumerate(_UAC_FLAGS):
        quoted = name.startswith("'")
        table[2048 + bit] = f"{name} - Disabled" if quoted else _UAC_CLEARED[bit]
        table[2080 + bit] = f"{name} - Enabled" if quoted else name
    return table


MESSAGES: dict[int, str] = _build()

_CODE = re.compile(r"%%(\d{1,6})")


def render_codes(text: str) -> str:
    """``text`` with every known ``%%NNNN`` replaced by its words; unknown codes kept. For the
    Security log's fields only (``details._codes``): other providers' codes point into their own
    message files, and a command line's ``%%1842`` is text."""
    if "%%" not in text:
        return text
    return _CODE.sub(_word, text)


def _word(m: re.Match[str]) -> str:
    return MESSAGES.get(int(m.group(1)), m.group())
