"""What the apps' forms share: a form's errors shown as messages on the page it posts back to
(the pages redirect after a POST, so the errors travel in the session's messages)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest


def form_errors(request: HttpRequest, form: forms.BaseForm) -> None:
    """One message per error, prefixed with its field's label (none for the form's own)."""
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        for error in errors:
            messages.error(request, f"{label}: {error}" if label else str(error))
