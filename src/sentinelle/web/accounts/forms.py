"""Forms of the accounts pages: every input validated here, never in a view."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.utils.translation import gettext_lazy as _

from sentinelle.web.access import Role, TokenRole
from sentinelle.web.accounts.models import User

ROLE_CHOICES = [
    (Role.ADMIN.value, _("administrator")),
    (Role.ANALYST.value, _("analyst")),
    (Role.CRISIS.value, _("crisis cell")),
    (Role.VIEWER.value, _("viewer")),
]
TOKEN_ROLE_CHOICES = [
    (TokenRole.INGEST.value, _("ingest (sends events)")),
    (TokenRole.API.value, _("api (reads alerts and incidents)")),
]


class _PasswordPair(forms.Form):
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label=_("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def password_user(self) -> User | None:
        return None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords differ."))
        elif first:
            try:
                password_validation.validate_password(first, self.password_user())
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data


class UserCreateForm(_PasswordPair):
    username = forms.CharField(label=_("User name"), max_length=150)
    role = forms.ChoiceField(label=_("Role"), choices=ROLE_CHOICES)
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    field_order = ("username", "role", "first_name", "last_name", "password1", "password2")

    def clean_username(self) -> str:
        name: str = self.cleaned_data["username"]
        User.username_validator(name)
        if User.objects.filter(username__iexact=name).exists():
            raise forms.ValidationError(_("A user with this name exists already."))
        return name

    def password_user(self) -> User | None:
        return User(
            username=self.cleaned_data.get("username", ""),
            first_name=self.cleaned_data.get("first_name", ""),
            last_name=self.cleaned_data.get("last_name", ""),
        )


class UserEditForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=ROLE_CHOICES)
    is_active = forms.BooleanField(
        label=_("Active"),
        required=False,
        help_text=_("A disabled user cannot sign in; users are never deleted."),
    )
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)


class PasswordResetForm(_PasswordPair):
    def __init__(self, user: User, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def password_user(self) -> User | None:
        return self.user


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=100, help_text=_("Which machine or tool uses it.")
    )
    role = forms.ChoiceField(label=_("Role"), choices=TOKEN_ROLE_CHOICES)


class AuditFilterForm(forms.Form):
    actor = forms.CharField(label=_("Who"), max_length=150, required=False)
    action = forms.CharField(label=_("Action"), max_length=64, required=False)
    object_type = forms.CharField(label=_("Object type"), max_length=64, required=False)
