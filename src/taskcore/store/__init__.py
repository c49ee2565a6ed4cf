"""Stores: where taskcore keeps tasks, datasets and locks, one unit of work at a time.

:class:`Store` and :class:`Unit` are the port; :class:`MemoryStore` and
:class:`SqliteStore` implement it, with its extension for filtered, sorted listings
(:mod:`taskcore.store.rows`: :class:`RowTable`, :class:`RowsUnit`).
"""

from taskcore.store.memory import MemoryStore
from taskcore.store.port import Store, Unit
from taskcore.store.rows import Between, Eq, In, RowsStore, RowsUnit, RowTable
from taskcore.store.sqlite import SqliteStore

__all__ = [
    "Between",
    "Eq",
    "In",
    "MemoryStore",
    "RowTable",
    "RowsStore",
    "RowsUnit",
    "SqliteStore",
    "Store",
    "Unit",
]
