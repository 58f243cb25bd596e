"""Forms of the incident pages."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from sentinelle.web.accounts.models import User
from sentinelle.web.incidents.models import IncidentStatus, IndicatorKind, TaskState

_HEX = {IndicatorKind.SHA256: 64, IndicatorKind.SHA1: 40, IndicatorKind.MD5: 32}
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,253}$")


def _people() -> Any:
    return User.objects.filter(is_active=True).order_by("username")


class IncidentForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=512)
    summary = forms.CharField(label=_("Summary"), widget=forms.Textarea, required=False)


class IncidentUpdateForm(IncidentForm):
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[c for c in IncidentStatus.choices if c[0] != IncidentStatus.MERGED],
    )
    owner = forms.ModelChoiceField(
        label=_("Owner"), queryset=_people(), required=False, empty_label=_("nobody")
    )


class MergeForm(forms.Form):
    into = forms.IntegerField(
        label=_("Merge into incident #"), min_value=1, help_text=_("This one is then closed.")
    )


class TaskForm(forms.Form):
    title = forms.CharField(label=_("Task"), max_length=512)
    owner = forms.ModelChoiceField(
        label=_("Owner"), queryset=_people(), required=False, empty_label=_("nobody")
    )
    due = forms.DateTimeField(
        label=_("Due"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )


class TaskStateForm(forms.Form):
    state = forms.ChoiceField(label=_("State"), choices=TaskState.choices)


class NoteForm(forms.Form):
    text = forms.CharField(label=_("Note"), widget=forms.Textarea, max_length=20000)


class IndicatorForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=IndicatorKind.choices)
    value = forms.CharField(label=_("Value"), max_length=2048)
    comment = forms.CharField(label=_("Comment"), max_length=2000, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind, value = data.get("kind"), (data.get("value") or "").strip()
        if not kind or not value:
            return data
        error: str | None = None
        if kind in (IndicatorKind.IPV4, IndicatorKind.IPV6):
            try:
                address = ipaddress.ip_address(value)
            except ValueError:
                error = gettext("Not an IP address.")
            else:
                wanted = 4 if kind == IndicatorKind.IPV4 else 6
                if address.version != wanted:
                    error = gettext("Not an IPv%(v)d address.") % {"v": wanted}
                value = str(address)
        elif kind in _HEX:
            value = value.lower()
            if not re.fullmatch(f"[0-9a-f]{{{_HEX[IndicatorKind(kind)]}}}", value):
                error = gettext("Not a %(kind)s digest.") % {"kind": kind.partition(":")[2]}
        elif kind == IndicatorKind.DOMAIN:
            value = value.lower()
            if not _DOMAIN.match(value):
                error = gettext("Not a domain name.")
        elif kind == IndicatorKind.URL:
            if not re.match(r"^[a-z][a-z0-9+.-]*://\S+$", value, re.IGNORECASE):
                error = gettext("Not a URL (scheme://...).")
        elif kind == IndicatorKind.EMAIL and not _EMAIL.match(value):
            error = gettext("Not an e-mail address.")
        if error:
            self.add_error("value", error)
        data["value"] = value
        return data


class EvidenceForm(forms.Form):
    file = forms.FileField(label=_("File"))


class ContainmentForm(forms.Form):
    action = forms.ChoiceField(label=_("Action"))
    note = forms.CharField(label=_("Note"), max_length=2000, required=False)

    def __init__(self, choices: list[tuple[str, str]], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        action = self.fields["action"]
        assert isinstance(action, forms.ChoiceField)
        action.choices = choices
