"""``make demo`` briefly, end to end: the service starts on its own data folder, the nights are
replayed into it through its inputs, alerts and incidents appear in the crisis room (signed in
with the printed demo login), and Ctrl-C stops everything cleanly."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sentinelle.demo_live import Feeder, free_ports, load_night
from sentinelle.scenarios import generate_scenario

ROOT = Path(__file__).resolve().parents[2]
MASS_RENAMING = "8e71e4f2-fd8c-41ab-a678-adfd92ea58e1"  # the ransomware's encryption burst


def test_a_night_is_loaded_in_time_order_with_its_headers(tmp_path: Path) -> None:
    generate_scenario("ransomware", tmp_path / "night", scale=0.05)
    night = load_night("ransomware", tmp_path / "night")
    times = [when for when, _target, _line in night.records]
    assert times == sorted(times) and len(times) > 1000
    targets = {target.partition(":")[0] for _when, target, _line in night.records}
    assert targets == {"windows", "syslog", "zeek"}
    assert all(h[0].startswith(b"#separator") for h in night.headers.values())
    assert 3 * 3600 < night.span < 24 * 3600


def test_slices_are_never_seen_half_written(tmp_path: Path) -> None:
    generate_scenario("ransomware", tmp_path / "night", scale=0.05)
    night = load_night("ransomware", tmp_path / "night")
    files = [r for r in night.records if r[1] != "syslog"][:50]
    feeder = Feeder(tmp_path / "watch", ("127.0.0.1", 9))
    feeder.feed(night, files)
    written = sorted(p.name for p in (tmp_path / "watch" / "ransomware").iterdir())
    assert written and not [n for n in written if n.startswith(".")]
    zeek = [n for n in written if n.endswith("conn.log")]
    for name in zeek:
        text = (tmp_path / "watch" / "ransomware" / name).read_text()
        assert text.startswith("#separator") and "#fields" in text


def sign_in(url: str, user: str, password: str) -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{url}/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token
    form = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token.group(1), "username": user, "password": password}
    ).encode()
    request = urllib.request.Request(f"{url}/login/", data=form, headers={"Referer": url})
    opener.open(request).read()
    return opener


@pytest.mark.slow
def test_the_live_demo_runs_and_stops_cleanly(tmp_path: Path) -> None:
    http_port, syslog_port = free_ports(2)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTINELLE_", "DJANGO_"))}
    env["SENTINELLE_DATA_DIR"] = str(tmp_path / "user-data")  # nothing outside the demo's out
    demo = subprocess.Popen(
        [
            sys.executable,
            # Started as a non-interactive shell starts a job with '&': SIGINT ignored, which a
            # Python process keeps unless it sets its own handler; Ctrl-C must stop it anyway.
            "-c",
            "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN);"
            " os.execv(sys.executable, [sys.executable, *sys.argv[1:]])",
            "-m",
            "sentinelle.cli.main",
            "demo",
            "--out",
            str(tmp_path / "demo"),
            "--http",
            f"127.0.0.1:{http_port}",
            "--syslog-tcp",
            f"127.0.0.1:{syslog_port}",
            "--scale",
            "0.05",
            "--speed",
            "3000",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert demo.stdout is not None
    login = None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 240
        while login is None and time.monotonic() < deadline:
            line = demo.stdout.readline()
            if not line:
                break
            lines.append(line)
            login = re.search(r"(http://\S+)/\s+sign in as (\S+) / (\S+)", line)
        assert login, "".join(lines)
        url, user, password = login.groups()
        opener = sign_in(url, user, password)
        incidents = renaming = ""
        while time.monotonic() < deadline:
            alerts = opener.open(f"{url}/alerts/").read().decode()
            incidents = opener.open(f"{url}/incidents/?status=all").read().decode()
            renaming = opener.open(f"{url}/alerts/?rule={MASS_RENAMING}").read().decode()
            row = '<tr id="alert-'  # an alert's row (the empty list has none)
            if 'href="/incidents/' in incidents and row in alerts and row in renaming:
                break
            time.sleep(2)
        assert 'href="/incidents/' in incidents, "no incident formed during the replay"
        assert '<tr id="alert-' in renaming, "the ransomware's encryption was not detected"
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            rest, _ = demo.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            demo.terminate()  # the demo's SIGTERM stops its service too
            rest, _ = demo.communicate(timeout=90)
            lines.append(rest)
            raise AssertionError("Ctrl-C did not stop the demo:\n" + "".join(lines)) from None
        lines.append(rest)
    output = "".join(lines)
    assert demo.returncode == 0, output
    assert "stopping the service" in output and "stopped;" in output
    assert not (tmp_path / "user-data").exists()

    # The ransomware incident formed, and its encryption burst is dated in its own night (a
    # night replayed after a later one had its correlations judged at the later night's time).
    night = load_night("ransomware", tmp_path / "demo" / "scenarios" / "ransomware")
    first, last = night.records[0][0], night.records[-1][0]
    with sqlite3.connect(tmp_path / "demo" / "data" / "sentinelle.db") as db:
        stored = db.execute(
            "SELECT timestamp, incident_id FROM alerts_alert WHERE rule_id = ?", (MASS_RENAMING,)
        ).fetchall()
    assert stored
    for stamp, incident in stored:
        when = datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp()
        assert first <= when <= last + 3600, (stamp, first, last)
        assert incident is not None
