"""The store and the crisis room: a Django project above the detection stages.

The engine, the readers and the hospital model know nothing of this package; it calls them. One
Django app per capability (``accounts``, ``alerts``, ``incidents``, ``core``; later ``crisis``
and ``watch``), each with its models, migrations, views and templates. The same models are the
store of ``sentinelle serve`` (its detector writes alerts through them) and of the web app.

:func:`configure` is the one way a process gets Django ready: settings come from the data folder
and a database URL, never from a settings module a user edits.
"""

from __future__ import annotations

import os
from pathlib import Path

SETTINGS_MODULE = "sentinelle.web.settings"


def configure(data_dir: Path, database_url: str | None = None, *, migrate: bool = False) -> None:
    """Set up Django for a data folder (SQLite in it unless ``database_url`` names another).

    Idempotent within a process for the same folder; ``migrate`` brings the schema up to date
    (the service does it at start, under a lock, so two processes never migrate at once).
    """
    import django
    from django.conf import settings

    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["SENTINELLE_DATA_DIR"] = str(data_dir)
    if database_url:
        os.environ["SENTINELLE_DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    if not settings.configured or not getattr(settings, "SENTINELLE_CONFIGURED", False):
        django.setup()
    if migrate:
        migrate_schema()


def migrate_schema() -> None:
    """Apply every pending migration (Django's own migration engine; none written by hand)."""
    import fcntl

    from django.conf import settings
    from django.core.management import call_command

    lock_path = Path(settings.SENTINELLE_DATA_DIR) / ".migrate.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        call_command("migrate", interactive=False, verbosity=0)
