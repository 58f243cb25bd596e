"""Detections built directly, for testing outputs without the engine."""

from __future__ import annotations

import http.server
import io
import json
import os
import subprocess
import sys
import threading
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

from sentinelle.detections import Detection
from sentinelle.events import Event

# One rule of our own, for command-line tests that need no corpus: PowerShell's encoded
# command in a Security 4688 event (see :func:`security_4688`).
ENCODED_POWERSHELL = """
title: Encoded PowerShell
id: 0d9a1d36-7a4c-4c1e-9d4e-000000000001
logsource: {product: windows, service: security}
detection:
    sel: {EventID: 4688, CommandLine|contains: ' -enc '}
    condition: sel
level: high
"""


def hunt_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``sentinelle`` run whose cache, data and configuration are in
    ``home``, so that a test never reads or writes the user's (``extra``: more variables)."""
    return {
        **os.environ,
        "SENTINELLE_CACHE_DIR": str(home / "cache"),
        "SENTINELLE_DATA_DIR": str(home / "data"),
        "SENTINELLE_CONFIG_DIR": str(home / "config"),
        **extra,
    }


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The real ``sentinelle ARGS...`` command, in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "sentinelle.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


def run_hunt(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The real ``sentinelle hunt`` command, in its own process."""
    return run_cli(env, "hunt", *args)


def make_event(fields: dict[str, Any], ts: float | None, source: str, record: int) -> Event:
    return Event(dict(fields), ts, source, record)


def make_detection(
    fields: dict[str, Any],
    ts: float | None = 1_600_000_000.25,
    *,
    rule_id: str = "r-1",
    title: str = "Rule one",
    level: str = "high",
    tags: tuple[str, ...] = ("attack.execution", "attack.t1059.001"),
    source: str = "logs/a.evtx",
    record: int = 7,
) -> Detection:
    return Detection(
        rule_id=rule_id,
        rule_title=title,
        level=level,
        timestamp=ts,
        tags=tags,
        event=make_event(fields, ts, source, record),
    )


def make_correlation(events: list[Event], value: float = 3.0) -> Detection:
    return Detection(
        rule_id="corr-1",
        rule_title="Many failed logons",
        level="critical",
        timestamp=events[-1].timestamp,
        tags=("attack.credential-access", "attack.t1110"),
        rule_type="correlation",
        events=tuple(events),
        group={"TargetUserName": "admin"},
        first_seen=events[0].timestamp,
        last_seen=events[-1].timestamp,
        value=value,
    )


class PackageServer:
    """Serves whatever bytes ``packages[path]`` holds; 404 otherwise."""

    def __init__(self) -> None:
        self.packages: dict[str, bytes] = {}
        packages = self.packages

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = packages.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}{path}"


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def rules_from(shared_data: Path, subset: str) -> dict[str, bytes]:
    base = shared_data / "sigma" / "rules"
    return {
        f"rules/{p.relative_to(base).as_posix()}": p.read_bytes()
        for p in sorted((base / subset).rglob("*.yml"))
    }


def security_4688(record: int, computer: str, command: str) -> dict[str, Any]:
    """A Security 4688 event in the evtx-JSON shape (one minute per record number)."""
    return {
        "Event": {
            "System": {
                "EventID": 4688,
                "Channel": "Security",
                "Computer": computer,
                "EventRecordID": record,
                "TimeCreated": {"#attributes": {"SystemTime": f"2026-11-27T22:{record:02d}:00Z"}},
            },
            "EventData": {"NewProcessName": "C:\\x\\p.exe", "CommandLine": command},
        }
    }


# Debian's chromium, as the browser tests and bench/hunt_outputs.py drive it through Playwright
# (whose own browser download cannot work on these machines).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def write_report(dets: list[Detection], path: Path, timeline: Path | None = None) -> Path:
    """The HTML report of ``dets`` at ``path``, with the summary the hunt would give it."""
    from sentinelle.hunt.outputs.html import HtmlWriter
    from sentinelle.hunt.summary import HuntSummary

    writer = HtmlWriter(path, timeline=timeline)
    summary = HuntSummary(files=1, events=len(dets))
    for det in dets:
        summary.add(det)
        writer.write(det)
    writer.close(summary)
    return path


def replay_timeline(jsonl: Path, copies: int = 1) -> list[Detection]:
    """The detections of a JSONL timeline, ``copies`` times over: copy ``n`` moves every
    computer to its own site (``name~n``) and ``n`` days later, as a collection from ``copies``
    hospitals would look. Single-event detections only (those carry their event)."""
    records = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    out: list[Detection] = []
    for n in range(copies):
        for rec in records:
            if rec.get("event") is None:
                continue
            fields = dict(rec["event"])
            if n and isinstance(fields.get("Computer"), str):
                fields["Computer"] = f"{fields['Computer']}~{n}"
            ts = _replayed_time(rec["timestamp"], n)
            source, _, record = str(rec["source"]).rpartition("#")
            event = Event(fields, ts, source, int(record or 0))
            out.append(
                Detection(
                    rec["rule_id"],
                    rec["rule_title"],
                    rec["level"],
                    ts,
                    tuple(rec["tags"]),
                    event=event,
                )
            )
    return out


def _replayed_time(iso: str | None, days: int) -> float | None:
    if iso is None:
        return None
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() + days * 86_400
