"""Who may do what: roles, the policy declared beside each view, and the one check.

Every view declares its :class:`Policy` with :func:`access` (or, for the REST API, passes the
same policy as its ``auth``); :class:`AccessMiddleware` resolves who is asking (a session user
or an API token) and refuses a request the policy does not allow. A view without a policy is
refused too (default deny), so a route added without thinking of access fails closed, and the
authorization tests, generated from the route table, fail loudly.

Reading is ``GET``/``HEAD``/``OPTIONS``; everything else writes. State never changes on a read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from django.http import HttpRequest, HttpResponse, JsonResponse

if TYPE_CHECKING:
    from sentinelle.web.accounts.models import User

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Role(StrEnum):
    """A person's role. Each one can do what the roles after it can, except as noted."""

    ADMIN = "admin"  # users, tokens, settings, and everything below
    ANALYST = "analyst"  # triage alerts, run incidents, suppressions
    CRISIS = "crisis"  # the crisis cell: board, crisis log, significance, clocks
    VIEWER = "viewer"  # reads everything, writes nothing


class TokenRole(StrEnum):
    """A machine's role, given to an API token (``sentinelle tokens create --role``)."""

    INGEST = "ingest"  # sends events
    API = "api"  # reads alerts and incidents
    ADMIN = "admin"  # operates the service (asks the detector to load the rules again)


