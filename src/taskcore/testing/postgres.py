"""A throw-away PostgreSQL server for tests and benchmarks of a :class:`PostgresStore
<taskcore.store.postgres.PostgresStore>` (docs/stores.md, "Running it").

:func:`start_postgres` runs ``initdb`` and ``pg_ctl`` from PostgreSQL's server binaries
(Debian's ``postgresql`` package puts them in ``/usr/lib/postgresql/<version>/bin``) in
a new temporary directory, on a free port of 127.0.0.1 with ``trust`` authentication
and no ``fsync`` (the data is thrown away), as the ``postgres`` user when the caller is
root (the server refuses to run as root), and stops the server and removes the
directory when its ``with`` block ends, however it ends.

It needs the server binaries only; nothing is installed.  Without them it raises
:class:`PostgresUnavailable`, naming the package to install.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["INSTALL_HINT", "PostgresUnavailable", "server_binaries", "start_postgres", "wipe"]

INSTALL_HINT = "apt-get install -y postgresql"
"""The command that installs PostgreSQL's server binaries on Debian and Ubuntu."""

_BINARIES = "/usr/lib/postgresql/*/bin"
_START_ATTEMPTS = 3  # a free port may be taken by someone else before the server binds it


class PostgresUnavailable(RuntimeError):
    """PostgreSQL's server binaries are missing, or the server did not start; the
    message says why (and, for missing binaries, what to install)."""


def server_binaries(pattern: str = _BINARIES) -> Path:
    """The directory of the newest PostgreSQL server binaries found by ``pattern`` (a
    glob whose matches hold ``pg_ctl``).

    Raises:
        PostgresUnavailable: none found; the message names :data:`INSTALL_HINT`.
    """
    found = sorted(
        glob.glob(os.path.join(pattern, "pg_ctl")),
        key=lambda path: [int(part) if part.isdigit() else 0 for part in Path(path).parts],
    )
    if not found:
        raise PostgresUnavailable(
            f"PostgreSQL's server binaries are missing ({pattern}): run `{INSTALL_HINT}`"
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


def _run(command: list[str], timeout: float) -> None:
    """Run a server command; its failure becomes :class:`PostgresUnavailable`."""
    try:
        subprocess.run(_as_server_user(command), check=True, capture_output=True, timeout=timeout)
    except subprocess.CalledProcessError as error:
        output = (error.stderr or error.stdout or b"").decode(errors="replace").strip()
        raise PostgresUnavailable(f"{Path(command[0]).name} failed: {output}") from error
    except subprocess.TimeoutExpired as error:  # pragma: no cover - a hung server
        raise PostgresUnavailable(
            f"{Path(command[0]).name} did not finish in {timeout:g} seconds"
        ) from error


@contextmanager
def start_postgres(
    *, timeout: float = 120.0, pattern: str = _BINARIES, parent: str | Path | None = None
) -> Iterator[str]:
    """Start a fresh PostgreSQL server for the ``with`` block and yield the DSN of its
    ``postgres`` database (user ``postgres``, no password), say
    ``"host=127.0.0.1 port=40123 user=postgres dbname=postgres"``.

    Args:
        timeout: seconds each of ``initdb``, ``pg_ctl start`` and ``pg_ctl stop`` may
            take.
        pattern: where to look for the server binaries (see :func:`server_binaries`).
        parent: the directory in which the server's temporary directory is made
            (``None``: the system's, see :func:`tempfile.gettempdir`); when run as root,
            the ``postgres`` user must be able to enter it.

    Raises:
        PostgresUnavailable: the binaries are missing, or the server did not start
            (after three ports were tried); nothing is left running and the temporary
            directory is removed.
    """
    bin_dir = server_binaries(pattern)
    base = Path(tempfile.mkdtemp(prefix="taskcore-pg-", dir=parent))
    data = base / "data"
    try:
        if os.geteuid() == 0:
            shutil.chown(base, "postgres", "postgres")
        initdb = [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
        _run([*initdb, "-E", "UTF8", "--no-sync"], timeout)
        for attempt in range(_START_ATTEMPTS):
            port = _free_port()
            options = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off"
            start = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log")]
            try:
                _run([*start, "-o", options, "-w", "start"], timeout)
                break
            except PostgresUnavailable:
                if attempt + 1 == _START_ATTEMPTS:
                    raise
        yield f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
    finally:
        if data.exists():  # a server may run there, even after a failed start
            subprocess.run(
                _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
                check=False,
                capture_output=True,
                timeout=timeout,
            )
        shutil.rmtree(base, ignore_errors=True)


def wipe(dsn: str) -> None:
    """Drop every table of the database's ``public`` schema, so the next store opened on
    ``dsn`` starts empty (for tests; needs psycopg).

    Raises:
        psycopg.Error: the database could not be reached or a table not dropped.
    """
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as connection:
        names = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        for (name,) in names:
            connection.execute(sql.SQL("DROP TABLE {} CASCADE").format(sql.Identifier(name)))
