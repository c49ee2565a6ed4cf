"""Row tables (taskcore.store.rows) on both stores: declarations, checks, and the three
queries against a naive filter-sort-slice model under Hypothesis' stateful testing."""

from __future__ import annotations

import itertools
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from postgres_server import wipe
from taskcore.store import Between, Eq, In, MemoryStore, RowsStore, RowTable, SqliteStore
from taskcore.store.postgres import PostgresStore
from taskcore.store.rows import Condition, Value, Where

TABLE = RowTable(
    "things",
    {"colour": str, "size": int, "owner": str},
    sortable=("colour", "size", "owner"),
    indexes=[("owner", "size")],
)
COLOURS = ["red", "green", "blue", "Red", "é"]
OWNERS = ["ann", "bob", "cy"]
KEYS = [f"k{i}" for i in range(12)] + ["K", "é", "k10a"]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RowsStore]:
    made: RowsStore
    if request.param == "postgres":
        dsn = request.getfixturevalue("postgres_dsn")
        wipe(dsn)
        made = PostgresStore(dsn)
    else:
        made = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "r.db")
    with made:
        yield made


def row(colour: str = "red", size: int = 1, owner: str = "ann") -> dict[str, Value]:
    return {"colour": colour, "size": size, "owner": owner}


# -- declarations ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["", "Things", "1things", "th ings", "th;drop", "a__b", "key", "x" * 49, 3]
)
def test_a_row_table_name_is_a_lower_case_identifier(name: Any) -> None:
    with pytest.raises(ValueError, match="identifier"):
        RowTable(name, {"a": str})


def test_a_row_table_refuses_bad_columns_and_unknown_sortable_or_indexed_columns() -> None:
    with pytest.raises(ValueError, match="identifier"):
        RowTable("t", {"key": str})
    with pytest.raises(ValueError, match="str or int"):
        RowTable("t", {"a": float})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="at least one column"):
        RowTable("t", {})
    with pytest.raises(ValueError, match="not a column"):
        RowTable("t", {"a": str}, sortable=["b"])
    with pytest.raises(ValueError, match="not a column"):
        RowTable("t", {"a": str}, indexes=[("a", "b")])


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"colour": "red", "size": 1}, "exactly the columns"),
        ({**row(), "extra": 1}, "exactly the columns"),
        (row(size=True), "holds int"),
        (row(size="1"), "holds int"),  # type: ignore[arg-type]
        (row(colour=1), "holds str"),  # type: ignore[arg-type]
        (row(size=2**63), "64-bit"),
        (row(colour="a\ud800"), "lone surrogate"),
    ],
)
def test_a_bad_row_is_refused_and_writes_nothing(
    store: RowsStore, values: dict[str, Any], message: str
) -> None:
    with store.unit() as unit:
        unit.put_row(TABLE, "kept", row())
        with pytest.raises(ValueError, match=message):
            unit.put_row(TABLE, "bad", values)
    with store.unit(readonly=True) as unit:
        assert ["kept"] == unit.select(TABLE, {})


@pytest.mark.parametrize(
    ("where", "order_by", "message"),
    [
        ({"nope": Eq("x")}, None, "not a column"),
        ({"size": Eq("1")}, None, "holds int"),
        ({"colour": In({"red", 2})}, None, "holds str"),
        ({"size": Between(1, "9")}, None, "holds int"),
        ({"colour": "red"}, None, "not a condition"),
        ({"colour": Eq("\udfff")}, None, "lone surrogate"),
        ({}, "nope", "not a sortable column"),
    ],
)
def test_a_bad_query_is_refused(
    store: RowsStore, where: Any, order_by: str | None, message: str
) -> None:
    with store.unit(readonly=True) as unit, pytest.raises(ValueError, match=message):
        unit.select(TABLE, where, order_by=order_by)


@pytest.mark.parametrize(("offset", "limit"), [(-1, None), (0, -1), (True, None), (0, 1.5)])
def test_a_negative_or_non_integer_page_is_refused(
    store: RowsStore, offset: Any, limit: Any
) -> None:
    with store.unit(readonly=True) as unit, pytest.raises(ValueError, match="whole number"):
        unit.select(TABLE, {}, offset=offset, limit=limit)


def test_distinct_refuses_a_column_the_table_does_not_have(store: RowsStore) -> None:
    with store.unit(readonly=True) as unit, pytest.raises(ValueError, match="not a column"):
        unit.distinct(TABLE, ["colour", "nope"], {})


def test_a_read_unit_refuses_to_write_rows(store: RowsStore) -> None:
    with store.unit(readonly=True) as unit:
        with pytest.raises(RuntimeError, match="read-only"):
            unit.put_row(TABLE, "k", row())
        with pytest.raises(RuntimeError, match="read-only"):
            unit.delete_row(TABLE, "k")


def test_a_table_never_written_answers_empty(store: RowsStore) -> None:
    with store.unit(readonly=True) as unit:
        assert [] == unit.select(TABLE, {"colour": Eq("red")}, order_by="size")
        assert 0 == unit.count(TABLE, {})
        assert [] == unit.distinct(TABLE, ["colour"], {})
    with store.unit() as unit:
        unit.delete_row(TABLE, "missing")


