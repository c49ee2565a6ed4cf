"""Stores: where taskcore keeps tasks, datasets and locks, one unit of work at a time.

:class:`Store` and :class:`Unit` are the port; :class:`MemoryStore` and
:class:`SqliteStore` implement it.
"""

from taskcore.store.memory import MemoryStore
from taskcore.store.port import Store, Unit
from taskcore.store.sqlite import SqliteStore

__all__ = ["MemoryStore", "SqliteStore", "Store", "Unit"]
