"""Text checks every layer shares: what a stored or echoed string may hold.

- :data:`LONE_SURROGATE`: a code point that is half of a UTF-16 pair, which no UTF-8
  encoder (SQLite, PostgreSQL, a JSON body on the wire) can write.
- :data:`UNFIT`: control characters (C0, DEL, C1) and lone surrogates, never part of an
  id, a key or a name a caller gives.
- :func:`is_storable`: text a database can hold: no lone surrogate and no NUL
  (PostgreSQL text cannot hold NUL, and SQLite's JSON functions cut a string at it).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["LONE_SURROGATE", "UNFIT", "has_lone_surrogate", "is_storable"]

LONE_SURROGATE: Final = re.compile("[\ud800-\udfff]")
UNFIT: Final = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def has_lone_surrogate(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate (ASCII text never does: checked first)."""
    return not text.isascii() and LONE_SURROGATE.search(text) is not None


def is_storable(text: str) -> bool:
    """Whether a database can store ``text``: no NUL and no lone surrogate."""
    return "\x00" not in text and not has_lone_surrogate(text)
