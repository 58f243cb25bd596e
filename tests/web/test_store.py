"""The store's contract: migrations complete, the audit trail append-only, tokens hashed."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client, RequestFactory

from sentinelle.web.access import Policy, Principal, Role, principal_of, token_digest
from sentinelle.web.accounts.audit import record
from sentinelle.web.accounts.models import ApiToken, AppendOnlyError, AuditEntry, User

pytestmark = pytest.mark.django_db


def test_every_model_change_has_its_migration() -> None:
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out)
    except SystemExit as exc:  # makemigrations --check exits 1 when a migration is missing
        pytest.fail(f"models changed without a migration (run makemigrations): {out.getvalue()}")
        raise AssertionError from exc


def test_audit_entries_cannot_be_changed_or_removed() -> None:
    entry = record("cli:test", "user.create", ("accounts.user", "1"), after={"role": "admin"})
    entry.action = "user.delete"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).update(action="x")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.get().action == "user.create"


def test_users_are_disabled_not_deleted() -> None:
    user = User.objects.create_user("ana", password="x" * 20, role=Role.ANALYST)
    with pytest.raises(AppendOnlyError):
        user.delete()


def test_tokens_are_stored_hashed_and_resolve_to_their_role() -> None:
    row, secret = ApiToken.objects.create_token("winlogbeat-dc1", "ingest")
    assert secret not in {row.digest, row.prefix} and row.digest == token_digest(secret)
    request = RequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    principal = principal_of(request)
    assert (principal.kind, principal.name, principal.role) == ("token", "winlogbeat-dc1", "ingest")
    wrong = RequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {secret}x")
    assert principal_of(wrong).is_anonymous


def test_revoked_tokens_are_refused() -> None:
    row, secret = ApiToken.objects.create_token("old", "api")
    ApiToken.objects.filter(pk=row.pk).update(revoked=row.created)
    request = RequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert principal_of(request).is_anonymous


def test_policy_separates_reading_writing_and_tokens() -> None:
    policy = Policy(read=frozenset({"viewer", "analyst"}), write=frozenset({"analyst"}))
    viewer = Principal("user", "v", "viewer")
    analyst = Principal("user", "a", "analyst")
    token = Principal("token", "t", "api")
    assert policy.allows(viewer, "GET") and not policy.allows(viewer, "POST")
    assert policy.allows(analyst, "POST")
    assert not policy.allows(token, "GET")  # no token role named
    assert Policy(tokens=frozenset({"api"})).allows(token, "GET")
    assert not Policy(tokens=frozenset({"api"})).allows(analyst, "GET")


@pytest.mark.urls("tests.web.access_routes")
def test_a_route_without_a_policy_is_refused_even_to_an_admin() -> None:
    admin = User.objects.create_user("root", password="x" * 20, role=Role.ADMIN)
    client = Client()
    client.force_login(admin)
    assert client.get("/forgot/").status_code == 403
    assert client.get("/declared/").status_code == 200
    client.logout()
    assert client.get("/declared/").status_code == 302  # a person is sent to the login page