def test_one_name_declared_twice_otherwise_is_refused(store: RowsStore) -> None:
    other = RowTable("things", {"colour": str})
    with store.unit() as unit:
        unit.put_row(TABLE, "k", row())
    with store.unit(readonly=True) as unit, pytest.raises(ValueError, match="otherwise"):
        unit.count(other, {})


def test_a_rolled_back_unit_leaves_no_row_and_no_index_entry(store: RowsStore) -> None:
    with store.unit() as unit:
        unit.put_row(TABLE, "a", row("red", 1))

    def boom() -> None:
        with store.unit() as unit:
            unit.put_row(TABLE, "a", row("blue", 5))
            unit.put_row(TABLE, "b", row("green", 2))
            unit.delete_row(TABLE, "a")
            raise KeyError("boom")

    with pytest.raises(KeyError):
        boom()
    with store.unit(readonly=True) as unit:
        assert ["a"] == unit.select(TABLE, {}, order_by="size")
        assert [("red", 1)] == unit.distinct(TABLE, ["colour", "size"], {})
        assert 0 == unit.count(TABLE, {"colour": Eq("blue")})


def test_a_large_set_of_values_is_one_parameter(store: RowsStore) -> None:
    with store.unit() as unit:
        unit.put_row(TABLE, "a", row(owner="ann"))
    owners = {f"user{i}" for i in range(40_000)} | {"ann"}  # past SQLite's variable limit
    with store.unit(readonly=True) as unit:
        assert ["a"] == unit.select(TABLE, {"owner": In(owners)})
        assert 0 == unit.count(TABLE, {"owner": In(set())})


def test_sqlite_rows_survive_a_reopen_and_a_changed_declaration_is_refused(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "r.db") as store, store.unit() as unit:
        unit.put_row(TABLE, "a", row())
    with SqliteStore(tmp_path / "r.db") as store, store.unit(readonly=True) as unit:
        assert ["a"] == unit.select(TABLE, {"owner": Eq("ann")})
    changed = RowTable("things", {"colour": str, "size": int})
    with (
        SqliteStore(tmp_path / "r.db") as store,
        store.unit(readonly=True) as unit,
        pytest.raises(ValueError, match="in the file"),
    ):
        unit.count(changed, {})


def test_sqlite_answers_a_filtered_sorted_page_from_its_indexes(tmp_path: Path) -> None:
    """The listing is a query of real columns and indexes: no full scan of the table
    and no sort of all its rows for a page in a sortable column's order."""
    with SqliteStore(tmp_path / "r.db") as store:
        with store.unit() as unit:
            unit.put_row(TABLE, "a", row())
        connection = sqlite3.connect(tmp_path / "r.db")
        try:
            plan = " | ".join(
                str(step[3])
                for step in connection.execute(
                    'EXPLAIN QUERY PLAN SELECT key FROM "rows_things" WHERE "owner" = ? '
                    'ORDER BY "size", key LIMIT 20 OFFSET 0',
                    ("ann",),
                )
            )
            indexes = {name for (name,) in connection.execute("SELECT name FROM sqlite_master")}
        finally:
            connection.close()
    assert "USING INDEX" in plan or "USING COVERING INDEX" in plan
    assert "TEMP B-TREE" not in plan
    assert {
        "rows_things__colour",
        "rows_things__size",
        "rows_things__owner",
        "rows_things__owner__size",
    } <= indexes


# -- the queries against a naive model ---------------------------------------------------

conditions: st.SearchStrategy[Where] = st.dictionaries(
    st.sampled_from(["colour", "size", "owner"]), st.none(), max_size=3
).flatmap(lambda chosen: st.fixed_dictionaries({column: _condition(column) for column in chosen}))


def _condition(column: str) -> st.SearchStrategy[Condition]:
    values: st.SearchStrategy[Any] = {
        "colour": st.sampled_from(COLOURS),
        "size": st.integers(-3, 3),
        "owner": st.sampled_from(OWNERS),
    }[column]
    return st.one_of(
        st.builds(Eq, values),
        st.builds(In, st.frozensets(values, max_size=3)),
        st.builds(Between, st.none() | values, st.none() | values),
    )


def naive_passes(values: dict[str, Value], where: Where) -> bool:
    for column, condition in where.items():
        value: Any = values[column]
        if isinstance(condition, Eq) and value != condition.value:
            return False
        if isinstance(condition, In) and value not in condition.values:
            return False
        if isinstance(condition, Between):
            low, high = condition.low, condition.high
            if (low is not None and value < low) or (high is not None and value > high):
                return False
    return True


