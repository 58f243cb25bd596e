"""Signing in (session renewed, sessions expire, lockout), the password policy, OIDC off by
default and wired when configured, users and tokens managed by administrators, all audited."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from sentinelle.web import settings as web_settings
from sentinelle.web.access import principal_of
from sentinelle.web.accounts.models import ApiToken, AuditEntry, User
from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def sign_in(client: Client, name: str, password: str = PASSWORD) -> Any:
    return client.post("/login/", {"username": name, "password": password})


def test_production_settings_hash_with_argon2_and_check_passwords() -> None:
    assert web_settings.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    validators: list[Any] = web_settings.AUTH_PASSWORD_VALIDATORS
    names = [str(v["NAME"]).rsplit(".", 1)[1] for v in validators]
    assert {"MinimumLengthValidator", "CommonPasswordValidator"} <= set(names)


def test_signing_in_renews_the_session_id(people: dict[str, User]) -> None:
    client = Client()
    client.get("/login/")
    client.session.save()
    before = client.session.session_key
    response = sign_in(client, "analyst-user")
    assert response.status_code == 302
    after = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    assert after and after != before
    assert client.get("/alerts/").status_code == 200


def test_sessions_expire(people: dict[str, User]) -> None:
    assert 0 < django_settings.SESSION_COOKIE_AGE <= 24 * 3600
    client = Client()
    sign_in(client, "viewer-user")
    assert client.get("/alerts/").status_code == 200
    key = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(1))
    response = client.get("/alerts/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_wrong_passwords_lock_the_account_out(people: dict[str, User]) -> None:
    client = Client()
    for _ in range(django_settings.AXES_FAILURE_LIMIT):
        response = sign_in(client, "admin-user", "wrong password here")
        assert response.status_code in (200, 429)
    locked = sign_in(client, "admin-user")  # the right password, too late
    assert locked.status_code == 429
    assert "verrouillé" in locked.content.decode() or "locked" in locked.content.decode()
    assert client.get("/alerts/").status_code == 302  # not signed in


def test_a_disabled_user_cannot_sign_in(people: dict[str, User]) -> None:
    User.objects.filter(username="viewer-user").update(is_active=False)
    client = Client()
    assert sign_in(client, "viewer-user").status_code == 200  # the form again, with an error
    assert client.get("/alerts/").status_code == 302


def test_oidc_is_off_by_default() -> None:
    assert web_settings.OIDC_ENABLED is False
    assert "mozilla_django_oidc" not in django_settings.INSTALLED_APPS
    assert not any("OIDC" in b for b in django_settings.AUTHENTICATION_BACKENDS)
    assert Client().get("/oidc/authenticate/").status_code == 404


OIDC_ENV = {
    "SENTINELLE_OIDC_CLIENT_ID": "sentinelle",
    "SENTINELLE_OIDC_CLIENT_SECRET": "s3cret",
    "SENTINELLE_OIDC_AUTHORIZATION_ENDPOINT": "https://sso.chu.example/auth",
    "SENTINELLE_OIDC_TOKEN_ENDPOINT": "https://sso.chu.example/token",
    "SENTINELLE_OIDC_USER_ENDPOINT": "https://sso.chu.example/userinfo",
    "SENTINELLE_OIDC_JWKS_ENDPOINT": "https://sso.chu.example/jwks",
    "SENTINELLE_OIDC_ROLE_MAP": "admin=soc-admins,analyst=soc",
}
OIDC_PROBE = """
import sys
from pathlib import Path
from sentinelle.web import configure
configure(Path(sys.argv[1]), migrate=True)
from django.conf import settings
from django.test import Client
from sentinelle.web.accounts.oidc import role_for
assert "mozilla_django_oidc" in settings.INSTALLED_APPS
assert settings.AUTHENTICATION_BACKENDS[-1].endswith("RoleOIDCBackend")
assert settings.OIDC_RP_CLIENT_ID == "sentinelle"
response = Client().get("/oidc/authenticate/")
assert response.status_code == 302, response.status_code
location = response["Location"]
assert location.startswith("https://sso.chu.example/auth?"), location
assert "client_id=sentinelle" in location and "state=" in location
assert "Se connecter avec" in Client().get("/login/").content.decode()
assert role_for({"groups": ["soc", "soc-admins"]}) == "admin"
assert role_for({"groups": ["soc"]}) == "analyst"
assert role_for({"groups": ["nurses"]}) == "viewer"
print("ok")
"""


def run_probe(tmp_path: Any, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SENTINELLE_", "DJANGO_"))}
    return subprocess.run(
        [sys.executable, "-c", OIDC_PROBE, str(tmp_path)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_oidc_settings_are_wired_when_configured(tmp_path: Any) -> None:
    done = run_probe(tmp_path, OIDC_ENV)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_a_half_configured_oidc_fails_at_start(tmp_path: Any) -> None:
    env = dict(OIDC_ENV)
    del env["SENTINELLE_OIDC_TOKEN_ENDPOINT"]
    done = run_probe(tmp_path, env)
    assert done.returncode != 0 and "SENTINELLE_OIDC_TOKEN_ENDPOINT" in done.stderr


def test_admin_creates_edits_and_disables_users_all_audited(
    client_as: Callable[[str], Client],
) -> None:
    admin = client_as("admin")
    weak = admin.post(
        "/admin/users/new/",
        {"username": "nurse", "role": "viewer", "password1": "123", "password2": "123"},
    )
    assert weak.status_code == 200 and not User.objects.filter(username="nurse").exists()
    strong = "the night shift is long 7"
    response = admin.post(
        "/admin/users/new/",
        {"username": "nurse", "role": "viewer", "password1": strong, "password2": strong},
    )
    assert response.status_code == 302
    nurse = User.objects.get(username="nurse")
    assert nurse.check_password(strong) and nurse.role == "viewer"
    admin.post(f"/admin/users/{nurse.pk}/", {"role": "crisis", "is_active": ""})
    nurse.refresh_from_db()
    assert nurse.role == "crisis" and not nurse.is_active
    entries = list(AuditEntry.objects.filter(object_type="accounts.user", object_id=nurse.pk))
    assert [e.action for e in entries] == ["user.create", "user.update"]
    before, after = entries[1].before, entries[1].after
    assert isinstance(before, dict)
    assert entries[1].actor == "admin-user" and before["role"] == "viewer"
    assert after == {**before, "role": "crisis", "is_active": False}
    assert "password" not in str(entries[0].after)
    page = admin.get("/admin/audit/?object_type=accounts.user").content.decode()
    assert "user.update" in page and "crisis" in page


def test_the_last_admin_cannot_disable_themselves(
    client_as: Callable[[str], Client], people: dict[str, User]
) -> None:
    admin = client_as("admin")
    me = people["admin"]
    response = admin.post(f"/admin/users/{me.pk}/", {"role": "viewer", "is_active": "on"})
    assert response.status_code == 200
    me.refresh_from_db()
    assert me.role == "admin" and me.is_active


def test_tokens_made_in_the_page_authenticate_and_are_revocable(
    client_as: Callable[[str], Client], rf: Any
) -> None:
    admin = client_as("admin")
    page = admin.post("/admin/tokens/", {"name": "winlogbeat-dc1", "role": "ingest"})
    assert page["Cache-Control"] == "no-store"
    token = ApiToken.objects.get(name="winlogbeat-dc1")
    secret = page.content.decode().split('id="new-token">')[1].split("<")[0]
    assert secret.startswith("snt_") and token.digest != secret
    request = rf.get("/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert principal_of(request).role == "ingest"
    admin.post(f"/admin/tokens/{token.pk}/revoke/")
    assert principal_of(rf.get("/", HTTP_AUTHORIZATION=f"Bearer {secret}")).is_anonymous
    actions = list(
        AuditEntry.objects.filter(object_type="accounts.apitoken").values_list("action", flat=True)
    )
    assert actions == ["token.create", "token.revoke"]
    assert secret not in str(list(AuditEntry.objects.values_list("after", flat=True)))


def test_a_person_changes_their_password(
    client_as: Callable[[str], Client], people: dict[str, User]
) -> None:
    client = client_as("analyst")
    new = "a different long passphrase 9"
    response = client.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    people["analyst"].refresh_from_db()
    assert people["analyst"].check_password(new)
    assert client.get("/alerts/").status_code == 200  # still signed in


def users_cli(data_dir: Any, *args: str, password: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTINELLE_", "DJANGO_"))}
    return subprocess.run(
        [sys.executable, "-m", "sentinelle.cli.main", "users", *args, "--data-dir", str(data_dir)],
        input=f"{password}\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_users_cli_makes_the_first_admin(tmp_path: Any) -> None:
    create = ("create", "root", "--role", "admin")
    weak = users_cli(tmp_path, *create, password="short")
    assert weak.returncode == 2 and "password refused" in weak.stderr
    made = users_cli(tmp_path, *create, password=PASSWORD)
    assert made.returncode == 0, made.stderr
    again = users_cli(tmp_path, *create, password=PASSWORD)
    assert again.returncode == 2 and "exists already" in again.stderr
    assert users_cli(tmp_path, "list").stdout == "root\tadmin\tactive\n"
