"""Which targets of a task already have an outcome: one byte per target.

Recording must cost little more than counting (issue 5's budget), so a batch is checked
and marked with C-level operations: a contiguous ``range`` (what a worker that walks the
targets in order sends) is one ``find`` and one slice assignment; any other collection
is bounds-checked with ``min``/``max`` and looked up with ``operator.itemgetter``.
Marking is idempotent, so two threads catching the same cache up cannot corrupt it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from itertools import pairwise
from operator import itemgetter
from typing import Any

from taskcore.errors import ValidationError

__all__ = ["RecordedTargets", "decode_group", "encode_group"]


def encode_group(group: Collection[int]) -> Any:
    """A batch group as a store keeps it: ``{"range": [start, stop]}`` or a list."""
    if isinstance(group, range) and group.step == 1:
        return {"range": [group.start, group.stop]}
    return list(group)


def decode_group(doc: Any) -> Sequence[int]:
    """The inverse of :func:`encode_group`."""
    if isinstance(doc, dict):
        return range(*doc["range"])
    return list(doc)


_INT_ONLY = {int}


def _plain(group: Collection[int], name: str) -> Sequence[int]:
    """``group`` as a step-1 range or a tuple of ``int`` (C-level type check).

    Raises:
        ValidationError: ``group`` is not a collection, or holds anything but ``int``
            (a bool, a float such as ``1.0``, a string, ``None``); ``field`` is ``name``.
    """
    if isinstance(group, range) and group.step == 1:
        return group
    try:
        plain = tuple(group)
    except TypeError:
        raise ValidationError(
            f"{name} must be a collection of target indices", field=name
        ) from None
    if plain and set(map(type, plain)) != _INT_ONLY:
        raise ValidationError(
            f"{name}: target indices are integers (not bools, floats or strings)", field=name
        )
    return plain


def _names(count: int) -> tuple[str, ...]:
    """Default group names: ``ClaroTasks.record``'s keywords, or ``RowOutcome.index``."""
    return ("succeeded", "failed") if count == 2 else ("index",) * count


class RecordedTargets:
    """A bitmap of recorded target indices of one task (mutable; guarded by its owner)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.flags = bytearray(total)
        self.batches = 0

    def check(
        self, groups: Sequence[Collection[int]], names: Sequence[str] | None = None
    ) -> list[Sequence[int]]:
        """Validate one batch; return its groups as ranges or tuples, changing nothing.

        Args:
            groups: the batch's groups of target indices (ranges or collections).
            names: each group's field name for errors; by default ``succeeded`` and
                ``failed`` for two groups (``ClaroTasks.record``), else ``index``.

        Raises:
            ValidationError: a group that is not a collection of ``int`` (``field`` names
                the group), an index out of ``0..total-1``, repeated in the batch, or
                already recorded.
        """
        names = _names(len(groups)) if names is None else names
        plain = [_plain(g, name) for g, name in zip(groups, names, strict=True)]
        flags, total = self.flags, self.total
        for group in plain:
            if not group:
                continue
            low, high = (
                (group.start, group.stop - 1)
                if isinstance(group, range)
                else (min(group), max(group))
            )
            if low < 0 or high >= total:
                raise ValidationError(f"Target indices must lie in 0..{total - 1}")
        self._refuse_repeats(plain)
        for group in plain:
            if isinstance(group, range):
                hit = flags.find(1, group.start, group.stop) if group else -1
                if hit != -1:
                    raise ValidationError(f"Target(s) already recorded: {hit}")
            elif group:
                seen = itemgetter(*group)(flags)
                if (seen if len(group) == 1 else any(seen)):  # fmt: skip
                    again = sorted(i for i in group if flags[i])[:10]
                    raise ValidationError(
                        f"Target(s) already recorded: {', '.join(map(str, again))}"
                    )
        return plain

    @staticmethod
    def _refuse_repeats(groups: list[Sequence[int]]) -> None:
        ranges = sorted((g.start, g.stop) for g in groups if isinstance(g, range) and g)
        others = [g for g in groups if not isinstance(g, range)]
        overlap = any(a_stop > b_start for (_, a_stop), (b_start, _) in pairwise(ranges))
        if not overlap and others:
            loose = [i for g in others for i in g]
            unique = set(loose)
            in_ranges = any(start <= i < stop for start, stop in ranges for i in unique)
            overlap = len(unique) != len(loose) or in_ranges
        if overlap:
            raise ValidationError("A target index appears more than once in the batch")

    def mark(self, groups: Sequence[Sequence[int]]) -> None:
        """Mark a checked batch as recorded."""
        flags = self.flags
        for group in groups:
            if isinstance(group, range):
                flags[group.start : group.stop] = b"\1" * len(group)
            else:
                for index in group:
                    flags[index] = 1

    @property
    def count(self) -> int:
        """How many targets are recorded."""
        return self.total - self.flags.count(0)
