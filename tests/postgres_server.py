"""A throw-away PostgreSQL server for the suite (a pytest plugin, see conftest.py).

The session fixture :func:`postgres_dsn` runs ``initdb`` and ``pg_ctl`` from
``/usr/lib/postgresql/*/bin`` in a temporary directory, on a free port of 127.0.0.1 with
``trust`` authentication, as the ``postgres`` user when the suite runs as root (the
server refuses to run as root), and stops the server when the session ends.  With the
binaries missing it fails, naming the package to install: it never skips.  Each pytest
worker gets its own server.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

INSTALL_HINT = "apt-get install -y postgresql"


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        pytest.fail(
            f"PostgreSQL's server binaries are missing (/usr/lib/postgresql/*/bin): "
            f"run `{INSTALL_HINT}`",
            pytrace=False,
        )
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """The DSN of a fresh PostgreSQL server's ``postgres`` database, for this session."""
    bin_dir = _binaries()
    base = Path(tempfile.mkdtemp(prefix="taskcore-pg-"))
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    port = _free_port()
    log = base / "server.log"
    run = {"check": True, "capture_output": True, "timeout": 120}
    try:
        subprocess.run(
            _as_server_user(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            ),
            **run,  # type: ignore[call-overload]
        )
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off"
        subprocess.run(
            _as_server_user(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(log),
                    "-o",
                    options,
                    "-w",
                    "start",
                ]
            ),
            **run,  # type: ignore[call-overload]
        )
    except subprocess.CalledProcessError as error:
        pytest.fail(f"PostgreSQL did not start: {error.stderr!r}", pytrace=False)
    try:
        yield f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
    finally:
        subprocess.run(
            _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
            check=False,
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(base, ignore_errors=True)


def wipe(dsn: str) -> None:
    """Drop every table of the database's ``public`` schema: the next store starts empty."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        names = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        for (name,) in names:
            connection.execute(sql.SQL("DROP TABLE {} CASCADE").format(sql.Identifier(name)))
