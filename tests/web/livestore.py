"""A store on disk for tests that run the web app in its own process (the browser test).

``python -m tests.web.livestore DATA_DIR seed`` migrates the store, makes an analyst
(``ana``, :data:`tests.web.conftest.PASSWORD`) and a few alerts, one of them hostile;
``python -m tests.web.livestore DATA_DIR alert TITLE`` stores one new alert, as the detector
would, while the server runs; ``python -m tests.web.livestore DATA_DIR evidence SIZE`` stores an
evidence file of SIZE bytes on a new incident and prints the incident, the evidence, the file's
SHA-256 and a signed-in viewer's session cookie.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]


def serve_web_app(
    data_dir: Path, database_url: str | None = None, stderr: IO[bytes] | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """The web app under uvicorn on a free loopback port, as ``sentinelle serve`` runs it, on
    the store of ``data_dir``; returns once it accepts connections. ``stderr`` takes what the
    server prints (its warnings), the test's own otherwise."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTINELLE_", "DJANGO_"))}
    env.update(
        SENTINELLE_DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE="sentinelle.web.settings",
        PYTHONPATH=str(ROOT),
    )
    if database_url:
        env["SENTINELLE_DATABASE_URL"] = database_url
    command = [sys.executable, "-m", "uvicorn", "sentinelle.web.asgi:application"]
    options = ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    # As the service does: open live streams (a browser's feed) do not hold a stop for ever.
    options += ["--timeout-graceful-shutdown", "5"]
    process = subprocess.Popen(
        [*command, *options, "--lifespan", "off"], cwd=ROOT, env=env, stderr=stderr
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process, port
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("the web app did not start") from None
            time.sleep(0.2)


def stop_web_app(process: subprocess.Popen[bytes]) -> None:
    """Stop a server of :func:`serve_web_app`: SIGTERM, then SIGKILL if it outlives its graceful
    shutdown (a server left running holds its port and its store's files past the test)."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


def main(argv: list[str]) -> int:
    from sentinelle.web import configure

    configure(Path(argv[0]), migrate=True)
    from tests.web.conftest import HOSTILE, PASSWORD, new_alert

    if argv[1] == "seed":
        from sentinelle.web.accounts.models import User

        User.objects.create_user("ana", password=PASSWORD, role="analyst")
        for n in range(5):
            new_alert(rule_title=f"Seeded alert {n}", level=("high", "low")[n % 2])
        from sentinelle.web.incidents.models import Incident

        incident = Incident.objects.create(
            title='<svg onload=alert("incident")>\u202eevil',
            hosts=['"><script>alert("host")</script>', "A" * 5000],
            accounts=["javascript:alert(1)"],
        )
        hostile = new_alert(
            rule_title='<img src=x onerror=alert("title")>\u202eevil',
            event=dict(HOSTILE),
            host='"><script>alert("host")</script>',
            account="javascript:alert(1)",
            incident=incident,
        )
        print(hostile.id, incident.pk)
    elif argv[1] == "alert":
        import uuid

        # A process of its own counts from 1 again: the event id must come from elsewhere.
        event_id = uuid.uuid4().hex
        print(new_alert(rule_title=argv[2], level="critical", event_id=event_id).id)
    elif argv[1] == "evidence":
        print(*_evidence(int(argv[2])))
    return 0


def _evidence(size: int) -> tuple[int, int, str, str]:
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from sentinelle.web.accounts.models import User
    from sentinelle.web.incidents import evidence
    from sentinelle.web.incidents.models import Evidence, Incident

    viewer = User.objects.create_user("evidence-viewer", password=None, role="viewer")
    incident = Incident.objects.create(title="Evidence over ASGI")
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    sha, stored = evidence.store(SimpleUploadedFile("disk.img", data), size)
    row = Evidence.objects.create(
        incident=incident, name="disk.img", sha256=sha, size=stored, uploaded_by=viewer
    )
    client = Client()
    client.force_login(viewer)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return incident.pk, row.pk, sha, cookie


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
