"""The terminal table shows what matters at every usual terminal width."""

from __future__ import annotations

import io

import pytest

from sentinelle.hunt.outputs.table import TableWriter, short_channel, short_computer, table_layout
from sentinelle.hunt.summary import HuntSummary
from tests.hunt.helpers import make_detection

EVENT = {
    "Channel": "Microsoft-Windows-Sysmon/Operational",
    "EventID": 1,
    "Computer": "PC-RADIOLOGIE-042.chu-nantes.local",
    "CommandLine": "powershell -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAA=",
    "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
}
TITLE = "Suspicious Encoded PowerShell Command Line Spawned By An Office Application"
REQUIRED = ("Level", "Computer", "Channel", "EventID", "Rule")


def _table(width: int, profile: str = "standard") -> list[str]:
    buf = io.StringIO()
    writer = TableWriter(buf, profile, width=width)
    writer.write(make_detection(EVENT, title=TITLE, level="critical"))
    writer.write(make_detection({**EVENT, "EventID": 13}, title="Short", level="low"))
    writer.close(HuntSummary())
    lines = buf.getvalue().splitlines()
    return lines[: lines.index("")]  # the timeline, before the summary


@pytest.mark.parametrize("width", [80, 120, 200])
@pytest.mark.parametrize("profile", ["minimal", "standard", "verbose"])
def test_every_required_column_is_there_with_its_values(width: int, profile: str) -> None:
    header, first, second = _table(width, profile)
    for name in REQUIRED:
        assert name in header, (width, header)
    assert all(len(line) <= width for line in (header, first, second))
    # the values, each at least partly, in their own columns
    for value in ("crit", "PC-RAD", "Sysmon", " 1 ", "Suspicious"):
        assert value in first, (width, first)
    for value in ("low", "13", "Short"):
        assert value in second
    if width >= 120:
        assert "Details" in header and "Cmdline: powershell" in first


def test_wide_terminals_spend_their_room_on_the_event() -> None:
    at = {w: dict(table_layout(w)) for w in (80, 120, 200)}
    assert all(at[w]["level"] == 5 and at[w]["eid"] == 7 for w in at)
    assert at[80]["rule"] < at[120]["rule"] <= at[200]["rule"]
    assert at[120]["details"] < at[200]["details"]
    assert "tactics" not in at[80] and "tactics" in at[200]
    assert "tactics" not in dict(table_layout(200, "minimal"))
    assert "source" in dict(table_layout(200, "verbose"))
    for width in (80, 120, 200):
        layout = table_layout(width)
        assert sum(w for _, w in layout) + len(layout) - 1 <= width


def test_channel_names_lose_what_every_windows_channel_shares() -> None:
    assert short_channel("Microsoft-Windows-Sysmon/Operational") == "Sysmon"
    assert short_channel("Microsoft-Windows-Windows Defender/Operational") == "Windows Defender"
    assert short_channel("Security") == "Security"


def test_narrow_computer_columns_keep_the_host_name() -> None:
    """At 80 columns the computer's domain gives way, not the end of its host name: fs-cen01
    and fs-cen02 stay apart (both were ``fs-cen0…``)."""
    buf = io.StringIO()
    writer = TableWriter(buf, "standard", width=80)
    for host in ("fs-cen01.chu-loire.example", "fs-cen02.chu-loire.example", "10.10.0.17"):
        writer.write(make_detection({**EVENT, "Computer": host}, title=TITLE))
    writer.write(make_detection({**EVENT, "Computer": "x" * 1_000_000 + ".a"}, title=TITLE))
    writer.close(HuntSummary())
    rows = buf.getvalue().splitlines()[1:5]
    assert [row.split()[3] for row in rows[:3]] == ["fs-cen01", "fs-cen02", "10.10.0…"]
    assert rows[3].split()[3] == "xxxxxxx…"
    assert short_computer("fs-cen01.chu-loire.example", 30) == "fs-cen01.chu-loire.example"
    assert short_computer("192.168.100.200", 8) == "192.168.100.200"  # cut by the column
    assert short_computer("fe80::1.2", 4) == "fe80::1.2"
