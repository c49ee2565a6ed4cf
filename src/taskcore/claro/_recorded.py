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


def _plain(group: Collection[int]) -> Sequence[int]:
    if isinstance(group, range) and group.step == 1:
        return group
    return tuple(group)


class RecordedTargets:
    """A bitmap of recorded target indices of one task (mutable; guarded by its owner)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.flags = bytearray(total)
        self.batches = 0

    def check(self, groups: Sequence[Collection[int]]) -> list[Sequence[int]]:
        """Validate one batch; return its groups as ranges or tuples, changing nothing.

        Raises:
            ValidationError: an index out of ``0..total-1``, repeated in the batch, or
                already recorded.
        """
        plain = [_plain(g) for g in groups]
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
