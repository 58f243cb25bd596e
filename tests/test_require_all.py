"""Where every test must run (CI: ``SENTINELLE_REQUIRE_ALL=1``), a skip fails with its reason,
whatever raised it; elsewhere it stays a skip. Run through a real pytest on a small test file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SKIPPING = """
import pytest

def test_skipped_inside() -> None:
    pytest.skip("frobnicator not installed")

@pytest.mark.skipif(True, reason="widget not installed")
def test_skipped_by_marker() -> None:
    pass

@pytest.fixture
def tool() -> None:
    pytest.skip("gadget not installed")

def test_skipped_by_fixture(tool: None) -> None:
    pass

@pytest.mark.xfail(reason="a known bug", strict=True)
def test_expected_to_fail() -> None:
    raise AssertionError

def test_runs() -> None:
    pass
"""


def _pytest(folder: Path, require_all: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SENTINELLE_REQUIRE_ALL"}
    if require_all is not None:
        env["SENTINELLE_REQUIRE_ALL"] = require_all
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider",
         "-q", "-rA", "--rootdir", str(folder), str(folder / "test_tools.py")],
        cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def test_a_skip_fails_where_every_test_must_run(tmp_path: Path) -> None:
    (tmp_path / "test_tools.py").write_text(SKIPPING)
    strict = _pytest(tmp_path, "1")
    assert strict.returncode == 1, strict.stdout
    # a skip in the call fails the test; one in its set-up (a marker, a fixture) is an error there
    assert "1 failed, 1 passed, 1 xfailed, 2 errors" in strict.stdout
    for reason in ("frobnicator", "widget", "gadget"):
        expected = f"skipped where every test must run (SENTINELLE_REQUIRE_ALL=1): {reason}"
        assert expected in strict.stdout, strict.stdout

    relaxed = _pytest(tmp_path, None)
    assert relaxed.returncode == 0, relaxed.stdout
    assert "1 passed, 3 skipped, 1 xfailed" in relaxed.stdout


def test_a_module_skipped_whole_fails_its_collection_there(tmp_path: Path) -> None:
    (tmp_path / "test_tools.py").write_text(
        'import pytest\n\npytest.importorskip("no_such_module_here")\n\n'
        "def test_never() -> None:\n    pass\n"
    )
    strict = _pytest(tmp_path, "1")
    assert strict.returncode == 2, strict.stdout  # a collection error interrupts the run
    assert "every test must run" in strict.stdout and "no_such_module_here" in strict.stdout
    assert _pytest(tmp_path, None).returncode == 5  # nothing ran: all skipped at collection
