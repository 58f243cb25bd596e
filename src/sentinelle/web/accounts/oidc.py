"""Single sign-on through the hospital's OpenID Connect provider (mozilla-django-oidc).

Enabled only when ``SENTINELLE_OIDC_CLIENT_ID`` and the provider's endpoints are set (see
``settings.py``). A person signing in for the first time gets an account named after their
``preferred_username`` (else their e-mail address) with the role their groups map to
(``SENTINELLE_OIDC_ROLE_MAP``, ``admin=soc-admins,analyst=soc``), a viewer's by default; the
role is brought up to date at each sign-in. A disabled account stays disabled.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.urls import URLPattern, path
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
    OIDCLogoutView,
)

from sentinelle.web.access import Role, access
from sentinelle.web.accounts.audit import record
from sentinelle.web.accounts.models import User

_ROLE_ORDER = [Role.ADMIN, Role.ANALYST, Role.CRISIS, Role.VIEWER]


def parse_role_map(text: str) -> dict[str, Role]:
    """``admin=soc-admins,analyst=soc`` as {group: role}; unknown roles are a settings error."""
    from django.core.exceptions import ImproperlyConfigured

    out: dict[str, Role] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        role, sep, group = item.partition("=")
        if not sep or role.strip() not in {r.value for r in Role} or not group.strip():
            raise ImproperlyConfigured(
                f"SENTINELLE_OIDC_ROLE_MAP: {item!r} is not ROLE=GROUP with ROLE one of"
                f" {', '.join(r.value for r in Role)}"
            )
        out[group.strip()] = Role(role.strip())
    return out


def role_for(claims: dict[str, Any]) -> Role:
    """The highest role any of the person's groups maps to; a viewer's when none does."""
    mapping = parse_role_map(getattr(settings, "OIDC_ROLE_MAP", ""))
    groups = claims.get(getattr(settings, "OIDC_ROLE_CLAIM", "groups")) or []
    if isinstance(groups, str):
        groups = [groups]
    roles = {mapping[g] for g in groups if isinstance(g, str) and g in mapping}
    return next((r for r in _ROLE_ORDER if r in roles), Role.VIEWER)


def username_for(claims: dict[str, Any]) -> str:
    name = claims.get("preferred_username") or claims.get("email") or claims.get("sub") or ""
    return str(name)[:150]


class RoleOIDCBackend(OIDCAuthenticationBackend):  # type: ignore[misc]
    def filter_users_by_claims(self, claims: dict[str, Any]) -> QuerySet[User]:
        name = username_for(claims)
        if not name:
            return User.objects.none()
        return User.objects.filter(username__iexact=name)

    def create_user(self, claims: dict[str, Any]) -> User:
        user = User.objects.create_user(
            username_for(claims),
            email=str(claims.get("email", ""))[:254],
            role=role_for(claims),
        )
        user.set_unusable_password()
        user.save(update_fields=["password"])
        record(f"oidc:{user.username}", "user.create", user, after={"role": user.role})
        return user

    def update_user(self, user: User, claims: dict[str, Any]) -> User:
        role = role_for(claims)
        if user.role != role:
            before = {"role": user.role}
            user.role = role
            user.save(update_fields=["role"])
            record(
                f"oidc:{user.username}", "user.update", user, before=before, after={"role": role}
            )
        return user

    def get_or_create_user(self, access_token: str, id_token: str, payload: Any) -> User | None:
        user: User | None = super().get_or_create_user(access_token, id_token, payload)
        if user is not None and not user.is_active:
            return None
        return user


def urlpatterns() -> list[URLPattern]:
    """The provider's redirect and callback routes (public: they are how one signs in)."""
    return [
        path(
            "oidc/authenticate/",
            access(public=True)(OIDCAuthenticationRequestView.as_view()),
            name="oidc_authentication_init",
        ),
        path(
            "oidc/callback/",
            access(public=True)(OIDCAuthenticationCallbackView.as_view()),
            name="oidc_authentication_callback",
        ),
        path(
            "oidc/logout/",
            access(public=True)(OIDCLogoutView.as_view()),
            name="oidc_logout",
        ),
    ]
