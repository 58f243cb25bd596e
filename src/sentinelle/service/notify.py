"""The notifier: the outbox's rows sent through Apprise, retried, never twice.

The detector writes one ``Notification`` row per (alert, route) in the transaction that stores
the alert; this thread takes due rows one at a time by a conditional update (``claimed`` set
only where it was empty, or stale), so exactly one sender wins even with several notifiers, and
a crash between storing and sending leaves the row to be sent later. A failure is retried with
a doubling delay until ``attempts`` is reached, then given up and counted. Being its own
thread, a slow or failing channel never slows detection or the listeners.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from sentinelle.service.config import NotifySection, Route
from sentinelle.service.log import log_event

log = logging.getLogger("sentinelle.service.notify")
CLAIM_SECONDS = 300  # a claim older than this (its sender died) may be taken again


def message_of(alert: Any) -> tuple[str, str]:
    """Title and body of an alert's message (plain text: channels render it as they can)."""
    where = " / ".join(part for part in (alert.site, alert.host) if part)
    title = f"[{alert.level.upper()}] {alert.rule_title}"
    lines = [
        f"{alert.rule_title} ({alert.level})",
        f"where: {where or 'unknown'}",
        f"when: {alert.timestamp.isoformat() if alert.timestamp else 'unknown'}",
    ]
    if alert.services:
        names = ", ".join(f"{s['name']} ({s['criticality']})" for s in alert.services[:5])
        lines.append(f"services: {names}")
    if alert.incident_id:
        lines.append(f"incident: #{alert.incident_id}")
    lines.append(f"alert id: {alert.id}")
    return title[:250], "\n".join(lines)


class Notifier:
    """The sending thread. :meth:`run_once` is one pass (the tests call it directly)."""

    def __init__(self, section: NotifySection, poll_seconds: float = 1.0) -> None:
        self.section = section
        self.routes: dict[str, Route] = {r.name: r for r in section.routes}
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        from sentinelle.service.metrics import notify_metrics

        metrics = notify_metrics()
        self.sent, self.failures, self.given_up = metrics.sent, metrics.failures, metrics.given_up

    def start(self) -> None:
        if not self.routes:
            return
        self._thread = threading.Thread(target=self._run, name="notifier", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.section.timeout_seconds + 5)

    def _run(self) -> None:
        from django.db import close_old_connections, connections

        try:
            while not self._stop.is_set():
                try:
                    close_old_connections()
                    while self.run_once() and not self._stop.is_set():
                        pass
                except Exception as exc:  # noqa: BLE001 - the thread's boundary: log, go on
                    log_event(log, "notify.loop_failed", logging.ERROR, why=exc)
                self._stop.wait(self.poll_seconds)
        finally:
            connections.close_all()  # the thread's own connections, before it ends

    def claim(self) -> Any:
        """Take one due notification (or None): the conditional update decides who sends."""
        from django.db.models import Q
        from django.utils import timezone

        from sentinelle.web.alerts.models import Notification

        now = timezone.now()
        stale = now - timedelta(seconds=CLAIM_SECONDS)
        due = (
            Notification.objects.filter(sent__isnull=True, failed=False, next_attempt__lte=now)
            .filter(Q(claimed__isnull=True) | Q(claimed__lt=stale))
            .order_by("next_attempt", "id")
        )
        for row in due[:5]:
            won = (
                Notification.objects.filter(pk=row.pk, sent__isnull=True)
                .filter(Q(claimed__isnull=True) | Q(claimed__lt=stale))
                .update(claimed=now)
            )
            if won:
                return Notification.objects.select_related("alert").get(pk=row.pk)
        return None

    def run_once(self) -> bool:
        """Send one due notification; False when none was due."""
        from django.utils import timezone

        from sentinelle.web.alerts.models import Notification

        row = self.claim()
        if row is None:
            return False
        route = self.routes.get(row.route)
        error = "route no longer configured" if route is None else self.send(route, row.alert)
        now = timezone.now()
        if not error:
            Notification.objects.filter(pk=row.pk).update(
                sent=now, attempts=row.attempts + 1, last_error=""
            )
            self.sent.labels(row.route).inc()
            log_event(log, "notify.sent", route=row.route, alert=row.alert_id)
            return True
        attempts = row.attempts + 1
        self.failures.labels(row.route).inc()
        give_up = route is None or attempts >= self.section.attempts
        delay = min(
            self.section.max_backoff_seconds, self.section.backoff_seconds * 2 ** (attempts - 1)
        )
        Notification.objects.filter(pk=row.pk).update(
            attempts=attempts,
            claimed=None,
            failed=give_up,
            last_error=error[:2000],
            next_attempt=now + timedelta(seconds=delay),
        )
        if give_up:
            self.given_up.labels(row.route).inc()
        log_event(
            log,
            "notify.given_up" if give_up else "notify.failed",
            logging.WARNING,
            route=row.route,
            alert=row.alert_id,
            attempts=attempts,
            why=error,
        )
        return True

    def send(self, route: Route, alert: Any) -> str:
        """Send through Apprise; the error in words, or empty when every URL took it."""
        import apprise

        title, body = message_of(alert)
        sender = apprise.Apprise(asset=apprise.AppriseAsset(async_mode=False))
        for url in route.urls:
            if not sender.add(url):
                return "not an Apprise URL this installation can use"
        try:
            ok = sender.notify(title=title, body=body)
        except Exception as exc:  # noqa: BLE001 - a plugin's failure is the channel's failure
            return f"{type(exc).__name__}: {exc}"
        return "" if ok else "the channel refused or did not answer"
