"""Django settings, derived from the environment :func:`sentinelle.web.configure` sets.

Nothing here is meant to be edited by a hospital: the data folder holds the SQLite database,
the secret key (made on first use, readable by the owner only), uploaded evidence and the
journal; ``SENTINELLE_DATABASE_URL`` selects PostgreSQL instead of SQLite.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url

SENTINELLE_CONFIGURED = True
# Unset only when a tool imports the settings without a service (the type checker's plugin):
# then nothing is written anywhere and the key lives as long as the process.
_DATA_ENV = os.environ.get("SENTINELLE_DATA_DIR")
SENTINELLE_DATA_DIR = Path(_DATA_ENV).resolve() if _DATA_ENV else Path("/nonexistent/sentinelle")
BASE_DIR = Path(__file__).resolve().parent


def _secret_key(folder: Path) -> str:
    """The key signing sessions and CSRF tokens: ``$SENTINELLE_SECRET_KEY`` or a file made once."""
    env = os.environ.get("SENTINELLE_SECRET_KEY")
    if env:
        return env
    if not _DATA_ENV:
        return secrets.token_urlsafe(50)
    path = folder / "secret.key"
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(50)
    folder.mkdir(parents=True, exist_ok=True)
    # O_EXCL: two processes starting together agree on the first key written.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key)
    return key


SECRET_KEY = _secret_key(SENTINELLE_DATA_DIR)
DEBUG = os.environ.get("SENTINELLE_WEB_DEBUG") == "1"
ALLOWED_HOSTS = [h for h in os.environ.get("SENTINELLE_ALLOWED_HOSTS", "*").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "sentinelle.web.pipeline",
    "sentinelle.web.accounts",
    "sentinelle.web.alerts",
    "sentinelle.web.incidents",
    "sentinelle.web.ingest",
    "sentinelle.web.watch",
    "sentinelle.web.crisis",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "sentinelle.web.access.AccessMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "sentinelle.web.urls"
ASGI_APPLICATION = "sentinelle.web.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "sentinelle.web.navigation.context",
            ],
        },
    }
]


def _database() -> dict[str, object]:
    url = os.environ.get("SENTINELLE_DATABASE_URL")
    if url:
        config: dict[str, object] = dict(dj_database_url.parse(url, conn_max_age=60))
        return config
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": SENTINELLE_DATA_DIR / "sentinelle.db",
        # WAL lets the web app read while the detector writes; IMMEDIATE transactions take the
        # write lock at BEGIN, so a writer waits (busy timeout) instead of failing mid-way.
        "OPTIONS": {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
            ),
        },
    }


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

# Lockout (django-axes): five failures for one account from one address lock it for 15 minutes.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "accounts/locked.html"

# Sessions: server-side rows, renewed at login (Django cycles the key), expiring after 12 hours
# (a night shift) or when the browser closes.
SESSION_COOKIE_AGE = 12 * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = os.environ.get("SENTINELLE_SECURE_COOKIES") == "1"
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# Security headers on every response.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = os.environ.get("SENTINELLE_TIME_ZONE", "Europe/Paris")
USE_TZ = True

# Served by a view of the app itself (sentinelle.web.views.static_file), from the package: no
# collectstatic step, no CDN, nothing fetched at view time.
STATIC_URL = "/static/"
STATIC_ROOT = SENTINELLE_DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = SENTINELLE_DATA_DIR / "evidence"  # never served by URL: downloads go through a view
# Evidence files larger than this are refused (before anything is written under MEDIA_ROOT).
SENTINELLE_EVIDENCE_MAX_BYTES = int(os.environ.get("SENTINELLE_EVIDENCE_MAX_BYTES") or 64 << 20)
DATA_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": os.environ.get("SENTINELLE_LOG_LEVEL", "WARNING")},
}


# Single sign-on (OpenID Connect through mozilla-django-oidc): on only when a client id is
# configured, and then every endpoint must be given too (a half-configured SSO fails at start,
# not at the first login). Local accounts keep working beside it; people signing in through it
# get the role their groups map to (sentinelle.web.accounts.oidc), a viewer's by default.
def _oidc_endpoint(name: str) -> str:
    from django.core.exceptions import ImproperlyConfigured

    value = os.environ.get(f"SENTINELLE_OIDC_{name}", "").strip()
    if not value:
        raise ImproperlyConfigured(
            f"SENTINELLE_OIDC_CLIENT_ID is set, so SENTINELLE_OIDC_{name} must be set too"
        )
    return value


OIDC_ENABLED = bool(os.environ.get("SENTINELLE_OIDC_CLIENT_ID", "").strip())
if OIDC_ENABLED:
    OIDC_RP_CLIENT_ID = os.environ["SENTINELLE_OIDC_CLIENT_ID"].strip()
    OIDC_RP_CLIENT_SECRET = os.environ.get("SENTINELLE_OIDC_CLIENT_SECRET", "")
    OIDC_OP_AUTHORIZATION_ENDPOINT = _oidc_endpoint("AUTHORIZATION_ENDPOINT")
    OIDC_OP_TOKEN_ENDPOINT = _oidc_endpoint("TOKEN_ENDPOINT")
    OIDC_OP_USER_ENDPOINT = _oidc_endpoint("USER_ENDPOINT")
    OIDC_OP_JWKS_ENDPOINT = _oidc_endpoint("JWKS_ENDPOINT")
    OIDC_RP_SIGN_ALGO = os.environ.get("SENTINELLE_OIDC_SIGN_ALGO", "RS256")
    OIDC_RP_SCOPES = os.environ.get("SENTINELLE_OIDC_SCOPES", "openid email profile")
    OIDC_ROLE_CLAIM = os.environ.get("SENTINELLE_OIDC_ROLE_CLAIM", "groups")
    # "admin=soc-admins,analyst=soc": which group gives which role (the highest one wins).
    OIDC_ROLE_MAP = os.environ.get("SENTINELLE_OIDC_ROLE_MAP", "")
    LOGIN_REDIRECT_URL_FAILURE = "/login/"
    INSTALLED_APPS.append("mozilla_django_oidc")
    AUTHENTICATION_BACKENDS.append("sentinelle.web.accounts.oidc.RoleOIDCBackend")
