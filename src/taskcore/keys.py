"""Store keys built from several parts, without ambiguity.

A key such as ``f"{account}/{key}"`` collides as soon as a part may contain the
separator: account ``a`` with key ``b/c`` and account ``a/b`` with key ``c`` are one
key.  :func:`composite_key` encodes the parts as a JSON array of strings instead (ASCII
only, so any string, lone surrogates included, encodes), which two different tuples of
parts never share.
"""

from __future__ import annotations

import json
from functools import lru_cache

__all__ = ["composite_key", "composite_range", "key_parts"]


def composite_key(*parts: str) -> str:
    """Return one store key for ``parts``: distinct tuples give distinct keys.

    >>> composite_key("a", "b/c") != composite_key("a/b", "c")
    True

    Raises:
        TypeError: a part is not a ``str``.
    """
    size = 0
    for part in parts:
        if not isinstance(part, str):
            raise TypeError(f"key parts must be str, not {type(part).__name__}")
        size += len(part)
    if size > _CACHED_LENGTH:
        return _dumps(parts)  # a long key is not kept: the cache stays small in bytes too
    return _encode(parts)


_CACHED_LENGTH = 256
"""The longest keys (total characters of their parts) :func:`composite_key` caches; at
most 4,096 of them, so the cache holds a few megabytes at most."""


def _dumps(parts: tuple[str, ...]) -> str:
    return json.dumps(parts, separators=(",", ":"))


_encode = lru_cache(maxsize=4096)(_dumps)  # the same (account, id) pairs recur on every call


def composite_range(*parts: str) -> tuple[str, str]:
    """Return ``(start, stop)`` such that the keys ``composite_key(*parts, *more)`` with
    at least one more part are exactly the keys ``k`` with ``start <= k < stop`` (for a
    :meth:`~taskcore.store.Unit.scan`).

    >>> start, stop = composite_range("a")
    >>> start <= composite_key("a", "b") < stop and not start <= composite_key("ab") < stop
    True

    Raises:
        TypeError: a part is not a ``str``.
    """
    whole = composite_key(*parts)
    start = whole[:-1] + ("," if parts else "")
    # Every longer key continues ``start``; the same text with its last character
    # incremented is the first string after all of them.
    return start, start[:-1] + chr(ord(start[-1]) + 1)


def key_parts(key: str) -> tuple[str, ...]:
    """Return the parts a :func:`composite_key` was built from."""
    return tuple(json.loads(key))
