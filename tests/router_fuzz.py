"""Hostile input strategies every router's property test draws from."""

from __future__ import annotations

import json

from hypothesis import strategies as st

HOSTILE_SEGMENTS = ["", ".", "..", "%00", "%ff", "%2F", "%25", "%C3%A9", "\ud800", "a\n", "%", "%e"]
"""Path segments that test strict percent-decoding: empty, dots, bad escapes, surrogates."""

json_bodies = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
).map(lambda value: json.dumps(value).encode())
"""Any JSON value (NaN and infinities included, as ``json.dumps`` writes them), as bytes."""
