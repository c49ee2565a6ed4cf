"""Stores: where taskcore keeps tasks, datasets and locks, one unit of work at a time.

:class:`Store` and :class:`Unit` are the port; :class:`MemoryStore`,
:class:`SqliteStore` and :class:`PostgresStore` implement it, with its extension for
filtered, sorted listings (:mod:`taskcore.store.rows`: :class:`RowTable`,
:class:`RowsUnit`).

``PostgresStore`` is imported on first use (``from taskcore.store import
PostgresStore``), so importing this package does not need psycopg, which only the
optional extra ``taskcore[postgres]`` installs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskcore.store.memory import MemoryStore
from taskcore.store.port import Store, Unit
from taskcore.store.rows import Between, Eq, In, RowsStore, RowsUnit, RowTable
from taskcore.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from taskcore.store.postgres import PostgresStore

__all__ = [
    "Between",
    "Eq",
    "In",
    "MemoryStore",
    "PostgresStore",
    "RowTable",
    "RowsStore",
    "RowsUnit",
    "SqliteStore",
    "Store",
    "Unit",
]


def __getattr__(name: str) -> Any:
    """Import :class:`PostgresStore` on first use (it needs psycopg).

    Raises:
        ImportError: psycopg is not installed (``pip install 'taskcore[postgres]'``).
        AttributeError: no such name in this package.
    """
    if name == "PostgresStore":
        try:
            from taskcore.store.postgres import PostgresStore
        except ImportError as error:
            raise ImportError(
                "PostgresStore needs psycopg 3: pip install 'taskcore[postgres]'"
            ) from error
        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