EVERYONE = frozenset(Role)  # every signed-in person
STAFF = frozenset({Role.ADMIN, Role.ANALYST, Role.CRISIS})
ANALYSTS = frozenset({Role.ADMIN, Role.ANALYST})
CRISIS_CELL = frozenset({Role.ADMIN, Role.CRISIS})
ADMINS = frozenset({Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a person (by session), a machine (by token), or nobody."""

    kind: str  # "user", "token" or "anonymous"
    name: str
    role: str | None
    user_id: int | None = None
    token_id: int | None = None
    # Roles a person holds beside their own (an analyst who is also in the crisis cell).
    grants: frozenset[str] = frozenset()

    @property
    def is_anonymous(self) -> bool:
        return self.kind == "anonymous"

    def has_any(self, roles: Iterable[str]) -> bool:
        """Whether this person's role, or a role granted beside it, is one of ``roles``."""
        wanted = frozenset(roles)
        return self.kind == "user" and (self.role in wanted or not self.grants.isdisjoint(wanted))


ANONYMOUS = Principal("anonymous", "", None)


@dataclass(frozen=True, slots=True)
class Policy:
    """Which user roles may read and write through a view, which token roles may call it.

    ``public`` views (login, health probes) are open to anyone. A token is never allowed on a
    view whose policy names no token role, and a person never on a token-only view.
    """

    read: frozenset[str] = frozenset()
    write: frozenset[str] = frozenset()
    tokens: frozenset[str] = frozenset()
    public: bool = False

    def allows(self, principal: Principal, method: str) -> bool:
        if self.public:
            return True
        if principal.kind == "token":
            return principal.role in self.tokens
        if principal.kind != "user" or principal.role is None:
            return False
        allowed = self.read if method.upper() in READ_METHODS else self.write
        return principal.has_any(allowed)


PUBLIC = Policy(public=True)

V = TypeVar("V", bound=Callable[..., Any])


def access(
    *,
    read: Iterable[str] = (),
    write: Iterable[str] = (),
    tokens: Iterable[str] = (),
    public: bool = False,
) -> Callable[[V], V]:
    """Declare a view's policy: ``@access(read=EVERYONE, write=ANALYSTS)``."""
    policy = Policy(frozenset(read), frozenset(write), frozenset(tokens), public)

    def mark(view: V) -> V:
        view.access_policy = policy  # type: ignore[attr-defined]
        return view

    return mark


def policy_of(view: Callable[..., Any]) -> Policy | None:
    """The policy a view declared (looking through decorators that keep ``__wrapped__``)."""
    seen = 0
    current: Any = view
    while current is not None and seen < 16:
        policy = getattr(current, "access_policy", None)
        if isinstance(policy, Policy):
            return policy
        current = getattr(current, "__wrapped__", None) or getattr(current, "view_class", None)
        seen += 1
    return None


def token_digest(token: str) -> str:
    """How a token is stored: its SHA-256 (tokens are 256 random bits; no slow hash needed)."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def request_token(request: HttpRequest) -> str | None:
    """The API token a request carries, in any of the forms machine clients send it.

    ``Bearer TOKEN`` (curl, scripts, the Python Elasticsearch client's ``bearer_auth``);
    ``Basic`` with the token as the password, any user name (Beats, Logstash, Fluent Bit and
    Vector ``user``/``password`` settings); ``ApiKey`` with ``base64(ID:TOKEN)`` or the token
    itself (Beats ``api_key: "ID:TOKEN"``, the Elasticsearch clients' ``api_key``). Only
    tokens are accepted this way: a person's password never authenticates a request here.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if not value or len(value) > 1024:
        return None
    if scheme == "bearer":
        return value
    if scheme in ("basic", "apikey"):
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            # An ApiKey given as the token itself (not encoded); Basic is always encoded.
            return value if scheme == "apikey" else None
        _, colon, secret = decoded.partition(":")
        if colon and secret:
            return secret
        return decoded if scheme == "apikey" and decoded else None
    return None


# Who grants roles beside a person's own: functions of a user id giving role names, added by
# the apps that keep such grants (the crisis cell's members: ``sentinelle.web.crisis``).
ROLE_GRANTS: list[Callable[[int], Iterable[str]]] = []


def granted_roles(user_id: int) -> frozenset[str]:
    return frozenset(role for grant in ROLE_GRANTS for role in grant(user_id))


def principal_of(request: HttpRequest) -> Principal:
    """Resolve (once per request) who is asking: a bearer token first, else the session user."""
    cached = getattr(request, "_sentinelle_principal", None)
    if isinstance(cached, Principal):
        return cached
    principal = ANONYMOUS
    token = request_token(request)
    if token is not None:
        from sentinelle.web.accounts.models import ApiToken

        found = ApiToken.objects.authenticate(token)
        if found is not None:
            principal = Principal("token", found.name, found.role, token_id=found.pk)
    else:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_active:
            principal = Principal(
                "user",
                user.get_username(),
                user.role,
                user_id=user.pk,
                grants=granted_roles(user.pk) - {user.role},
            )
    request._sentinelle_principal = principal  # type: ignore[attr-defined]
    return principal


def may(request: HttpRequest, roles: Iterable[str]) -> bool:
    """Whether the requester holds one of ``roles`` (their own or one granted beside it): the
    check the policies make, for a page deciding which forms to show."""
    return principal_of(request).has_any(roles)


def person(request: HttpRequest) -> User:
    """The signed-in person making a request that a policy let through (no token, no one
    anonymous: the views that call this name people's roles only)."""
    from sentinelle.web.accounts.models import User

    user = request.user
    assert isinstance(user, User)
    return user


def refusal(request: HttpRequest, principal: Principal) -> HttpResponse:
    """401 for nobody (a person is sent to the login page), 403 for someone not allowed."""
    from django.conf import settings
    from django.shortcuts import redirect

    wants_json = request.path.startswith("/api/") or request_token(request) is not None
    if principal.is_anonymous:
        if not wants_json and request.method in READ_METHODS:
            return redirect(f"{settings.LOGIN_URL}?next={request.path}")
        response: HttpResponse = JsonResponse({"detail": "authentication required"}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="sentinelle"'
        return response
    if wants_json:
        return JsonResponse({"detail": "not allowed for this role"}, status=403)
    return HttpResponse("Forbidden: not allowed for your role.", status=403)


class AccessMiddleware:
    """Refuses every request its view's policy does not allow; views without one, always."""

    sync_capable = True
    async_capable = False  # Django adapts it; it touches the database (token lookup)

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: Any,
        view_kwargs: Any,
    ) -> HttpResponse | None:
        policy = policy_of(view_func)
        if policy is None:
            return HttpResponse("Forbidden: this route declares no access policy.", status=403)
        if policy.public:
            return None
        principal = principal_of(request)
        if policy.allows(principal, request.method or "GET"):
            return None
        return refusal(request, principal)


class ApiAuth:
    """A :class:`Policy` as the ``auth`` of a django-ninja operation: the same check.

    The REST API's URL callbacks are marked :data:`API_ROUTE` for the middleware (one URL
    serves several methods, each with its own policy); the operation's ``auth`` then decides.
    The API's default ``auth`` is :data:`DENY`, so an operation without a policy is refused.
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def __call__(self, request: HttpRequest) -> Principal | None:
        from ninja.errors import HttpError

        principal = principal_of(request)
        method = request.method or "GET"
        if self.policy.allows(principal, method):
            # django-ninja exempts its views from Django's CSRF check; a person's session
            # writing through the API is checked here (a token is no cookie: nothing to forge).
            writes = method.upper() not in READ_METHODS
            if principal.kind == "user" and writes and _csrf_refused(request):
                raise HttpError(403, "CSRF check failed: send the csrftoken cookie's value")
            return principal
        if principal.is_anonymous:
            return None  # ninja answers 401
        raise HttpError(403, "not allowed for this role")


def _csrf_refused(request: HttpRequest) -> bool:
    from django.http import HttpResponse
    from django.middleware.csrf import CsrfViewMiddleware

    def view(request: HttpRequest) -> HttpResponse:  # not csrf_exempt: the check runs
        return HttpResponse()

    check = CsrfViewMiddleware(view)
    return check.process_view(request, view, (), {}) is not None


def _deny(request: HttpRequest) -> None:
    return None


DENY = _deny
# Marks the REST API's URL callbacks: checked per operation by ApiAuth, not by the middleware.
API_ROUTE = Policy(public=True)


def mark_api_routes(patterns: list[Any]) -> list[Any]:
    """Mark every callback under ``patterns`` (django-ninja's ``api.urls``) as :data:`API_ROUTE`."""
    for pattern in patterns:
        nested = getattr(pattern, "url_patterns", None)
        if nested is not None:
            mark_api_routes(list(nested))
        else:
            pattern.callback.access_policy = API_ROUTE
    return patterns
