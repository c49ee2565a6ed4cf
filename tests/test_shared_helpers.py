"""The helpers every API slice shares: composite keys, bounded caches, the expiry index,
idempotency keys, and grids that keep their cell names."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskcore.cache import BoundedCache
from taskcore.claro.grid import CellTable, DefaultCellCodec, Grid
from taskcore.clock import ManualClock
from taskcore.errors import IdempotencyConflict, ValidationError
from taskcore.idempotency import IdempotencyKeys, fingerprint
from taskcore.keys import composite_key
from taskcore.retention import ExpiryIndex
from taskcore.store import MemoryStore

parts = st.lists(st.text(), min_size=1, max_size=4)


@given(parts, parts)
def test_composite_keys_are_equal_only_for_equal_parts(a: list[str], b: list[str]) -> None:
    assert (a == b) == (composite_key(*a) == composite_key(*b))


def test_a_composite_key_encodes_any_string_as_ascii() -> None:
    key = composite_key("a/b", "\ud800", "é")
    assert key.isascii()
    assert ["a/b", "\ud800", "é"] == json.loads(key)


def test_a_composite_key_part_must_be_a_string() -> None:
    with pytest.raises(TypeError):
        composite_key("a", 1)  # type: ignore[arg-type]


def test_a_bounded_cache_evicts_the_least_recently_used() -> None:
    cache: BoundedCache[str, int] = BoundedCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert 1 == cache.get("a")  # "a" is now the most recently used
    cache.put("c", 3)
    assert (1, None, 3, 2) == (cache.get("a"), cache.get("b"), cache.get("c"), len(cache))
    cache.pop("a")
    cache.pop("missing")
    assert 1 == len(cache)
    with pytest.raises(ValueError, match="at least 1"):
        BoundedCache(0)


def test_the_expiry_index_hands_out_what_is_due_oldest_first() -> None:
    clock = ManualClock()
    store = MemoryStore(clock)
    index = ExpiryIndex("expiry")
    with store.unit() as unit:
        for seconds, ref in ((30, "late"), (10, "early"), (20, "middle")):
            index.add(unit, clock.now() + timedelta(seconds=seconds), ref)
    clock.advance(20)
    with store.unit() as unit:
        assert ["early"] == index.pop_due(unit, 1)
        assert ["middle"] == index.pop_due(unit, 10)
        assert [] == index.pop_due(unit, 10)
    clock.advance(10)
    with store.unit() as unit:
        assert ["late"] == index.pop_due(unit, 10)


def test_idempotency_keys_conflict_expire_and_are_pruned() -> None:
    clock = ManualClock()
    store = MemoryStore(clock)
    keys = IdempotencyKeys("keys", timedelta(hours=1))
    same, other = fingerprint("create", {"a": 1}), fingerprint("create", {"a": 2})
    with store.unit() as unit:
        assert keys.recall(unit, ["acct"], "k", same) is None
        keys.remember(unit, ["acct"], "k", same, "task_1", {"answer": 1})
        assert {"answer": 1} == keys.recall(unit, ["acct"], "k", same)
        assert keys.recall(unit, ["other"], "k", other) is None
        with pytest.raises(IdempotencyConflict) as caught:
            keys.recall(unit, ["acct"], "k", other)
        assert "task_1" == caught.value.task_id
    clock.advance(3600)
    with store.unit() as unit:
        assert keys.recall(unit, ["acct"], "k", other) is None
        assert 1 == keys.prune(unit, 10)
        assert [] == list(unit.items("keys"))
    with pytest.raises(ValueError, match="positive"):
        IdempotencyKeys("keys", timedelta(0))


def test_a_key_used_again_after_expiry_is_not_pruned_by_its_old_index_entry() -> None:
    clock = ManualClock()
    store = MemoryStore(clock)
    keys = IdempotencyKeys("keys", timedelta(hours=1))
    with store.unit() as unit:
        keys.remember(unit, ["acct"], "k", "print-1", "task_1", 1)
    clock.advance(3600)
    with store.unit() as unit:
        keys.remember(unit, ["acct"], "k", "print-2", "task_2", 2)  # prunes the old entry
        assert 2 == keys.recall(unit, ["acct"], "k", "print-2")


def test_fingerprints_ignore_key_order() -> None:
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})


def test_a_grid_dump_keeps_its_cell_names_and_loads_them_back() -> None:
    table = CellTable({"cell_1": ("r1", "c1")})
    grid = Grid(["r1", "r2"], ["c1"], codec=table)
    dumped = json.loads(json.dumps(grid.dump()))
    assert {"cell_1": ["r1", "c1"]} == dumped["cellNames"]
    loaded = Grid.load(dumped)
    assert (table, "cell_1", "r2:c1") == (
        loaded.codec,
        loaded.cell_id("r1", "c1"),
        loaded.cell_id("r2", "c1"),
    )
    assert "cellNames" not in Grid(["r1"], ["c1"]).dump()
    assert DefaultCellCodec() == Grid.load(Grid(["r1"], ["c1"]).dump()).codec
    assert table != CellTable({"cell_2": ("r1", "c1")})
    assert table.__eq__(object()) is NotImplemented
    assert "1 names" in repr(table)


@pytest.mark.parametrize("names", [["cell_1"], {"cell_1": "r1"}, {"cell_1": ["r1", 2]}])
def test_a_dump_with_malformed_cell_names_is_refused(names: object) -> None:
    dumped = {**Grid(["r1"], ["c1"]).dump(), "cellNames": names}
    with pytest.raises(ValidationError) as caught:
        Grid.load(dumped)
    assert "cellNames" == caught.value.field
