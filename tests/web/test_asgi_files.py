"""Files served under the ASGI server (uvicorn, as ``sentinelle serve`` runs the web app):
static files and evidence downloads arrive whole, and the server never warns that it had to
consume a synchronous iterator (Django then reads the whole response into memory first, in a
worker thread, before sending a byte of it)."""

from __future__ import annotations

import hashlib
import http.client
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.web.livestore import ROOT, serve_web_app, stop_web_app

SYNC_ITERATOR_WARNING = "must consume synchronous iterators"
EVIDENCE_BYTES = 3 * 1024 * 1024 + 17  # many chunks, and a last one that is not full


def _store(data_dir: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTINELLE_", "DJANGO_"))}
    env.update(DJANGO_SETTINGS_MODULE="sentinelle.web.settings", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "tests.web.livestore", str(data_dir), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def _get(port: int, path: str, cookie: str = "") -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        answer = connection.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        connection.close()


@pytest.mark.network
def test_static_files_and_evidence_under_uvicorn_without_the_sync_iterator_warning(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    incident, evidence, sha, cookie = _store(data_dir, "evidence", str(EVIDENCE_BYTES)).split()
    log = tmp_path / "uvicorn.err"
    with log.open("wb") as err:
        process, port = serve_web_app(data_dir, stderr=err)
        try:
            package = Path(__file__).resolve().parents[2] / "src/sentinelle/web"
            for path, source in (
                ("sentinelle/app.js", package / "static/sentinelle/app.js"),
                ("sentinelle/app.css", package / "static/sentinelle/app.css"),
                ("crisis/crisis.css", package / "crisis/static/crisis/crisis.css"),
            ):
                status, headers, body = _get(port, f"/static/{path}")
                assert status == 200 and body == source.read_bytes(), path
                assert headers["content-length"] == str(len(body))
                assert "last-modified" in headers and headers["cache-control"] == "max-age=300"
            status, headers, body = _get(
                port, f"/incidents/{incident}/evidence/{evidence}/", cookie
            )
            assert status == 200, body[:300]
            assert len(body) == EVIDENCE_BYTES and hashlib.sha256(body).hexdigest() == sha
            assert headers["content-length"] == str(EVIDENCE_BYTES)
            assert headers["content-type"] == "application/octet-stream"
            assert headers["content-disposition"].startswith("attachment;")
            assert 'filename="disk.img"' in headers["content-disposition"]
            assert headers["x-content-type-options"] == "nosniff"
            assert "sandbox" in headers["content-security-policy"]
        finally:
            stop_web_app(process)
    printed = log.read_text(encoding="utf-8", errors="replace")
    assert SYNC_ITERATOR_WARNING not in printed, printed[-2000:]
