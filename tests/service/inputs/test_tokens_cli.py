"""``sentinelle tokens``: create prints the token alone, stored hashed; list; revoke."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path


def tokens_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTINELLE_", "DJANGO_"))}
    return subprocess.run(
        [sys.executable, "-m", "sentinelle.cli.main", "tokens", *args, "--data-dir", str(data_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def stored(data_dir: Path) -> list[tuple[str, str, str, object]]:
    with sqlite3.connect(data_dir / "sentinelle.db") as db:
        return db.execute(
            "SELECT name, role, digest, revoked FROM accounts_apitoken ORDER BY id"
        ).fetchall()


def test_tokens_are_created_listed_and_revoked(tmp_path: Path) -> None:
    made = tokens_cli(tmp_path, "create", "--role", "ingest", "--name", "winlogbeat-dc1")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert made.stdout == token + "\n" and token.startswith("snt_") and len(token) > 40
    ((name, role, digest, revoked),) = stored(tmp_path)
    assert (name, role, revoked) == ("winlogbeat-dc1", "ingest", None)
    assert digest == hashlib.sha256(token.encode()).hexdigest()  # the token itself is not kept

    assert tokens_cli(tmp_path, "create", "--role", "api").returncode == 0
    listed = tokens_cli(tmp_path, "list").stdout.splitlines()
    assert [line.split("\t")[:3] for line in listed] == [
        ["winlogbeat-dc1", "ingest", token[:10] + "…"],
        ["api", "api", listed[1].split("\t")[2]],
    ]
    assert all(line.endswith("\tactive") for line in listed)

    assert tokens_cli(tmp_path, "revoke", token[:10]).stdout == "revoked 1 token\n"
    assert stored(tmp_path)[0][3] is not None and stored(tmp_path)[1][3] is None
    missing = tokens_cli(tmp_path, "revoke", "winlogbeat-dc1")
    assert missing.returncode == 2 and "no active token" in missing.stderr
    bad = tokens_cli(tmp_path, "create", "--role", "root")
    assert bad.returncode != 0 and "ingest, api, admin" in bad.stderr
