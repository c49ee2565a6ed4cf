"""The recorded-targets bitmap behind ``ClaroTasks.record``: ranges and loose indices
checked alike, against a naive set model."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskcore import ValidationError
from taskcore.claro._recorded import RecordedTargets, decode_group, encode_group

TOTAL = 40

groups = st.one_of(
    st.builds(lambda a, n: range(a, a + n), st.integers(-2, TOTAL), st.integers(0, 8)),
    st.lists(st.integers(-2, TOTAL + 1), max_size=6),
)


def naive_error(recorded: set[int], batch: Sequence[Sequence[int]]) -> bool:
    flat = [i for g in batch for i in g]
    return (
        any(not 0 <= i < TOTAL for i in flat)
        or len(set(flat)) != len(flat)
        or bool(recorded & set(flat))
    )


@given(st.lists(st.lists(groups, min_size=1, max_size=3), max_size=8))
def test_bitmap_agrees_with_a_set_and_a_refusal_marks_nothing(
    batches: list[list[Sequence[int]]],
) -> None:
    recorded: set[int] = set()
    bitmap = RecordedTargets(TOTAL)
    for batch in batches:
        before = bytes(bitmap.flags)
        if naive_error(recorded, batch):
            with pytest.raises(ValidationError):
                bitmap.check(batch)
            assert before == bytes(bitmap.flags)
            continue
        bitmap.mark(bitmap.check(batch))
        recorded.update(i for g in batch for i in g)
        assert len(recorded) == bitmap.count
        assert recorded == {i for i, flag in enumerate(bitmap.flags) if flag}


def test_already_recorded_targets_are_named() -> None:
    bitmap = RecordedTargets(10)
    bitmap.mark(bitmap.check([range(3), [7]]))
    with pytest.raises(ValidationError, match="already recorded: 2"):
        bitmap.check([range(2, 4)])
    with pytest.raises(ValidationError, match="already recorded: 7"):
        bitmap.check([[7, 8]])
    with pytest.raises(ValidationError, match="already recorded: 1"):
        bitmap.check([[1]])
    with pytest.raises(ValidationError, match="more than once"):
        bitmap.check([range(4, 6), [5]])
    with pytest.raises(ValidationError, match=r"0\.\.9"):
        bitmap.check([range(8, 11)])


@pytest.mark.parametrize("group", [range(3, 9), [4, 1, 2], []])
def test_groups_round_trip_through_the_store_encoding(group: Sequence[int]) -> None:
    assert list(group) == list(decode_group(encode_group(group)))
