from __future__ import annotations

import subprocess
import sys

from sentinelle import __version__


def test_version_prints_package_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sentinelle.cli.main", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == f"sentinelle {__version__}"
    assert __version__ != "0.0.0+unknown"
