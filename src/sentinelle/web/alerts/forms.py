"""Forms of the alert pages: triage actions (one alert or many) and suppressions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from sentinelle.web.accounts.models import User
from sentinelle.web.incidents.models import Incident, IncidentStatus

MAX_BULK = 1000


class TriageAction:
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    FALSE_POSITIVE = "false_positive"
    ASSIGN = "assign"
    ATTACH = "attach"
    OPEN_INCIDENT = "open_incident"


ACTION_CHOICES = [
    (TriageAction.ACKNOWLEDGE, _("Acknowledge")),
    (TriageAction.ASSIGN, _("Assign")),
    (TriageAction.FALSE_POSITIVE, _("False positive")),
    (TriageAction.RESOLVE, _("Resolve")),
    (TriageAction.REOPEN, _("Reopen")),
    (TriageAction.ATTACH, _("Attach to an incident")),
    (TriageAction.OPEN_INCIDENT, _("Open an incident")),
]


class ActionForm(forms.Form):
    action = forms.ChoiceField(label=_("Action"), choices=ACTION_CHOICES)
    assignee = forms.ModelChoiceField(
        label=_("Assignee"),
        queryset=User.objects.filter(is_active=True).order_by("username"),
        required=False,
        empty_label=_("nobody"),
    )
    reason = forms.CharField(label=_("Reason"), max_length=2000, required=False)
    # A number, not a list: a hospital's store holds thousands of incidents.
    incident_id = forms.IntegerField(label=_("Incident #"), min_value=1, required=False)
    title = forms.CharField(label=_("New incident's title"), max_length=512, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        action = data.get("action")
        if action == TriageAction.FALSE_POSITIVE and not data.get("reason", "").strip():
            self.add_error("reason", _("Say why it is a false positive."))
        if action == TriageAction.ATTACH:
            number = data.get("incident_id")
            found = (
                Incident.objects.exclude(status=IncidentStatus.MERGED).filter(pk=number).first()
                if number
                else None
            )
            if found is None:
                self.add_error("incident_id", _("Give the number of an incident not merged."))
            data["incident"] = found
        return data


DURATIONS = [
    ("1h", _("1 hour")),
    ("8h", _("8 hours")),
    ("24h", _("24 hours")),
    ("7d", _("7 days")),
    ("30d", _("30 days")),
    ("never", _("no expiry")),
]
_DELTAS = {
    "1h": timedelta(hours=1),
    "8h": timedelta(hours=8),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}


class SuppressionForm(forms.Form):
    rule_id = forms.CharField(label=_("Rule id"), max_length=128, required=False)
    host = forms.CharField(label=_("Host"), max_length=255, required=False)
    field = forms.CharField(label=_("Event field"), max_length=128, required=False)
    value = forms.CharField(label=_("Field value"), max_length=1024, required=False)
    duration = forms.ChoiceField(label=_("Expires after"), choices=DURATIONS, initial="24h")
    reason = forms.CharField(label=_("Reason"), max_length=2000, widget=forms.Textarea)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in ("rule_id", "host", "field", "value"):
            data[name] = (data.get(name) or "").strip()
        if bool(data["field"]) != bool(data["value"]):
            self.add_error("value", _("A field and its value go together."))
        if not (data["rule_id"] or data["host"] or data["field"]):
            self.add_error(None, _("Name a rule, a host or a field value: the scope."))
        return data

    def expires(self) -> Any:
        delta = _DELTAS.get(self.cleaned_data["duration"])
        return None if delta is None else timezone.now() + delta
