"""Signing in and out, and the administrators' pages: users, API tokens, the audit trail.

Every change goes through :func:`sentinelle.web.accounts.audit.record` with the state before
and after. Users are disabled, never deleted; tokens are revoked, never deleted; the secret of
a token is shown once, on the page that made it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordChangeForm
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from sentinelle.web.access import ADMINS, EVERYONE, Role, access, person
from sentinelle.web.accounts.audit import record, revoke
from sentinelle.web.accounts.forms import (
    AuditFilterForm,
    PasswordResetForm,
    TokenCreateForm,
    UserCreateForm,
    UserEditForm,
)
from sentinelle.web.accounts.models import ApiToken, AuditEntry, User
from sentinelle.web.paging import BadCursor, Key, keyset_page

AUDIT_PAGE = 100


def user_state(user: User) -> dict[str, Any]:
    """What the audit trail keeps of a user (never the password hash)."""
    return {
        "username": user.username,
        "role": user.role,
        "is_active": user.is_active,
        "first_name": user.first_name,
        "last_name": user.last_name,
    }


def token_state(token: ApiToken) -> dict[str, Any]:
    return {
        "name": token.name,
        "role": token.role,
        "prefix": token.prefix,
        "revoked": token.revoked.isoformat() if token.revoked else None,
    }


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        data = super().get_context_data(**kwargs)
        data["oidc"] = getattr(settings, "OIDC_ENABLED", False)
        return data


login_view = access(public=True)(LoginView.as_view())
logout_view = access(read=EVERYONE, write=EVERYONE)(auth_views.LogoutView.as_view())


@access(read=EVERYONE, write=EVERYONE)
@require_http_methods(["GET", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    """A person changes their own password (knowing the current one)."""
    user = person(request)
    form = PasswordChangeForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        update_session_auth_hash(request, form.user)
        record(request, "user.password", user, after={"username": user.username})
        messages.success(request, _("Your password was changed."))
        return redirect("home")
    return render(request, "accounts/password.html", {"form": form})


@access(read=ADMINS)
def users(request: HttpRequest) -> HttpResponse:
    rows = User.objects.order_by("-is_active", "username")
    return render(request, "accounts/users.html", {"users": rows})


@access(read=ADMINS, write=ADMINS)
@require_http_methods(["GET", "POST"])
def user_create(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        with transaction.atomic():
            user = User.objects.create_user(
                data["username"],
                password=data["password1"],
                role=data["role"],
                first_name=data["first_name"],
                last_name=data["last_name"],
            )
            record(request, "user.create", user, after=user_state(user))
        messages.success(request, _("User %(name)s created.") % {"name": user.username})
        return redirect("accounts:users")
    return render(request, "accounts/user_form.html", {"form": form, "creating": True})


def _would_leave_no_admin(user: User, role: str, active: bool) -> bool:
    if user.role != Role.ADMIN or not user.is_active:
        return False
    if role == Role.ADMIN and active:
        return False
    others = User.objects.filter(role=Role.ADMIN, is_active=True).exclude(pk=user.pk)
    return not others.exists()


@access(read=ADMINS, write=ADMINS)
@require_http_methods(["GET", "POST"])
def user_edit(request: HttpRequest, user_id: int) -> HttpResponse:
    user = get_object_or_404(User, pk=user_id)
    initial = user_state(user)
    form = UserEditForm(request.POST or None, initial=initial)
    password_form = PasswordResetForm(user, prefix="password")
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if _would_leave_no_admin(user, data["role"], data["is_active"]):
            form.add_error(None, _("This would leave no active administrator."))
        else:
            with transaction.atomic():
                before = user_state(user)
                user.role = data["role"]
                user.is_active = data["is_active"]
                user.first_name = data["first_name"]
                user.last_name = data["last_name"]
                user.save(update_fields=["role", "is_active", "first_name", "last_name"])
                after = user_state(user)
                if after != before:
                    record(request, "user.update", user, before=before, after=after)
            messages.success(request, _("User %(name)s saved.") % {"name": user.username})
            return redirect("accounts:users")
    context = {"form": form, "password_form": password_form, "edited": user, "creating": False}
    return render(request, "accounts/user_form.html", context)


@access(read=ADMINS, write=ADMINS)
@require_http_methods(["POST"])
def user_password(request: HttpRequest, user_id: int) -> HttpResponse:
    """An administrator sets a new password for someone (who forgot theirs)."""
    user = get_object_or_404(User, pk=user_id)
    password_form = PasswordResetForm(user, request.POST, prefix="password")
    if password_form.is_valid():
        with transaction.atomic():
            user.set_password(password_form.cleaned_data["password1"])
            user.save(update_fields=["password"])
            record(request, "user.password-reset", user, after={"username": user.username})
        messages.success(request, _("Password of %(name)s set.") % {"name": user.username})
        return redirect("accounts:users")
    form = UserEditForm(initial=user_state(user))
    context = {"form": form, "password_form": password_form, "edited": user, "creating": False}
    return render(request, "accounts/user_form.html", context, status=400)


@access(read=ADMINS, write=ADMINS)
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    form = TokenCreateForm(request.POST or None)
    secret = None
    if request.method == "POST" and form.is_valid():
        creator = request.user if isinstance(request.user, User) else None
        with transaction.atomic():
            token, secret = ApiToken.objects.create_token(
                form.cleaned_data["name"], form.cleaned_data["role"], created_by=creator
            )
            record(request, "token.create", token, after=token_state(token))
        form = TokenCreateForm()
    rows = ApiToken.objects.select_related("created_by").order_by("revoked", "-created")
    context = {"form": form, "tokens": rows, "secret": secret}
    response = render(request, "accounts/tokens.html", context)
    if secret is not None:
        response["Cache-Control"] = "no-store"  # the secret must not stay in a cache
    return response


@access(read=ADMINS, write=ADMINS)
@require_http_methods(["POST"])
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = revoke(request, ApiToken.objects.all(), token_id, "token.revoke", token_state)
    if token is not None:
        messages.success(request, _("Token %(name)s revoked.") % {"name": token.name})
    return redirect("accounts:tokens")


@access(read=ADMINS)
def audit(request: HttpRequest) -> HttpResponseBase:
    form = AuditFilterForm(request.GET or None)
    entries = AuditEntry.objects.all()
    query: dict[str, str] = {}
    if form.is_valid():
        for name in ("actor", "action", "object_type"):
            value = form.cleaned_data[name]
            if value:
                entries = entries.filter(**{name: value})
                query[name] = value
    try:
        page = keyset_page(
            entries, [Key("at"), Key("id")], request.GET.get("cursor"), AUDIT_PAGE, query
        )
    except BadCursor:
        return redirect(request.path)
    return render(request, "accounts/audit.html", {"form": form, "page": page})
