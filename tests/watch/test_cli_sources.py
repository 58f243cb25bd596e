"""``sentinelle sources gaps``: known gaps from the command line, as the page declares them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def sentinelle(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sentinelle.cli.main", *args],
        capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )  # fmt: skip


def test_gaps_add_list_revoke(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    added = sentinelle("sources", "gaps", "add", "dc-snz01", "--for", "2d",
                       "--reason", "rebuilt after the attack", "--data-dir", data)  # fmt: skip
    assert added.returncode == 0, added.stderr
    number, match, until = added.stdout.strip().split("\t")
    assert match == "dc-snz01" and until.startswith("until ")
    listed = sentinelle("sources", "gaps", "list", "--data-dir", data)
    assert "dc-snz01" in listed.stdout and "rebuilt after the attack" in listed.stdout
    bad = sentinelle("sources", "gaps", "add", "*", "--for", "2d", "--reason", "x",
                     "--data-dir", data)  # fmt: skip
    assert bad.returncode == 2 and "give a host name" in bad.stderr
    long = sentinelle("sources", "gaps", "add", "pc-1", "--for", "900d", "--reason", "x",
                      "--data-dir", data)  # fmt: skip
    assert long.returncode == 2 and "at most 366 days" in long.stderr
    assert sentinelle("sources", "gaps", "revoke", number, "--data-dir", data).returncode == 0
    after = sentinelle("sources", "gaps", "list", "--data-dir", data)
    assert after.returncode == 2 and "no known gap in force" in after.stderr
    missing = sentinelle("sources", "gaps", "revoke", "999", "--data-dir", data)
    assert missing.returncode == 2 and "no known gap #999" in missing.stderr
