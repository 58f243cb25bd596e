"""The notifier: Apprise's JSON webhook to a real local HTTP server; retried, never twice."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from sentinelle.service.config import NotifySection, Route
from sentinelle.service.notify import Notifier

pytestmark = [pytest.mark.django_db, pytest.mark.network]


class Receiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[dict[str, Any]] = []
        self.fail_next = 0


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.server.fail_next > 0:
            self.server.fail_next -= 1
            self.send_response(500)
        else:
            self.server.received.append(json.loads(body))
            self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def make_alert(level: str = "critical") -> Any:
    from sentinelle.web.alerts.models import Alert, Notification

    alert = Alert.objects.create(
        id="a" * 32,
        rule_id="r1",
        rule_title="Ransomware note written <script>",
        level=level,
        level_rank=4,
        host="dc-cen01",
        site="cen",
        services=[{"id": "dpi", "name": "Patient record", "criticality": "vital"}],
    )
    Notification.objects.create(alert=alert, route="crisis")
    return alert


def test_a_critical_alert_reaches_the_webhook_once(receiver: Receiver) -> None:
    from sentinelle.web.alerts.models import Notification

    url = f"json://127.0.0.1:{receiver.server_port}/hook"
    notifier = Notifier(NotifySection(routes=(Route("crisis", (url,), "critical"),)))
    make_alert()
    assert notifier.run_once()
    assert not notifier.run_once()  # sent: nothing left, nothing sent twice
    assert len(receiver.received) == 1
    message = receiver.received[0]
    assert "Ransomware note" in message["title"] and "dc-cen01" in message["message"]
    assert "Patient record (vital)" in message["message"]
    row = Notification.objects.get()
    assert row.sent is not None and row.attempts == 1


def test_a_failing_channel_is_retried_with_backoff_then_given_up(receiver: Receiver) -> None:
    from django.utils import timezone

    from sentinelle.web.alerts.models import Notification

    url = f"json://127.0.0.1:{receiver.server_port}/hook"
    section = NotifySection(
        routes=(Route("crisis", (url,), "critical"),), attempts=3, backoff_seconds=60
    )
    notifier = Notifier(section)
    make_alert()
    receiver.fail_next = 1
    assert notifier.run_once()
    row = Notification.objects.get()
    assert row.sent is None and row.attempts == 1 and not row.failed
    assert row.next_attempt > timezone.now()  # not due again before the backoff
    assert not notifier.run_once()
    Notification.objects.update(next_attempt=timezone.now())
    assert notifier.run_once()
    assert Notification.objects.get().sent is not None
    assert len(receiver.received) == 1


def test_only_one_of_two_notifiers_claims_a_row() -> None:
    section = NotifySection(routes=(Route("crisis", ("json://127.0.0.1:9/",), "critical"),))
    make_alert()
    first, second = Notifier(section), Notifier(section)
    assert first.claim() is not None
    assert second.claim() is None


def test_an_unreachable_channel_is_given_up_after_its_attempts() -> None:
    from django.utils import timezone

    from sentinelle.web.alerts.models import Notification

    section = NotifySection(
        routes=(Route("crisis", ("json://127.0.0.1:9/?cto=1&rto=1",), "critical"),),
        attempts=2,
        backoff_seconds=1,
    )
    notifier = Notifier(section)
    make_alert()
    for _ in range(2):
        Notification.objects.update(next_attempt=timezone.now())
        assert notifier.run_once()
    row = Notification.objects.get()
    assert row.failed and row.sent is None and row.last_error
