"""A throw-away PostgreSQL server for the suite (a pytest plugin, see conftest.py).

The session fixture :func:`postgres_dsn` starts one with
:func:`taskcore.testing.postgres.start_postgres` (``initdb`` and ``pg_ctl`` in a
temporary directory, on a free port of 127.0.0.1) and stops it when the session ends.
Each pytest worker gets its own server.  With the binaries missing it fails, naming the
package to install: it never skips.  (``make test`` installs the package first when it
can: see the Makefile's ``postgresql`` target.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from taskcore.testing.postgres import PostgresUnavailable, start_postgres, wipe

__all__ = ["postgres_dsn", "wipe"]


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """The DSN of a fresh PostgreSQL server's ``postgres`` database, for this session."""
    with ExitStack() as stack:
        try:
            dsn = stack.enter_context(start_postgres())
        except PostgresUnavailable as error:
            pytest.fail(str(error), pytrace=False)
        yield dsn