class RowsMachine(RuleBasedStateMachine):
    """A store's row table against a dict of rows, filtered, sorted and sliced naively."""

    def __init__(self) -> None:
        super().__init__()
        self.store = self.make_store()
        self.model: dict[str, dict[str, Value]] = {}

    def make_store(self) -> RowsStore:
        return MemoryStore()

    def teardown(self) -> None:
        self.store.close()

    @rule(
        key=st.sampled_from(KEYS),
        colour=st.sampled_from(COLOURS),
        size=st.integers(-3, 3),
        owner=st.sampled_from(OWNERS),
    )
    def put(self, key: str, colour: str, size: int, owner: str) -> None:
        with self.store.unit() as unit:
            unit.put_row(TABLE, key, row(colour, size, owner))
        self.model[key] = row(colour, size, owner)

    @rule(key=st.sampled_from(KEYS))
    def delete(self, key: str) -> None:
        with self.store.unit() as unit:
            unit.delete_row(TABLE, key)
        self.model.pop(key, None)

    @rule(key=st.sampled_from(KEYS), other=st.sampled_from(KEYS), size=st.integers(-3, 3))
    def a_unit_that_raises_changes_nothing(self, key: str, other: str, size: int) -> None:
        def boom() -> None:
            with self.store.unit() as unit:
                unit.put_row(TABLE, key, row("blue", size, "cy"))
                unit.delete_row(TABLE, other)
                raise LookupError

        with pytest.raises(LookupError):
            boom()

    @rule(
        where=conditions,
        order_by=st.none() | st.sampled_from(TABLE.sortable),
        descending=st.booleans(),
        offset=st.integers(0, 16),
        limit=st.none() | st.integers(0, 6),
    )
    def select(
        self, where: Where, order_by: str | None, descending: bool, offset: int, limit: int | None
    ) -> None:
        found = sorted(k for k, v in self.model.items() if naive_passes(v, where))
        if order_by is not None:
            found.sort(key=lambda k: self.model[k][order_by], reverse=descending)
        want = found[offset : None if limit is None else offset + limit]
        with self.store.unit(readonly=True) as unit:
            got = unit.select(
                TABLE, where, order_by=order_by, descending=descending, offset=offset, limit=limit
            )
            assert want == got
            assert len(found) == unit.count(TABLE, where)

    @rule(
        where=conditions,
        columns=st.lists(st.sampled_from(TABLE.column_names), min_size=1, max_size=3),
    )
    def distinct(self, where: Where, columns: list[str]) -> None:
        want = sorted(
            {tuple(v[c] for c in columns) for v in self.model.values() if naive_passes(v, where)}
        )
        with self.store.unit(readonly=True) as unit:
            assert want == unit.distinct(TABLE, columns, where)

    @invariant()
    def every_row_is_there(self) -> None:
        with self.store.unit(readonly=True) as unit:
            assert sorted(self.model) == unit.select(TABLE, {})


def test_memory_row_tables_follow_the_model() -> None:
    run_state_machine_as_test(RowsMachine)


def test_sqlite_row_tables_follow_the_model(tmp_path: Path) -> None:
    numbers = itertools.count()

    class OnSqlite(RowsMachine):
        def make_store(self) -> RowsStore:
            return SqliteStore(tmp_path / f"rows-{next(numbers)}.db")

    budget = settings(settings(), max_examples=min(settings().max_examples, 40))
    run_state_machine_as_test(OnSqlite, settings=budget)


def test_memory_walks_a_big_match_in_order_with_ties_by_key() -> None:
    """Past its threshold the memory store pages off the sorted list: same answers."""
    with MemoryStore() as store:
        with store.unit() as unit:
            for i in range(200):
                unit.put_row(TABLE, f"k{i:03}", row(COLOURS[i % 5], i % 3, OWNERS[i % 3]))
        rows = {f"k{i:03}": row(COLOURS[i % 5], i % 3, OWNERS[i % 3]) for i in range(200)}
        for column, descending in itertools.product(TABLE.sortable, [False, True]):
            want = sorted(rows)
            want.sort(key=lambda k: rows[k][column], reverse=descending)
            with store.unit(readonly=True) as unit:
                assert want[:10] == unit.select(
                    TABLE, {}, order_by=column, descending=descending, limit=10
                )
                assert want[30:40] == unit.select(
                    TABLE,
                    {"size": Between(0, 2)},
                    order_by=column,
                    descending=descending,
                    offset=30,
                    limit=10,
                )


def test_the_store_guide_examples_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_dsn: str
) -> None:
    doc = Path(__file__).resolve().parent.parent / "docs" / "stores.md"
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    assert 4 == len(blocks)
    wipe(postgres_dsn)
    monkeypatch.setenv("TASKCORE_POSTGRES_DSN", postgres_dsn)
    monkeypatch.chdir(tmp_path)  # the first example creates taskcore.db in the cwd
    for block in blocks:
        exec(compile(block, str(doc), "exec"), {})
    assert (tmp_path / "taskcore.db").exists()


def test_postgres_row_tables_follow_the_model(postgres_dsn: str) -> None:
    class OnPostgres(RowsMachine):
        def make_store(self) -> RowsStore:
            wipe(postgres_dsn)
            return PostgresStore(postgres_dsn)

    budget = settings(settings(), max_examples=min(settings().max_examples, 15))
    run_state_machine_as_test(OnPostgres, settings=budget)
