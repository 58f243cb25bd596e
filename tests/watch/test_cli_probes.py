"""``sentinelle probes run``: the table (or JSON) of every probe once, exit 1 when one is down."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.ports import free_port
from tests.watch.probe_specs import model_with_probes
from tests.watch.servers import http_server

pytestmark = pytest.mark.network


def sentinelle(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sentinelle.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        check=False,
    )


def test_probes_run_prints_every_probe_and_fails_when_one_is_down(tmp_path: Path) -> None:
    with http_server() as port:
        model_with_probes(
            tmp_path,
            [
                {"id": "portal", "http": f"http://127.0.0.1:{port}/ok"},
                {"id": "portal-admin", "tcp": f"127.0.0.1:{free_port()}"},
                {"id": "portal-doc", "http": "https://portal.chu.example/"},
            ],
        )
        table = sentinelle("probes", "run", "--model", str(tmp_path / "model.yml"))
        one = sentinelle(
            "probes", "run", "--model", str(tmp_path / "model.yml"), "--probe", "portal",
            "--format", "json",
        )  # fmt: skip
    assert table.returncode == 1, table.stderr
    lines = table.stdout
    assert "portal" in lines and "web@cen" in lines
    assert "connection refused" in lines and "documentation name" in lines
    assert "3 probes: 1 down, 1 unknown, 1 up" in lines
    assert one.returncode == 0, one.stderr
    (record,) = [orjson.loads(line) for line in one.stdout.splitlines()]
    assert record["probe"] == "portal" and record["status"] == "up"
    assert record["component"] == "web" and record["site"] == "cen"


def test_probes_run_refuses_an_unknown_probe(tmp_path: Path) -> None:
    model_with_probes(tmp_path, [{"id": "portal", "tcp": "127.0.0.1:1"}])
    got = sentinelle("probes", "run", "--model", str(tmp_path / "model.yml"), "--probe", "nope")
    assert got.returncode == 2
    assert "no probe or component named nope" in got.stderr
