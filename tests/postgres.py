"""A throwaway PostgreSQL server for the tests: Debian's binaries, a temporary folder, loopback.

``initdb`` and ``pg_ctl`` from ``/usr/lib/postgresql/*/bin`` (the ``postgresql`` package, which
``.ci/run`` installs) make a cluster in a fresh folder and start it on a free loopback port with
trust authentication and no fsync (the data is thrown away). PostgreSQL refuses to run as root,
so under root the folder is given to the ``postgres`` account (or ``nobody``) and the server runs
as that user through ``setpriv``; the tests keep connecting as the cluster's superuser.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "sentinelle"


def binaries() -> Path | None:
    """The newest installed PostgreSQL's ``bin`` folder, or None."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else None


def missing_reason() -> str | None:
    if binaries() is None:
        return (
            "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin "
            "(apt-get install postgresql; .ci/run does)"
        )
    if os.geteuid() == 0 and _service_account() is None:
        return "running as root and no 'postgres' or 'nobody' account to run the server as"
    return None


def _service_account() -> pwd.struct_passwd | None:
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True, slots=True)
class PostgresServer:
    folder: Path
    port: int

    @property
    def url(self) -> str:
        """The database URL of the cluster's ``postgres`` database (dj-database-url syntax)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"


@contextlib.contextmanager
def running_server() -> Iterator[PostgresServer]:
    """Start a throwaway server; stop it and remove its folder afterwards."""
    reason = missing_reason()
    if reason:
        raise RuntimeError(reason)
    bin_dir = binaries()
    assert bin_dir is not None
    folder = Path(tempfile.mkdtemp(prefix="sentinelle-pg-"))
    data = folder / "data"
    prefix: list[str] = []
    if os.geteuid() == 0:
        account = _service_account()
        assert account is not None
        os.chown(folder, account.pw_uid, account.pw_gid)
        prefix = [
            "setpriv",
            f"--reuid={account.pw_uid}",
            f"--regid={account.pw_gid}",
            "--clear-groups",
            "--",
        ]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "TZ": "UTC"}
    port = _free_port()
    started = False
    try:
        subprocess.run(
            [
                *prefix,
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--no-sync",
                "--encoding=UTF8",
            ],
            check=True,
            capture_output=True,
            env=env,
            cwd=folder,
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories='{folder}'"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=60"
        )
        subprocess.run(
            [
                *prefix,
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(folder / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            capture_output=True,
            env=env,
            cwd=folder,
        )
        started = True
        yield PostgresServer(folder, port)
    except subprocess.CalledProcessError as exc:
        log = folder / "server.log"
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(
            f"throwaway PostgreSQL failed: {exc.stderr.decode(errors='replace')}{detail}"
        ) from exc
    finally:
        if started:
            subprocess.run(
                [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
                env=env,
                cwd=folder,
                check=False,
            )
        shutil.rmtree(folder, ignore_errors=True)
