"""Forms of the crisis pages: every input checked against the hospital model and the store."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from django import forms
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from sentinelle.hospital import HospitalModel
from sentinelle.web.accounts.models import User
from sentinelle.web.crisis.clocks import KINDS, SECTIONS
from sentinelle.web.crisis.models import Contact, EntryKind, Status
from sentinelle.web.incidents.models import Incident

MAX_TEXT = 20_000
LOCAL_TIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def site_choices(model: HospitalModel) -> list[tuple[str, str]]:
    return [(s.id, s.name) for s in model.sites.values()]


def service_choices(model: HospitalModel) -> list[tuple[str, str]]:
    return [(s.id, s.name) for s in model.services.values()]


class DeclarationForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=Status.choices)
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea, max_length=4000)
    expected_end = forms.DateTimeField(label=_("Expected end"), required=False, widget=LOCAL_TIME)

    def clean_expected_end(self) -> Any:
        value = self.cleaned_data.get("expected_end")
        if value is not None and value < timezone.now():
            raise forms.ValidationError(gettext("The expected end is in the past."))
        return value


class LogEntryForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=EntryKind.choices)
    text = forms.CharField(label=_("Entry"), widget=forms.Textarea, max_length=MAX_TEXT)
    incidents = forms.CharField(
        label=_("Incidents"),
        required=False,
        max_length=400,
        help_text=_("Incident numbers, separated by spaces or commas."),
    )
    services = forms.MultipleChoiceField(label=_("Services"), required=False)
    sites = forms.MultipleChoiceField(label=_("Sites"), required=False)

    def __init__(self, model: HospitalModel, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, choices in (
            ("services", service_choices(model)),
            ("sites", site_choices(model)),
        ):
            field = self.fields[name]
            assert isinstance(field, forms.MultipleChoiceField)
            field.choices = choices
            field.widget.attrs["size"] = "4"

    def clean_incidents(self) -> list[int]:
        raw = self.cleaned_data.get("incidents") or ""
        words = [w.lstrip("#") for w in re.split(r"[\s,;]+", raw) if w]
        if any(not w.isdecimal() or len(w) > 12 for w in words):
            raise forms.ValidationError(gettext("Write incident numbers only."))
        wanted = sorted({int(w) for w in words})
        found = set(Incident.objects.filter(pk__in=wanted).values_list("pk", flat=True))
        missing = [n for n in wanted if n not in found]
        if missing:
            raise forms.ValidationError(
                gettext("No incident #%(n)s.") % {"n": ", #".join(str(n) for n in missing)}
            )
        return wanted


class CorrectionForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=EntryKind.choices)
    text = forms.CharField(label=_("Correction"), widget=forms.Textarea, max_length=MAX_TEXT)


class SignificanceForm(forms.Form):
    reason = forms.CharField(
        label=_("Why it is significant"), widget=forms.Textarea, max_length=4000
    )
    clocks = forms.MultipleChoiceField(
        label=_("Clocks to start"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Those the establishment's settings apply are ticked."),
    )

    def __init__(self, rules: dict[str, dict[str, Any]], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["clocks"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [(key, str(KINDS[key].title)) for key in rules]
        field.initial = [key for key, rule in rules.items() if rule["applies"]]


class ClockDraftForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for key, label in SECTIONS.items():
            self.fields[key] = forms.CharField(
                label=str(label),
                required=False,
                max_length=MAX_TEXT,
                widget=forms.Textarea(attrs={"rows": 4}),
            )


class ClockSentForm(forms.Form):
    how = forms.CharField(
        label=_("How it was sent"),
        max_length=255,
        help_text=_("The portal, a phone call (to whom), paper handed over..."),
    )
    reference = forms.CharField(label=_("Reference received"), max_length=255, required=False)
    sent = forms.DateTimeField(
        label=_("When"), required=False, widget=LOCAL_TIME, help_text=_("Now if left empty.")
    )

    def clean_sent(self) -> Any:
        value = self.cleaned_data.get("sent")
        if value is not None and value > timezone.now():
            raise forms.ValidationError(gettext("That time is still to come."))
        return value


class ClockRulesForm(forms.Form):
    """One line per kind of clock: applies here or not, the authority, how it is sent."""

    def __init__(self, rules: dict[str, dict[str, Any]], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for key, rule in rules.items():
            self.fields[f"{key}-applies"] = forms.BooleanField(
                label=str(KINDS[key].title), required=False, initial=rule["applies"]
            )
            self.fields[f"{key}-authority"] = forms.CharField(
                label=_("Authority"), max_length=255, required=False, initial=rule["authority"]
            )
            self.fields[f"{key}-channel"] = forms.CharField(
                label=_("How it is sent"), max_length=500, required=False, initial=rule["channel"]
            )

    def rows(self) -> list[tuple[forms.BoundField, forms.BoundField, forms.BoundField]]:
        return [(self[f"{k}-applies"], self[f"{k}-authority"], self[f"{k}-channel"]) for k in KINDS]


class ContactForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Contact
        fields = ("role", "name", "organisation", "phones", "radio", "site", "notes", "position")
        labels: ClassVar[dict[str, Any]] = {
            "role": _("Role"),
            "name": _("Name"),
            "organisation": _("Organisation"),
            "phones": _("Phones"),
            "radio": _("Radio channel"),
            "site": _("Site"),
            "notes": _("Notes"),
            "position": _("Order in the booklet"),
        }

    def __init__(self, model: HospitalModel, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"] = forms.ChoiceField(
            label=_("Site"), required=False, choices=[("", "—"), *site_choices(model)]
        )
        self.fields["notes"].widget = forms.Textarea(attrs={"rows": 2})


class KioskScreenForm(forms.Form):
    name = forms.CharField(label=_("Screen"), max_length=100)
    sites = forms.MultipleChoiceField(
        label=_("Sites shown"),
        required=False,
        help_text=_("None ticked: every site."),
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, model: HospitalModel, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["sites"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = site_choices(model)


class CellMemberForm(forms.Form):
    user = forms.ModelChoiceField(
        label=_("Person"), queryset=User.objects.filter(is_active=True).order_by("username")
    )
