"""The Visual Layer task service on both stores: the worker side, abort and retry with
their refusals that change nothing, visibility per user, dataset status, and the list
and filter options against a naive filter-then-sort-then-slice oracle
(docs/visual-layer.md)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskcore.clock import ManualClock
from taskcore.errors import IllegalTransition, TaskcoreError, ValidationError
from taskcore.ids import SeededIds
from taskcore.store import MemoryStore, RowsStore, SqliteStore
from taskcore.visual_layer import (
    InvalidParameter,
    TaskNotAbortable,
    TaskNotRetryable,
    TaskType,
    VisualLayerStatus,
    VisualLayerTaskNotFound,
)
from taskcore.visual_layer.errors import VisualLayerDatasetNotFound
from taskcore.visual_layer.service import (
    DATASETS,
    MEMBERS,
    TASK_ROWS,
    TASKS,
    Shown,
    VisualLayerTasks,
)
from taskcore.visual_layer.task import SORT_FIELDS, DatasetStatus, TaskQuery

ME, OTHER = "rachel@visual-layer.com", "alex@visual-layer.com"
S = VisualLayerStatus
T = TaskType


@pytest.fixture(params=["memory", "sqlite"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def _store(kind: str, clock: ManualClock, path: Path) -> RowsStore:
    return MemoryStore(clock=clock) if kind == "memory" else SqliteStore(path, clock=clock)


@pytest.fixture
def service(store_kind: str, clock: ManualClock, tmp_path: Path) -> Iterator[VisualLayerTasks]:
    store = _store(store_kind, clock, tmp_path / "vl.db")
    yield VisualLayerTasks(store, ids=SeededIds(5, prefix=""))
    store.close()


def snapshot(service: VisualLayerTasks) -> list[Any]:
    with service.store.unit(readonly=True) as unit:
        rows = (
            unit.select(TASK_ROWS, {}),
            unit.distinct(TASK_ROWS, TASK_ROWS.column_names, {}),
        )
        return [*unit.items(TASKS), *unit.items(DATASETS), *unit.items(MEMBERS), rows]


def refused(
    service: VisualLayerTasks, error: type[TaskcoreError], call: Callable[[], object]
) -> Any:
    before = snapshot(service)
    with pytest.raises(error) as raised:
        call()
    assert before == snapshot(service)
    return raised.value


def running(service: VisualLayerTasks, kind: TaskType = T.DATASET_CREATION) -> Shown:
    dataset = service.add_dataset("Product Images Q1", [ME])
    shown = service.submit(dataset.dataset_id, kind, ME, {"source": "s3://bucket"})
    return service.start(shown.task.task_id)


# -- the worker side ----------------------------------------------------------------------


def test_a_task_runs_to_completion(service: VisualLayerTasks, clock: ManualClock) -> None:
    dataset = service.add_dataset("Product Images Q1", [ME])
    shown = service.submit(dataset.dataset_id, T.ENRICHMENT, ME)
    task = shown.task
    assert (S.INITIALIZING, "Enrichment initializing", None, None) == (
        task.status,
        task.status_message,
        task.progress_percentage,
        task.end_time,
    )
    assert clock.now().replace(microsecond=0) == task.start_time
    assert S.RUNNING == service.start(task.task_id).task.status
    assert 45 == service.progress(task.task_id, 45).task.progress_percentage
    clock.advance(10)
    done = service.complete(task.task_id).task
    assert (S.COMPLETED, 100, "Enrichment completed") == (
        done.status,
        done.progress_percentage,
        done.status_message,
    )
    assert clock.now().replace(microsecond=0) == done.end_time
    assert done == service.get(ME, task.task_id).task


def test_a_failed_task_keeps_its_progress_and_names_its_error(service: VisualLayerTasks) -> None:
    task = running(service, T.ENRICHMENT).task
    service.progress(task.task_id, 45)
    failed = service.fail(task.task_id, "Model timeout after 300s").task
    assert (S.FAILED, "Enrichment failed", 45, "Model timeout after 300s") == (
        failed.status,
        failed.status_message,
        failed.progress_percentage,
        failed.error_message,
    )
    assert failed.end_time is not None


def test_worker_refusals_change_nothing(service: VisualLayerTasks) -> None:
    task = running(service).task
    service.progress(task.task_id, 50)
    refused(service, ValidationError, lambda: service.progress(task.task_id, 49))
    refused(service, ValidationError, lambda: service.progress(task.task_id, 101))
    refused(service, ValidationError, lambda: service.progress(task.task_id, True))
    refused(service, ValidationError, lambda: service.fail(task.task_id, ""))
    refused(service, ValidationError, lambda: service.fail(task.task_id, "x" * 1001))
    refused(service, IllegalTransition, lambda: service.start(task.task_id))
    refused(service, VisualLayerTaskNotFound, lambda: service.start("nope"))
    service.complete(task.task_id)
    refused(service, IllegalTransition, lambda: service.fail(task.task_id, "late"))
    refused(service, IllegalTransition, lambda: service.progress(task.task_id, 100))


def test_submit_refuses_what_it_cannot_create(service: VisualLayerTasks) -> None:
    dataset = service.add_dataset("d", [ME])
    refused(
        service,
        VisualLayerDatasetNotFound,
        lambda: service.submit(dataset.dataset_id, T.REINDEX, OTHER),
    )
    refused(service, VisualLayerDatasetNotFound, lambda: service.submit("nope", T.REINDEX, ME))
    refused(service, ValidationError, lambda: service.submit(dataset.dataset_id, "COPY", ME))
    refused(
        service,
        ValidationError,
        lambda: service.submit(dataset.dataset_id, T.REINDEX, ME, {"x": float("nan")}),
    )
    refused(service, ValidationError, lambda: service.add_dataset("", [ME]))
    huge = {"x": "a" * 64 * 1024}
    refused(
        service, ValidationError, lambda: service.submit(dataset.dataset_id, T.REINDEX, ME, huge)
    )


# -- abort and retry ----------------------------------------------------------------------


def test_abort_a_running_dataset_creation(service: VisualLayerTasks) -> None:
    task = running(service).task
    service.progress(task.task_id, 30)
    aborted = service.abort(ME, task.task_id).task
    assert (S.ABORTED, "Dataset creation aborted", 30, None) == (
        aborted.status,
        aborted.status_message,
        aborted.progress_percentage,
        aborted.error_message,
    )
    assert aborted.end_time is not None


def test_abort_in_the_commit_phase_is_refused_and_changes_nothing(
    service: VisualLayerTasks,
) -> None:
    task = running(service).task
    committing = service.enter_commit_phase(task.task_id).task
    assert (True, "Dataset creation committing") == (
        committing.in_commit_phase,
        committing.status_message,
    )
    error = refused(service, TaskNotAbortable, lambda: service.abort(ME, task.task_id))
    assert 409 == error.status


@pytest.mark.parametrize("kind", [k for k in TaskType if k is not T.DATASET_CREATION])
def test_only_dataset_creation_is_aborted_or_retried(
    service: VisualLayerTasks, kind: TaskType
) -> None:
    task = running(service, kind).task
    refused(service, TaskNotAbortable, lambda: service.abort(ME, task.task_id))
    service.fail(task.task_id, "boom")
    assert 400 == refused(service, TaskNotRetryable, lambda: service.retry(ME, task.task_id)).status


def test_retry_resets_to_initializing_with_the_same_id_and_configuration(
    service: VisualLayerTasks, clock: ManualClock
) -> None:
    task = running(service).task
    service.progress(task.task_id, 60)
    service.enter_commit_phase(task.task_id)
    service.fail(task.task_id, "disk full")
    clock.advance(60)
    again = service.retry(ME, task.task_id).task
    assert (task.task_id, S.INITIALIZING, "Dataset creation initializing") == (
        again.task_id,
        again.status,
        again.status_message,
    )
    assert (None, None, None, False) == (
        again.end_time,
        again.error_message,
        again.progress_percentage,
        again.in_commit_phase,
    )
    assert (task.start_time, {"source": "s3://bucket"}) == (
        again.start_time,
        dict(again.configuration),
    )
    service.start(task.task_id)
    assert S.ABORTED == service.abort(ME, task.task_id).task.status
    assert S.INITIALIZING == service.retry(ME, task.task_id).task.status


def test_completed_and_running_tasks_are_not_retried(service: VisualLayerTasks) -> None:
    task = running(service).task
    refused(service, TaskNotRetryable, lambda: service.retry(ME, task.task_id))
    service.complete(task.task_id)
    refused(service, TaskNotRetryable, lambda: service.retry(ME, task.task_id))
    refused(service, TaskNotAbortable, lambda: service.abort(ME, task.task_id))


def test_another_users_task_is_not_found(service: VisualLayerTasks) -> None:
    task = running(service).task
    for call in (service.get, service.abort, service.retry):
        error = refused(service, VisualLayerTaskNotFound, partial(call, OTHER, task.task_id))
        assert 404 == error.status
    refused(service, VisualLayerTaskNotFound, lambda: service.abort(ME, "missing"))
    refused(service, ValidationError, lambda: service.get("", task.task_id))
    service.share(task.dataset_id, OTHER)
    assert task.task_id == service.get(OTHER, task.task_id).task.task_id


# -- dataset status -----------------------------------------------------------------------


def test_tasks_move_their_datasets_status(service: VisualLayerTasks) -> None:
    dataset = service.add_dataset("d", [ME])
    ds = dataset.dataset_id

    def run(kind: TaskType, finish: Callable[[str], object]) -> DatasetStatus:
        task = service.submit(ds, kind, ME).task
        service.start(task.task_id)
        finish(task.task_id)
        return service.dataset(ds).status

    assert DatasetStatus.READY == dataset.status
    created = service.submit(ds, T.DATASET_CREATION, ME)
    assert DatasetStatus.READ_ONLY == created.dataset_status
    service.start(created.task.task_id)
    assert DatasetStatus.READY == service.complete(created.task.task_id).dataset_status
    assert DatasetStatus.PARTIAL_INDEX == run(T.MEDIA_ADDITION, service.complete)
    assert DatasetStatus.PARTIAL_INDEX == run(T.ENRICHMENT, service.complete)
    assert DatasetStatus.PARTIAL_INDEX == run(T.REINDEX, lambda t: service.fail(t, "x"))
    assert DatasetStatus.READY == run(T.REINDEX, service.complete)
    assert DatasetStatus.READY == run(T.SNAPSHOT_CLONE, service.complete)
    refused(service, VisualLayerDatasetNotFound, lambda: service.share("nope", ME))


# -- list parameters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("dataset_id", "not-a-uuid"),
        ("dataset_name", ""),
        ("task_type", "COPY"),
        ("task_status", "running"),
        ("created_by", ""),
        ("start_time_from", "yesterday"),
        ("start_time_to", "2026-13-01T00:00:00Z"),
        ("sort_by", "progress_percentage"),
        ("sort_order", "ASC"),
        ("page", "0"),
        ("page", "-1"),
        ("page", "1.5"),
        ("page_size", "4"),
        ("page_size", "51"),
        ("page_size", True),
        ("page_size", "²"),
        ("colour", "red"),
    ],
)
def test_a_bad_parameter_is_422_naming_it_never_clamped(name: str, value: object) -> None:
    with pytest.raises(InvalidParameter) as raised:
        TaskQuery.build(**{name: value})
    assert (422, name) == (raised.value.status, raised.value.field)
    assert str(raised.value).startswith(f"{name}: ")


def test_parameters_are_parsed_from_their_wire_strings() -> None:
    query = TaskQuery.build(
        dataset_id="B1A39406-123D-11F1-9353-FA39F6ED1F22",
        task_type="REINDEX",
        task_status="FAILED",
        start_time_from="2026-03-01T00:00:00Z",
        sort_by="created_by",
        sort_order="asc",
        page="3",
        page_size="5",
    )
    assert "b1a39406-123d-11f1-9353-fa39f6ed1f22" == query.dataset_id
    assert (T.REINDEX, S.FAILED, 3, 5, 10) == (
        query.task_type,
        query.task_status,
        query.page,
        query.page_size,
        query.offset,
    )
    assert ("start_time", "desc", 1, 20) == (
        TaskQuery().sort_by,
        TaskQuery().sort_order,
        TaskQuery().page,
        TaskQuery().page_size,
    )


# -- list and filter options against an oracle ----------------------------------------------

USERS = [ME, OTHER, "sam@visual-layer.com"]
NAMES = ["Product Images Q1", "Training Set v2"]

task_specs = st.lists(
    st.tuples(
        st.integers(0, 3),  # dataset index
        st.sampled_from(list(TaskType)),
        st.integers(0, 2),  # which of the dataset's users creates it
        st.integers(0, 5),  # seconds after the previous task
        st.sampled_from(["initializing", "running", "completed", "failed"]),
    ),
    min_size=3,
    max_size=40,
)
datasets_spec = st.lists(
    st.tuples(st.sampled_from(NAMES), st.sets(st.sampled_from(USERS), min_size=1)),
    min_size=4,
    max_size=4,
)


def _populate(
    service: VisualLayerTasks, clock: ManualClock, datasets: Any, specs: Any
) -> list[Shown]:
    ids = [service.add_dataset(name, users).dataset_id for name, users in datasets]
    made = []
    for index, kind, user, gap, end in specs:
        clock.advance(gap)
        user = sorted(datasets[index][1])[user % len(datasets[index][1])]
        task_id = service.submit(ids[index], kind, user).task.task_id
        if end != "initializing":
            service.start(task_id)
        if end == "completed":
            service.complete(task_id)
        elif end == "failed":
            service.fail(task_id, "boom")
        made.append((task_id, user))
    # As shown now: a later task may have moved its dataset's status.
    return [service.get(user, task_id) for task_id, user in made]


def oracle(
    all_tasks: list[Shown], users: dict[str, set[str]], user: str, query: TaskQuery
) -> list[Shown]:
    """Filter everything, sort everything (ties by task id), as plainly as possible."""
    seen = [s for s in all_tasks if user in users[s.task.dataset_id]]
    if query.dataset_id is not None:
        seen = [s for s in seen if s.task.dataset_id == query.dataset_id]
    if query.dataset_name is not None:
        seen = [s for s in seen if s.dataset_name == query.dataset_name]
    if query.task_type is not None:
        seen = [s for s in seen if s.task.task_type == query.task_type]
    if query.task_status is not None:
        seen = [s for s in seen if s.task.status == query.task_status]
    if query.created_by is not None:
        seen = [s for s in seen if s.task.created_by == query.created_by]
    if query.start_time_from is not None:
        seen = [s for s in seen if s.task.start_time >= query.start_time_from]
    if query.start_time_to is not None:
        seen = [s for s in seen if s.task.start_time <= query.start_time_to]
    field = {
        "start_time": lambda s: s.task.start_time.isoformat(),
        "status": lambda s: str(s.task.status),
        "task_type": lambda s: str(s.task.task_type),
        "dataset_name": lambda s: s.dataset_name,
        "dataset_id": lambda s: s.task.dataset_id,
        "created_by": lambda s: s.task.created_by,
    }[query.sort_by]
    by_id = sorted(seen, key=lambda s: s.task.task_id)
    return sorted(by_id, key=field, reverse=query.sort_order == "desc")


FILTERS = {
    "dataset_name": st.sampled_from(NAMES),
    "task_type": st.sampled_from([t.value for t in TaskType]),
    "task_status": st.sampled_from([s.value for s in VisualLayerStatus]),
    "created_by": st.sampled_from(USERS),
    "from_offset": st.integers(0, 80),
    "to_offset": st.integers(0, 160),
    "pick_dataset": st.integers(0, 3),
}
queries = st.builds(
    lambda base, names, picked: {**base, **{n: picked[n] for n in names}},
    st.fixed_dictionaries(
        {},
        optional={
            "sort_by": st.sampled_from(SORT_FIELDS),
            "sort_order": st.sampled_from(["asc", "desc"]),
            "page": st.integers(1, 4),
            "page_size": st.integers(5, 50),
        },
    ),
    st.lists(st.sampled_from(sorted(FILTERS)), max_size=2, unique=True),
    st.fixed_dictionaries(FILTERS),
)


@settings(max_examples=60)
@given(
    kind=st.sampled_from(["memory", "sqlite"]),
    datasets=datasets_spec,
    specs=task_specs,
    raw=queries,
    user=st.sampled_from(USERS),
)
def test_list_and_filter_options_equal_the_oracle(
    kind: str, datasets: Any, specs: Any, raw: dict[str, Any], user: str
) -> None:
    clock = ManualClock()
    start = clock.now().replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        store = _store(kind, clock, Path(tmp) / "vl.db")
        with store:
            service = VisualLayerTasks(store, ids=SeededIds(7, prefix=""))
            shown = _populate(service, clock, datasets, specs)
            with store.unit(readonly=True) as unit:
                users = {d["dataset_id"]: set(d["users"]) for _, d in unit.items(DATASETS)}
                dataset_ids = sorted(users)
            params = dict(raw)
            if "from_offset" in params:
                params["start_time_from"] = start + timedelta(seconds=params.pop("from_offset"))
            if "to_offset" in params:
                params["start_time_to"] = start + timedelta(seconds=params.pop("to_offset"))
            if "pick_dataset" in params:
                params["dataset_id"] = dataset_ids[params.pop("pick_dataset")]
            query = TaskQuery.build(**params)
            expected = oracle(shown, users, user, query)
            listing = service.list(user, query)
            page = expected[query.offset : query.offset + query.page_size]
            assert [s.task.task_id for s in page] == [s.task.task_id for s in listing.tasks]
            assert list(page) == list(listing.tasks)
            assert (len(expected), query.page, query.page_size) == (
                listing.total,
                listing.page,
                listing.page_size,
            )
            # Walking every page yields every matching task exactly once, in order.
            walked: list[str] = []
            for number in range(1, len(expected) // query.page_size + 3):
                walked += [
                    s.task.task_id
                    for s in service.list(user, attrs.evolve(query, page=number)).tasks
                ]
            assert [s.task.task_id for s in expected] == walked
            # Filter options: over the visible tasks in the time window only.
            window = TaskQuery(
                start_time_from=query.start_time_from, start_time_to=query.start_time_to
            )
            seen = oracle(shown, users, user, window)
            options = service.filter_options(user, query)
            assert options.dataset_names == tuple(sorted({s.dataset_name for s in seen}))
            assert options.dataset_ids == tuple(sorted({s.task.dataset_id for s in seen}))
            assert options.task_types == tuple(sorted({s.task.task_type.value for s in seen}))
            assert options.created_by == tuple(sorted({s.task.created_by for s in seen}))


def test_a_page_past_the_end_is_empty_with_the_true_total(service: VisualLayerTasks) -> None:
    dataset = service.add_dataset("d", [ME])
    for _ in range(6):
        service.submit(dataset.dataset_id, T.REINDEX, ME)
    listing = service.list(ME, TaskQuery(page=3, page_size=5))
    assert ((), 6, 3, 5) == (listing.tasks, listing.total, listing.page, listing.page_size)
    assert 0 == service.list(OTHER).total
    assert () == service.filter_options(OTHER).task_types


@pytest.mark.parametrize("sort_by", SORT_FIELDS)
def test_walking_every_page_of_a_long_list_yields_each_task_once(
    service: VisualLayerTasks, clock: ManualClock, sort_by: str
) -> None:
    datasets = [(NAMES[0], {ME}), (NAMES[1], {ME, OTHER}), (NAMES[0], {OTHER})]
    specs = [
        (i % 3, list(TaskType)[i % 7], i % 2, i % 3 == 0, ["running", "completed", "failed"][i % 3])
        for i in range(90)
    ]
    shown = _populate(service, clock, datasets, specs)
    with service.store.unit(readonly=True) as unit:
        users = {d["dataset_id"]: set(d["users"]) for _, d in unit.items(DATASETS)}
    for order in ("asc", "desc"):
        for size in (5, 7, 50):
            query = TaskQuery.build(sort_by=sort_by, sort_order=order, page_size=size)
            expected = [s.task.task_id for s in oracle(shown, users, ME, query)]
            walked: list[str] = []
            page = 1
            while True:
                listing = service.list(ME, attrs.evolve(query, page=page))
                assert len(expected) == listing.total
                if not listing.tasks:
                    break
                walked += [s.task.task_id for s in listing.tasks]
                page += 1
            assert expected == walked
            assert len(set(walked)) == len(walked) > 50


def test_a_query_checks_its_fields_however_it_is_built() -> None:
    with pytest.raises(InvalidParameter) as raised:
        TaskQuery(page_size=4)
    assert "page_size" == raised.value.field
    with pytest.raises(InvalidParameter) as raised:
        attrs.evolve(TaskQuery(), sort_by="progress")
    assert "sort_by" == raised.value.field
    assert S.FAILED is TaskQuery(task_status="FAILED").task_status
