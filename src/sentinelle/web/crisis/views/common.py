"""What the crisis views share: who may write, form errors as messages, the request's language."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest
from django.utils import translation

from sentinelle.web.access import CRISIS_CELL, principal_of
from sentinelle.web.accounts.models import User


def person(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # the policy let only signed-in people through
    return user


def in_cell(request: HttpRequest) -> bool:
    """Whether the requester may write the crisis pages (admin, crisis role or a cell seat)."""
    return principal_of(request).has_any(CRISIS_CELL)


def form_errors(request: HttpRequest, form: Any) -> None:
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        for error in errors:
            messages.error(request, f"{label}: {error}" if label else str(error))


def language() -> str:
    code = translation.get_language() or settings.LANGUAGE_CODE
    return code if code in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
