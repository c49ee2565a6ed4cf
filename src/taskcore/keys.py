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

__all__ = ["composite_key"]


def composite_key(*parts: str) -> str:
    """Return one store key for ``parts``: distinct tuples give distinct keys.

    >>> composite_key("a", "b/c") != composite_key("a/b", "c")
    True

    Raises:
        TypeError: a part is not a ``str``.
    """
    for part in parts:
        if not isinstance(part, str):
            raise TypeError(f"key parts must be str, not {type(part).__name__}")
    return _encode(parts)


@lru_cache(maxsize=4096)  # bounded: the same (account, id) pairs recur on every call
def _encode(parts: tuple[str, ...]) -> str:
    return json.dumps(parts, separators=(",", ":"))
