"""The Claro task service: the shell that composes the lifecycle, the selection
resolver, the dataset lock, webhooks, idempotency keys and quota (Claro API reference,
"Tasks"; taskcore's decisions in docs/claro.md).

Theory of operation:

- Every call is one unit of work of the store: read, decide with the pure core, write.
  A refused call raises before its unit commits, so it changes nothing: not the task,
  not the lease, not the dataset, not the quota, not the outbox.  Thread- and
  process-safety come from the store's units.
- Tenancy: datasets and webhooks are kept per account (store keys are
  :func:`~taskcore.keys.composite_key` of the account and the id), so one account's ids
  never collide with, replace or reveal another's.  Task ids are global; a create draws
  ids until it finds a free one, so nothing is ever overwritten.
- Creating a task takes the dataset's lease; every terminal transition (complete, fail,
  cancel) releases it, applies the task's outcomes to the dataset and (completed or
  failed, with a webhook) writes the outbox record, all in the same unit.
- Every worker write of a task's outcomes (record, record_rows, complete, fail) carries
  the task's fencing token and is refused with ``LEASE_LOST`` once the lease lapsed.
- A lease that lapsed (its worker died) fails its task with ``lease_expired``, dated when
  the lease expired: settled by the next read of the task, the next touch of its
  dataset, or :meth:`ClaroTasks.settle_expired` (which :meth:`ClaroTasks.outbox` calls).
  Reads run in read units and take the write lock only to settle such a lapse.
- Outcomes are recorded by *target index*: the n-th target of the task, in the order
  :meth:`ClaroTasks.targets` lists them.  A bulk selection is stored once, apart from the
  task's changing state, so recording a batch or reading a task never rewrites it.
- What is kept per request or per ended task has a retention (docs/claro.md,
  "Retention"): idempotency keys 24 hours, delivered notifications 24 hours, given-up
  notifications 7 days, outcome batches until the task ends, ended tasks themselves as
  configured.  In-process caches are bounded.
- A pending notification keeps its delivery attempts, last error and next attempt time
  beside it, with an index in due-time order (:meth:`ClaroTasks.due_outbox`,
  :meth:`ClaroTasks.record_attempt`; the schedule is :mod:`taskcore.delivery`'s).

Order of checks on create: dataset exists -> input valid (and a replayed idempotency
key answers here) -> webhook exists -> dataset unlocked -> quota.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

import attrs

from taskcore.cache import BoundedCache
from taskcore.claro._recorded import RecordedTargets, decode_group, encode_group
from taskcore.claro.estimate import Estimator, RateEstimator
from taskcore.claro.grid import Grid
from taskcore.claro.lifecycle import CLARO_TASK, ClaroEvent, ClaroStatus
from taskcore.claro.selection import Selection
from taskcore.claro.task import Category, ClaroTask, TaskType
from taskcore.claro.webhooks import (
    MAX_ERROR_LENGTH,
    OutboxRecord,
    Webhook,
    sign,
    standard_key,
    url_problem,
)
from taskcore.claro.wire import parse_bulk, parse_new_rows, status_response, webhook_payload
from taskcore.clock import MAX_SPAN, as_span, format_instant
from taskcore.errors import (
    DatasetLocked,
    DatasetNotFound,
    IdCollision,
    LeaseLost,
    TaskNotFound,
    ValidationError,
    WebhookNotFound,
)
from taskcore.idempotency import IdempotencyKeys, check_key, fingerprint
from taskcore.ids import IdFactory, UuidIds, draw_free
from taskcore.keys import composite_key
from taskcore.locks import LEASES, TOKENS, Lease, LockManager
from taskcore.quota import Quota, Unlimited
from taskcore.retention import ExpiryIndex
from taskcore.store import MemoryStore, Store, Unit
from taskcore.text import UNFIT

__all__ = ["LEASE_EXPIRED", "ClaroTasks", "RowOutcome", "Target"]

DATASETS: Final = "claro.datasets"
"""(account, dataset id) -> ``{"category", "version"}``."""
GRIDS: Final = "claro.grids"
"""(account, dataset id) -> the grid's dump (cell names included)."""
TASKS: Final = "claro.tasks"
"""task id -> the task's document (small: no selection)."""
SELECTIONS: Final = "claro.selections"
"""task id -> a bulk task's selection, written once."""
BATCHES: Final = "claro.batches"
"""(task id, n) -> the n-th outcome batch; deleted when the task ends."""
ACTIVE: Final = "claro.active"
"""task id -> the task's lock resource, while the task has not ended."""
WEBHOOKS: Final = "claro.webhooks"
"""(account, webhook id) -> ``{"url", "secret"}``."""
OUTBOX: Final = "claro.outbox"
"""task id -> a notification not yet delivered (with its attempts and next attempt)."""
OUTBOX_DUE: Final = "claro.outbox_due"
"""``<microseconds since the epoch, 20 digits>|<task id>`` -> task id: when each pending
notification is next due, in time order (one entry per pending record)."""
DELIVERED: Final = "claro.delivered"
"""task id -> a delivered notification, kept for ``delivered_retention``."""
GAVE_UP: Final = "claro.gave_up"
"""task id -> a notification given up after its last attempt, kept for
``gave_up_retention``."""
IDEMPOTENCY: Final = "claro.idempotency"
"""(account, key) -> the original create response (see :mod:`taskcore.idempotency`)."""
RETENTION: Final = "claro.retention"
"""The expiry index of delivered notifications and ended tasks."""

LEASE_EXPIRED: Final = "lease_expired"
"""``failureReason`` of a task whose dataset lease lapsed."""

_PRUNE_BATCH: Final = 8
"""How many expired records each create or delivery prunes on the side."""
_QUIET: Final = timedelta(seconds=1)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
MAX_ID_LENGTH: Final = 255
"""The longest dataset or webhook id a caller may choose."""
_UNFIT_ID: Final = re.compile("[/\x00-\x1f\x7f-\x9f\ud800-\udfff]")

T = TypeVar("T")


@attrs.frozen
class Target:
    """One target of a task: its index (what a worker records) and where it is."""

    index: int
    row_id: str
    column_id: str | None = None
    cell_id: str | None = None


def _column_set(columns: Iterable[str]) -> frozenset[str]:
    # A typed converter: with the bare ``frozenset`` builtin, mypy cannot solve its type
    # variable and refuses every argument (``RowOutcome(0, {"email"})`` did not type-check).
    return frozenset(columns)


@attrs.frozen
class RowOutcome:
    """A new row's outcome: created, with the columns whose cells failed."""

    index: int
    failed_columns: frozenset[str] = attrs.field(default=frozenset(), converter=_column_set)


def _micros(at: datetime) -> int:
    """Microseconds since the Unix epoch: the due index's key order is time order."""
    return (at - _EPOCH) // _MICROSECOND


def _need(unit: Unit, table: str, key: str) -> Any:
    """A document the service wrote itself and so knows exists."""
    value = unit.get(table, key)
    if value is None:  # pragma: no cover - a store that lost a committed document
        raise RuntimeError(f"store lost {table}/{key}")
    return value


def _row_id(task_id: str, index: int) -> str:
    """The id of the ``index``-th row a new-rows task creates: unique per task id."""
    return f"row_{task_id.removeprefix('task_')}_{index:05d}"


def _token(token: object) -> int:
    """A fencing token as given by a worker: an integer (bool is not one)."""
    if isinstance(token, bool) or not isinstance(token, int):
        raise ValidationError("token must be an integer fencing token", field="token")
    return token


def _check_id(value: object, field: str) -> str:
    """An id a caller chose: one path segment a client can name (docs/claro.md)."""
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= MAX_ID_LENGTH
        or value in (".", "..")
        or _UNFIT_ID.search(value)
    ):
        raise ValidationError(
            f"{field} must be 1 to {MAX_ID_LENGTH} characters, without '/', control "
            "characters or lone surrogates, and not '.' or '..'",
            field=field,
        )
    return value


def _check_text(value: object, field: str, limit: int) -> str:
    """A setting's text: non-empty, at most ``limit`` characters, encodable as UTF-8,
    no control characters."""
    if not isinstance(value, str) or not 0 < len(value) <= limit or UNFIT.search(value):
        raise ValidationError(
            f"{field} must be 1 to {limit} characters without control characters or lone "
            "surrogates",
            field=field,
        )
    return value


class ClaroTasks:
    """The Claro tasks API as a service.  Thread-safe; every call atomic.

    Args:
        store: where datasets, tasks, leases, webhooks and the outbox live (default: a
            new in-memory store on the system clock).  Its clock is the service's clock.
        ids: task id factory (``task_<uuid4>``).  A factory that repeats itself never
            overwrites a task: taken ids are drawn again.
        quota: task-creation quota (default unlimited).
        estimator: duration estimates (default :class:`RateEstimator`).
        lease_ttl: how long a dataset lease lasts without a worker call renewing it.
        idempotency_retention: how long an ``Idempotency-Key`` is remembered (24 hours).
        delivered_retention: how long a delivered notification stays listed (24 hours).
        gave_up_retention: how long a notification given up after its last delivery
            attempt stays listed (7 days).
        task_retention: how long an ended task stays readable (``None``: kept until
            deleted by the operator; its outcome batches are dropped when it ends
            either way).
        cache_size: how many datasets' grids and tasks' recorded-target bitmaps this
            instance keeps in memory, each (a miss only costs a store read).
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        ids: IdFactory | None = None,
        quota: Quota | None = None,
        estimator: Estimator | None = None,
        lease_ttl: timedelta | float = timedelta(hours=1),
        idempotency_retention: timedelta | float = timedelta(hours=24),
        delivered_retention: timedelta | float = timedelta(hours=24),
        gave_up_retention: timedelta | float = timedelta(days=7),
        task_retention: timedelta | float | None = None,
        cache_size: int = 32,
    ) -> None:
        self.store: Store = MemoryStore() if store is None else store
        self.ids: IdFactory = UuidIds() if ids is None else ids
        self.quota: Quota = Unlimited() if quota is None else quota
        self.estimator: Estimator = RateEstimator() if estimator is None else estimator
        self.locks: LockManager = LockManager(self.store, lease_ttl)
        self.idempotency: IdempotencyKeys = IdempotencyKeys(
            IDEMPOTENCY, as_span(idempotency_retention, "idempotency_retention")
        )
        self.delivered_retention: timedelta = as_span(delivered_retention, "delivered_retention")
        self.gave_up_retention: timedelta = as_span(gave_up_retention, "gave_up_retention")
        self.task_retention: timedelta | None = (
            None if task_retention is None else as_span(task_retention, "task_retention")
        )
        self._expiry = ExpiryIndex(RETENTION)
        self._quiet_until = _EPOCH  # see _prune_on_the_side
        self._grids: BoundedCache[str, tuple[str, Grid]] = BoundedCache(cache_size)
        self._recorded: BoundedCache[str, RecordedTargets] = BoundedCache(cache_size)
        # Task ids a create drew ahead (to read what they name with its first keys) but
        # did not use (it failed first, or answered an idempotent replay): the next
        # create takes one before drawing anew, so ids are handed out in the factory's
        # order whatever fails.  At most _SPARE_IDS, one per create in flight.
        self._spare_ids: list[str] = []
        self._spare_guard = threading.Lock()

    # -- datasets ---------------------------------------------------------------------

    def create_dataset(
        self,
        account_id: str,
        grid: Grid,
        *,
        dataset_id: str | None = None,
        category: Category = Category.ENRICHMENT,
    ) -> str:
        """Register ``grid`` (its cell ids included) as a dataset of ``account_id``.

        Dataset ids are per account: another account may use the same id for its own.

        Returns:
            The dataset id (a new UUID when ``dataset_id`` is ``None``).

        Raises:
            ValidationError: ``dataset_id`` is already one of this account's datasets, or
                the grid's cell-id codec cannot be stored.  Nothing changed.
            IdCollision: fresh ids kept colliding.  Nothing changed.
        """
        dump = grid.dump()
        with self.store.unit() as unit:
            if dataset_id is None:
                dataset_id = draw_free(
                    "dataset",
                    lambda: UuidIds("")(),
                    lambda i: unit.get(DATASETS, composite_key(account_id, i)) is None,
                )
            elif unit.get(DATASETS, composite_key(account_id, _check_id(dataset_id, "datasetId"))):
                raise ValidationError(f"Dataset {dataset_id} already exists", field="datasetId")
            self._put_grid(unit, composite_key(account_id, dataset_id), category, dump)
        return dataset_id

    def dataset(self, account_id: str, dataset_id: str) -> Grid:
        """A copy of the dataset's grid as it is now.

        Raises:
            DatasetNotFound: no such dataset for this account.
        """
        with self.store.unit(readonly=True) as unit:
            key = self._dataset(unit, account_id, dataset_id)
            return Grid.load(_need(unit, GRIDS, key))

    def lease(self, account_id: str, dataset_id: str) -> Lease | None:
        """The live lease on the dataset (the task that locks it), or ``None`` when free.

        Raises:
            DatasetNotFound: no such dataset for this account.
        """
        with self.store.unit(readonly=True) as unit:
            key = self._dataset(unit, account_id, dataset_id)
            lease = self.locks.holder_in(unit, key)
        return None if lease is None else attrs.evolve(lease, resource_id=dataset_id)

    def add_column(self, account_id: str, dataset_id: str, column_id: str) -> None:
        """Add an empty column (a structure edit).

        Every refusal leaves the dataset unchanged.

        Raises:
            DatasetNotFound: no such dataset for this account.
            DatasetLocked: a task holds the dataset.
            ValidationError: the column exists.
        """
        self._edit(account_id, dataset_id, lambda grid: grid.add_column(column_id))

    def remove_column(self, account_id: str, dataset_id: str, column_id: str) -> None:
        """Remove a column (a structure edit).

        Every refusal leaves the dataset unchanged.

        Raises:
            DatasetNotFound: no such dataset for this account.
            DatasetLocked: a task holds the dataset.
            GridIdNotFound: the grid's error for an unknown column.
        """
        self._edit(account_id, dataset_id, lambda grid: grid.remove_column(column_id))

    def edit_cell(
        self, account_id: str, dataset_id: str, row_id: str, column_id: str, *, filled: bool
    ) -> None:
        """Fill or empty one cell (a manual data edit).

        Every refusal leaves the dataset unchanged.

        Raises:
            DatasetNotFound: no such dataset for this account.
            DatasetLocked: a task holds the dataset.
            GridIdNotFound: the grid's error for an unknown cell.
        """
        self._edit(account_id, dataset_id, lambda grid: grid.set_filled(row_id, column_id, filled))

    def _edit(self, account_id: str, dataset_id: str, change: Callable[[Grid], None]) -> None:
        with self.store.unit() as unit:
            key = self._dataset(unit, account_id, dataset_id)
            self._settle_expired(unit, key)
            lease = self.locks.holder_in(unit, key)
            if lease is not None:
                raise DatasetLocked(
                    dataset_id=dataset_id,
                    active_task_id=lease.holder_task_id,
                    expires_at=format_instant(lease.expires_at),
                )
            grid = Grid.load(_need(unit, GRIDS, key))
            change(grid)
            category = Category(_need(unit, DATASETS, key)["category"])
            self._put_grid(unit, key, category, grid.dump())

    # -- webhooks ---------------------------------------------------------------------

    def register_webhook(
        self, account_id: str, url: str, secret: str, *, webhook_id: str | None = None
    ) -> Webhook:
        """Register a webhook of ``account_id``; its tasks name it by ``webhookId``.

        Webhook ids are per account.  Registering an id the account already has replaces
        its URL and secret: notifications not yet delivered go to the new URL, signed with
        the new secret (they are addressed and signed when the outbox is read);
        delivered ones keep what they were sent with.

        Raises:
            ValidationError: ``url`` or ``secret`` is not a non-empty string, or ``url``
                is not an address a notification can be delivered to
                (:func:`~taskcore.claro.webhooks.url_problem`).
            IdCollision: fresh ids kept colliding.  Nothing changed.
        """
        _check_text(url, "url", 2048)
        problem = url_problem(url)
        if problem is not None:
            raise ValidationError(f"url cannot be delivered to: {problem}", field="url")
        _check_text(secret, "secret", 1024)
        if webhook_id is not None:
            _check_text(webhook_id, "webhookId", MAX_ID_LENGTH)
        with self.store.unit() as unit:
            if webhook_id is None:
                webhook_id = draw_free(
                    "webhook",
                    lambda: UuidIds("")(),
                    lambda i: unit.get(WEBHOOKS, composite_key(account_id, i)) is None,
                )
            webhook = Webhook(webhook_id, account_id, url, secret)
            unit.put(WEBHOOKS, composite_key(account_id, webhook_id), webhook.to_doc())
        return webhook

    def outbox(self, *, pending_only: bool = True) -> list[OutboxRecord]:
        """Webhook notifications to deliver (and, with ``pending_only=False``, the
        delivered and given-up ones still retained), sorted by task id.

        First settles every task whose lease lapsed (:meth:`settle_expired`), so a
        delivery worker that polls the outbox also sends their ``failed`` notifications.
        A pending record is addressed and signed with its webhook as registered now.
        The cost depends on what is pending, not on history.
        """
        with self.store.unit() as unit:
            self._settle_all(unit)
            records = [self._addressed(unit, key, doc) for key, doc in unit.items(OUTBOX)]
            if not pending_only:
                for table in (DELIVERED, GAVE_UP):
                    for task_id, doc in unit.items(table):
                        records.append(OutboxRecord.from_doc(task_id, doc))
        return sorted(records, key=lambda r: r.task_id)

    def due_outbox(
        self, limit: int = 100, *, claim_for: timedelta | float = timedelta(minutes=5)
    ) -> list[OutboxRecord]:
        """Claim up to ``limit`` pending notifications that are due now, oldest due first.

        Settles lapsed leases first (as :meth:`outbox` does).  Each record returned is
        claimed: its next attempt moves to now + ``claim_for``, so another dispatcher
        polling meanwhile does not send it too, and a dispatcher that dies before it
        calls :meth:`record_attempt` leaves it due again once the claim lapses (at least
        once: it is then sent again, with the same ``message_id``).  The records are
        addressed and signed with their webhooks as registered now and carry their
        ``signing_key``.  The cost depends on ``limit`` and the tasks not ended, not on
        how much is pending or on history.

        Args:
            limit: the most records to claim (1 to 10000).
            claim_for: how long the claim holds (a ``timedelta`` or seconds): longer
                than the caller takes to send them all.

        Raises:
            ValidationError: ``limit`` out of range; nothing changed.
            ValueError, TypeError: ``claim_for`` is not a positive span (see
                :func:`taskcore.clock.as_span`); nothing changed.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= 10000:
            raise ValidationError("limit must be an integer from 1 to 10000", field="limit")
        claim = as_span(claim_for, "claim_for")
        with self.store.unit() as unit:
            self._settle_all(unit)
            stop = f"{_micros(unit.now) + 1:020d}"
            due = list(unit.scan(OUTBOX_DUE, stop=stop, limit=limit))
            records = []
            for due_key, task_id in due:
                # The scan took no locks: claim the record, and pass over one another
                # dispatcher holds, claimed, delivered or gave up on meanwhile.
                doc = unit.claim(OUTBOX, task_id)
                if doc is None or doc["dueKey"] != due_key:
                    continue
                doc = self._reschedule(unit, task_id, doc, unit.now + claim)
                records.append(self._addressed(unit, task_id, doc))
            return records

    def record_attempt(
        self,
        task_id: str,
        *,
        ok: bool,
        error: str | None = None,
        retry_in: timedelta | None = None,
    ) -> OutboxRecord:
        """Record one delivery attempt of the notification for ``task_id``, in one unit.

        Args:
            task_id: the notification's task.
            ok: the receiver acknowledged it (a 2xx answer): the record is delivered (it
                leaves the pending outbox and stays listed for ``delivered_retention``).
            error: what a failed attempt met (kept truncated to
                :data:`~taskcore.claro.webhooks.MAX_ERROR_LENGTH` characters).
            retry_in: after a failure, how long until the next attempt (``>= 0``);
                ``None`` gives up: the record leaves the pending outbox and stays listed
                with ``gave_up`` for ``gave_up_retention``.

        Returns:
            The record as it is now.  A record already delivered or given up is returned
            unchanged (a late or repeated report changes nothing, so a record is marked
            delivered at most once).

        Raises:
            TaskNotFound: no notification for that task.  Nothing changed.
            ValidationError: ``ok`` not a bool, ``error`` not text, ``retry_in`` not a
                ``timedelta`` from 0 to ten years.  Nothing changed.
        """
        if not isinstance(ok, bool):
            raise ValidationError("ok must be a bool", field="ok")
        if error is not None and not isinstance(error, str):
            raise ValidationError("error must be text or None", field="error")
        if retry_in is not None and (
            not isinstance(retry_in, timedelta) or not timedelta(0) <= retry_in <= MAX_SPAN
        ):
            raise ValidationError("retry_in must be a timedelta from 0 to 3650 days",
                                  field="retry_in")  # fmt: skip
        with self.store.unit() as unit:
            for table in (DELIVERED, GAVE_UP):
                ended = unit.get(table, task_id)
                if ended is not None:
                    return OutboxRecord.from_doc(task_id, ended)
            doc = unit.get(OUTBOX, task_id)
            if doc is None:
                raise TaskNotFound(task_id)
            text = None if error is None else error[:MAX_ERROR_LENGTH]
            doc = {**doc, "attempts": doc.get("attempts", 0) + 1,
                   "lastError": None if ok else text}  # fmt: skip
            if ok:
                return self._deliver(unit, task_id, doc)
            if retry_in is None:
                record = attrs.evolve(self._addressed(unit, task_id, doc), gave_up=True,
                                      next_attempt_at=None, signing_key=b"")  # fmt: skip
                self._unschedule(unit, task_id, doc)
                unit.put(GAVE_UP, task_id, record.to_doc())
                self._expiry.add(unit, unit.now + self.gave_up_retention, f"gave_up|{task_id}")
                self._prune_on_the_side(unit)
                return record
            doc = self._reschedule(unit, task_id, doc, unit.now + retry_in)
            return attrs.evolve(self._addressed(unit, task_id, doc), signing_key=b"")

    def mark_delivered(self, task_id: str) -> None:
        """Record that the notification for ``task_id`` was delivered (idempotent).

        The record leaves the pending outbox and stays listed as delivered for
        ``delivered_retention``, with the URL and signature it was delivered with.
        (:meth:`record_attempt` with ``ok=True`` does the same and counts the attempt.)

        Raises:
            TaskNotFound: no notification for that task.  Nothing changed.
        """
        with self.store.unit() as unit:
            if unit.get(DELIVERED, task_id) is not None:
                return
            doc = unit.get(OUTBOX, task_id)
            if doc is None:
                raise TaskNotFound(task_id)
            self._deliver(unit, task_id, doc)

    def _deliver(self, unit: Unit, task_id: str, doc: Any) -> OutboxRecord:
        record = attrs.evolve(self._addressed(unit, task_id, doc), delivered=True,
                              next_attempt_at=None, signing_key=b"")  # fmt: skip
        self._unschedule(unit, task_id, doc)
        unit.put(DELIVERED, task_id, record.to_doc())
        self._expiry.add(unit, unit.now + self.delivered_retention, f"delivered|{task_id}")
        self._prune_on_the_side(unit)
        return record

    def _unschedule(self, unit: Unit, task_id: str, doc: Any) -> None:
        """Drop a pending record and its entry in the due index."""
        unit.delete(OUTBOX, task_id)
        if "dueKey" in doc:
            unit.delete(OUTBOX_DUE, doc["dueKey"])

    def _reschedule(self, unit: Unit, task_id: str, doc: Any, at: datetime) -> Any:
        """Write a pending record due at ``at``; returns its new document."""
        if "dueKey" in doc:
            unit.delete(OUTBOX_DUE, doc["dueKey"])
        key = f"{_micros(at):020d}|{task_id}"
        doc = {**doc, "dueKey": key, "nextAttemptAt": format_instant(at)}
        unit.put(OUTBOX_DUE, key, task_id)
        unit.put(OUTBOX, task_id, doc)
        return doc

    def _addressed(self, unit: Unit, task_id: str, doc: Any) -> OutboxRecord:
        """A pending notification, addressed and signed with its webhook as it is now."""
        webhook = self._webhook(unit, doc["accountId"], doc["webhookId"])
        body = doc["body"].encode("utf-8")
        signature = sign(webhook.secret, body)
        return OutboxRecord(
            task_id,
            webhook.webhook_id,
            webhook.url,
            body,
            signature,
            doc["createdAt"],
            attempts=doc.get("attempts", 0),
            next_attempt_at=doc.get("nextAttemptAt", doc["createdAt"]),
            last_error=doc.get("lastError"),
            signing_key=standard_key(webhook.secret),
        )

    def prune(self, limit: int = 1000) -> int:
        """Drop up to ``limit`` records whose retention is over (idempotency keys,
        delivered notifications, ended tasks when ``task_retention`` is set).

        Creates and deliveries already prune a few each; an operator may call this from
        a scheduler too.  Returns how many were due.
        """
        with self.store.unit() as unit:
            return self._prune(unit, limit)

    def _prune_on_the_side(self, unit: Unit) -> None:
        """Prune a few expired records inside a create or a delivery.

        Each pass drops up to 8, more than a create or delivery adds, so a backlog
        drains; once a pass finds nothing due, the next one waits a second of store
        time, so a quiet service does not scan on every call.
        """
        if unit.now < self._quiet_until:
            return
        due = self._prune(unit, _PRUNE_BATCH)
        self._quiet_until = unit.now + _QUIET if due == 0 else _EPOCH

    def _prune(self, unit: Unit, limit: int) -> int:
        due = self.idempotency.prune(unit, limit)
        for ref in self._expiry.pop_due(unit, limit - due) if due < limit else ():
            kind, _, task_id = ref.partition("|")
            if kind == "delivered":
                unit.delete(DELIVERED, task_id)
            elif kind == "gave_up":
                unit.delete(GAVE_UP, task_id)
            else:
                unit.delete(TASKS, task_id)
                unit.delete(SELECTIONS, task_id)
            due += 1
        return due

    # -- the documented operations ----------------------------------------------------

    def create_new_rows(
        self,
        account_id: str,
        dataset_id: str,
        body: Any,
        *,
        idempotency_key: str | None = None,
        category: Category | None = None,
    ) -> ClaroTask:
        """``POST /datasets/{datasetId}/tasks/new-rows``.

        With an ``idempotency_key`` already used (by this account, within its retention)
        for the same request, returns the task exactly as the first call returned it.

        The checks run in the order of the errors below; a refusal changes nothing (no
        lock taken, no quota counted).

        Raises:
            DatasetNotFound: no such dataset for this account.
            ValidationError: the body breaks the documented request shape.
            IdempotencyConflict: the key was used for another request.
            WebhookNotFound: ``webhookId`` names no webhook of this account.
            DatasetLocked: a task holds the dataset.
            QuotaExceeded: the account's quota is used up.
        """
        return self._create("new_rows", account_id, dataset_id, body, idempotency_key, category)

    def create_bulk(
        self,
        account_id: str,
        dataset_id: str,
        body: Any,
        *,
        idempotency_key: str | None = None,
        category: Category | None = None,
    ) -> ClaroTask:
        """``POST /datasets/{datasetId}/tasks/bulk``.

        The checks run in the order of the errors below; a refusal changes nothing (no
        lock taken, no quota counted).

        Raises:
            DatasetNotFound: no such dataset for this account.
            ValidationError: the body breaks the documented request shape.
            InvalidSelection: the selection names unknown or no cells, or mixes
                ``cellIds`` with ``rowIds``/``columnIds``.
            IdempotencyConflict: the key was used for another request.
            WebhookNotFound: ``webhookId`` names no webhook of this account.
            DatasetLocked: a task holds the dataset.
            QuotaExceeded: the account's quota is used up.
        """
        return self._create("bulk", account_id, dataset_id, body, idempotency_key, category)

    def _create(
        self,
        kind: str,
        account_id: str,
        dataset_id: str,
        body: Any,
        idempotency_key: str | None,
        category: Category | None,
    ) -> ClaroTask:
        with self._spare_guard:
            ahead = [self._spare_ids.pop() if self._spare_ids else self.ids()]
        try:
            return self._create_in(
                kind, account_id, dataset_id, body, idempotency_key, category, ahead
            )
        finally:
            if ahead:  # drawn ahead and not used: the next create's
                with self._spare_guard:
                    if len(self._spare_ids) < _SPARE_IDS:
                        self._spare_ids.append(ahead[0])

    def _create_in(
        self,
        kind: str,
        account_id: str,
        dataset_id: str,
        body: Any,
        idempotency_key: str | None,
        category: Category | None,
        ahead: list[str],
    ) -> ClaroTask:
        with self.store.unit() as unit:
            # What a create reads first, in one trip on a networked store: the dataset,
            # then its lease and fencing token (in the order every call takes them),
            # and what the task id drawn ahead would name (see _task_id_free).
            key = composite_key(account_id, dataset_id)
            unit.get_many([(DATASETS, key), (LEASES, key), (TOKENS, key), *_id_keys(ahead[0])])
            key = self._dataset(unit, account_id, dataset_id)
            selection: Selection | None = None
            if kind == "new_rows":
                request = parse_new_rows(body)
                webhook_id, total, row_count = (
                    request.webhook_id,
                    request.row_count,
                    request.row_count,
                )
                canonical: Any = {"rowCount": row_count, "webhookId": webhook_id}
            else:
                bulk = parse_bulk(body)
                webhook_id, selection, row_count = bulk.webhook_id, bulk.selection, None
                canonical = {"selection": selection.to_wire(), "webhookId": webhook_id}
            if idempotency_key is not None:
                idempotency_key = check_key(idempotency_key)
                print_ = fingerprint(kind, dataset_id, canonical)
                original = self.idempotency.recall(unit, [account_id], idempotency_key, print_)
                if original is not None:
                    return ClaroTask.from_doc(original)
            self._settle_expired(unit, key)  # may change the grid, not the metadata
            if selection is not None:
                total = selection.resolve(self._grid(unit, key)).count
            if webhook_id is not None:
                self._webhook(unit, account_id, webhook_id)
            grid = self._grid(unit, key) if selection is None else None
            task_id = draw_free(
                "task",
                lambda: ahead.pop() if ahead else self.ids(),
                lambda i: self._task_id_free(unit, i, grid, total),
            )
            grant = self._acquire(unit, key, dataset_id, task_id)
            self.quota.charge(unit, account_id)
            task_type = TaskType.NEW_ROWS if selection is None else TaskType.BULK_PROCESSING
            low, high = self.estimator.estimate(task_type, total)
            task = ClaroTask(
                task_id=task_id,
                dataset_id=dataset_id,
                account_id=account_id,
                type=task_type,
                category=category or Category(_need(unit, DATASETS, key)["category"]),
                status=CLARO_TASK.initial,
                created_at=unit.now,
                total=total,
                estimate_low=low,
                estimate_high=high,
                lease_token=grant.lease.token,
                row_count=row_count,
                process_only_empty=None if selection is None else selection.process_only_empty,
                webhook_id=webhook_id,
            )
            doc = task.to_doc()
            unit.put(TASKS, task_id, doc)
            unit.put(ACTIVE, task_id, key)
            if selection is not None:
                unit.put(SELECTIONS, task_id, canonical["selection"])
            if idempotency_key is not None:
                self.idempotency.remember(unit, [account_id], idempotency_key, print_, task_id, doc)
            self._prune_on_the_side(unit)
            return task

    def get(self, account_id: str, dataset_id: str, task_id: str) -> ClaroTask:
        """``GET /datasets/{datasetId}/tasks/{taskId}``, as a task value.

        A task whose lease lapsed is failed with ``lease_expired`` (dated when the lease
        expired): the read settles it.

        Raises:
            DatasetNotFound: no such dataset for this account.
            TaskNotFound: no such task, also for another account's task or a task under
                another dataset's path.
        """
        return self._read(account_id, dataset_id, task_id)[0]

    def status(self, account_id: str, dataset_id: str, task_id: str) -> dict[str, Any]:
        """The documented ``GET`` response body, judged at the store's instant.

        Raises:
            DatasetNotFound: no such dataset for this account.
            TaskNotFound: no such task under this dataset.
        """
        return status_response(*self._read(account_id, dataset_id, task_id))

    def _read(self, account_id: str, dataset_id: str, task_id: str) -> tuple[ClaroTask, datetime]:
        """The task and the store's instant; in a read unit, which never waits for a
        writer, unless the task's lease looks lapsed: then in a write unit, where its
        instant is read under the write lock, so a renewal committing at that moment is
        seen, and the lapse is settled for good."""
        with self.store.unit(readonly=True) as unit:
            self._dataset(unit, account_id, dataset_id)
            task = self._task(unit, task_id, account_id, dataset_id)
            if task.is_terminal or self._live(unit, task):
                return task, unit.now
        with self.store.unit() as unit:
            key = self._dataset(unit, account_id, dataset_id)
            self._settle_expired(unit, key)
            return self._task(unit, task_id, account_id, dataset_id), unit.now

    def check_dataset(self, account_id: str, dataset_id: str) -> None:
        """Raise :class:`DatasetNotFound` unless ``account_id`` has ``dataset_id``."""
        with self.store.unit(readonly=True) as unit:
            self._dataset(unit, account_id, dataset_id)

    def cancel(self, account_id: str, dataset_id: str, task_id: str) -> ClaroTask:
        """``DELETE /datasets/{datasetId}/tasks/{taskId}``: cancel a queued or processing task.

        Every refusal leaves the task and the dataset unchanged.

        Raises:
            DatasetNotFound: no such dataset for this account.
            TaskNotFound: no such task under this dataset.
            TaskNotCancellable: the task already completed, failed or was cancelled (a
                lapsed lease included); carries ``current_status``.
        """
        with self.store.unit() as unit:
            key = self._dataset(unit, account_id, dataset_id)
            task = self._task(unit, task_id, account_id, dataset_id)
            settled = self._settle_expired(unit, key)
            if settled is not None and settled.task_id == task_id:
                task = settled
            return self._finish(unit, task, ClaroEvent.CANCEL)

    def settle_expired(self) -> list[ClaroTask]:
        """Fail every task whose lease lapsed (``lease_expired``), free its dataset and
        write its notification.  Costs in proportion to the tasks that have not ended.

        Returns:
            The tasks settled now.
        """
        with self.store.unit() as unit:
            return self._settle_all(unit)

    # -- the worker's operations ------------------------------------------------------

    def start(self, task_id: str) -> ClaroTask:
        """A worker picks the task up: ``queued -> processing``; renews the lease.

        The returned task's ``lease_token`` is what the worker's later writes carry.

        Raises:
            TaskNotFound: no such task; nothing changed.
            IllegalTransition: the task is not queued; nothing changed.
            LeaseLost: its lease lapsed: the task is failed, nothing else changed.
        """

        def act(unit: Unit, task: ClaroTask) -> ClaroTask:
            status = CLARO_TASK.fire(task.status, ClaroEvent.START)
            self.locks.renew_in(unit, self._resource(task), task.lease_token)
            task = attrs.evolve(task, status=status, started_at=unit.now)
            unit.put(TASKS, task_id, task.to_doc())
            return task

        return self._fenced(task_id, None, act, own_token=True)

    def task(self, task_id: str) -> ClaroTask:
        """The task ``task_id`` as a worker sees it (any account's; no lapse settled).

        Raises:
            TaskNotFound: no such task.
        """
        with self.store.unit(readonly=True) as unit:
            return self._task(unit, task_id)

    def active(self, limit: int = 100) -> tuple[ClaroTask, ...]:
        """Tasks that have not ended (``queued`` or ``processing``), by task id, at most
        ``limit``: what a worker picks up.  Reads the index of unended tasks, so the cost
        follows ``limit``, not the history.  A task whose lease lapsed is listed until
        something settles it (a worker write on it is refused with ``LEASE_LOST``).

        Raises:
            ValueError: ``limit`` is negative; nothing was read.
        """
        with self.store.unit(readonly=True) as unit:
            return tuple(self._task(unit, key) for key, _ in unit.scan(ACTIVE, limit=limit))

    def targets(self, task_id: str) -> Iterator[Target]:
        """The task's targets in order: what a worker processes and records by index.

        Bulk: the target cells, row-major.  New rows: one target per row to create.

        Raises:
            TaskNotFound: no such task.
        """
        with self.store.unit(readonly=True) as unit:
            task = self._task(unit, task_id)
            grid = self._grid(unit, self._resource(task))
            selection = self._selection(unit, task)
        if selection is None:
            return (Target(i, self._new_row_id(task, i)) for i in range(task.total))
        cells = selection.resolve(grid).cells()
        return (
            Target(i, row, column, grid.cell_id(row, column))
            for i, (row, column) in enumerate(cells)
        )

    def record(
        self,
        task_id: str,
        *,
        token: int,
        succeeded: Collection[int] = (),
        failed: Collection[int] = (),
    ) -> ClaroTask:
        """Record a batch of cell outcomes of a bulk task, by target index.

        Args:
            task_id: the task.
            token: the task's fencing token (``lease_token``).
            succeeded: indices of cells that were filled.
            failed: indices of cells that could not be.

        Every refusal leaves the task unchanged.

        Raises:
            TaskNotFound: no such task.
            LeaseLost: the lease lapsed, or ``token`` is another lease's.
            IllegalTransition: the task is not processing.
            ValidationError: a new-rows task, or an index that is not an integer, out of
                range, given twice, or already recorded.
        """
        batch: list[Sequence[int]] = []

        def act(unit: Unit, task: ClaroTask) -> ClaroTask:
            status = CLARO_TASK.fire(task.status, ClaroEvent.RECORD)
            if task.type is not TaskType.BULK_PROCESSING:
                raise ValidationError("A new-rows task records rows: use record_rows()")
            recorded = self._recorded_targets(unit, task)
            batch.extend(recorded.check([succeeded, failed]))
            ok, bad = batch
            self.locks.renew_in(unit, self._resource(task), task.lease_token)
            unit.put(BATCHES, composite_key(task_id, str(task.batches)),
                     [encode_group(ok), encode_group(bad)])  # fmt: skip
            task = attrs.evolve(
                task,
                status=status,
                completed=task.completed + len(ok) + len(bad),
                successful_cells=task.successful_cells + len(ok),
                failed_cells=task.failed_cells + len(bad),
                batches=task.batches + 1,
            )
            unit.put(TASKS, task_id, task.to_doc())
            return task

        task = self._fenced(task_id, token, act)
        self._remember(task, batch)
        return task

    def record_rows(self, task_id: str, rows: Iterable[RowOutcome], *, token: int) -> ClaroTask:
        """Record a batch of created rows of a new-rows task.

        Each row's cells (one per dataset column) count as processed; those in
        ``failed_columns`` as failed, the others as successful.

        Every refusal leaves the task unchanged.

        Raises:
            TaskNotFound: no such task.
            LeaseLost: the lease lapsed, or ``token`` is another lease's.
            IllegalTransition: the task is not processing.
            ValidationError: a bulk task, or an index out of range, repeated, already
                recorded, or an unknown column.
        """
        rows = list(rows)
        for row in rows:
            if not isinstance(row, RowOutcome):
                raise ValidationError("rows must be RowOutcome values", field="rows")
        batch: list[Sequence[int]] = []

        def act(unit: Unit, task: ClaroTask) -> ClaroTask:
            status = CLARO_TASK.fire(task.status, ClaroEvent.RECORD)
            if task.type is not TaskType.NEW_ROWS:
                raise ValidationError("A bulk task records cells: use record()")
            recorded = self._recorded_targets(unit, task)
            batch.extend(recorded.check([[r.index for r in rows]]))
            (indices,) = batch
            columns = self._grid(unit, self._resource(task)).column_ids
            unknown = sorted({c for r in rows for c in r.failed_columns} - set(columns))
            if unknown:
                raise ValidationError(
                    f"Unknown column(s): {', '.join(unknown)}", field="failed_columns"
                )
            failed = sum(len(r.failed_columns) for r in rows)
            self.locks.renew_in(unit, self._resource(task), task.lease_token)
            unit.put(BATCHES, composite_key(task_id, str(task.batches)),
                     [[r.index, sorted(r.failed_columns)] for r in rows])  # fmt: skip
            task = attrs.evolve(
                task,
                status=status,
                completed=task.completed + len(indices),
                successful_cells=task.successful_cells + len(rows) * len(columns) - failed,
                failed_cells=task.failed_cells + failed,
                batches=task.batches + 1,
            )
            unit.put(TASKS, task_id, task.to_doc())
            return task

        task = self._fenced(task_id, token, act)
        self._remember(task, batch)
        return task

    def complete(self, task_id: str, *, token: int) -> ClaroTask:
        """The worker finished: ``processing -> completed`` once every target is recorded.

        Releases the dataset, applies the outcomes, writes the webhook notification.

        Every refusal leaves the task and the dataset unchanged.

        Raises:
            TaskNotFound: no such task.
            LeaseLost: the lease lapsed, or ``token`` is another lease's.
            IllegalTransition: the task is not processing, or targets are left (guard
                ``all_recorded``).
        """
        return self._fenced(
            task_id, token, lambda unit, task: self._finish(unit, task, ClaroEvent.COMPLETE)
        )

    def fail(self, task_id: str, reason: str = "worker_failed", *, token: int) -> ClaroTask:
        """The worker gave up: ``queued|processing -> failed`` with ``reason``.

        Every refusal leaves the task and the dataset unchanged.

        Raises:
            TaskNotFound: no such task.
            LeaseLost: the lease lapsed, or ``token`` is another lease's.
            IllegalTransition: the task already ended.
            ValidationError: ``reason`` is not a non-empty string.
        """
        if not isinstance(reason, str) or not reason:
            raise ValidationError("reason must be a non-empty string", field="reason")
        return self._fenced(
            task_id, token, lambda unit, task: self._finish(unit, task, ClaroEvent.FAIL, reason)
        )

    # -- inside a unit ----------------------------------------------------------------

    def _fenced(
        self,
        task_id: str,
        token: object,
        act: Callable[[Unit, ClaroTask], T],
        *,
        own_token: bool = False,
    ) -> T:
        """Run a worker write: the task's lease must be live and ``token`` its own
        (``own_token``: the task's token, for ``start``, which hands it out).

        A lapsed lease is settled (the task fails with ``lease_expired``) and committed,
        then the write is refused with :class:`LeaseLost`; any other refusal rolls back.
        """
        checked = None if own_token else _token(token)
        with self.store.unit() as unit:
            task = self._task(unit, task_id)
            given = task.lease_token if checked is None else checked
            settled = self._settle_expired(unit, self._resource(task))
            if settled is not None and settled.task_id == task_id:
                task = settled
            if task.failure_reason == LEASE_EXPIRED:
                lost = LeaseLost(
                    task_id=task_id, dataset_id=task.dataset_id, token=given, reason="expired"
                )
            elif given != task.lease_token:
                raise LeaseLost(
                    task_id=task_id, dataset_id=task.dataset_id, token=given, reason="wrong_token"
                )
            else:
                return act(unit, task)
        raise lost

    def _finish(
        self,
        unit: Unit,
        task: ClaroTask,
        event: ClaroEvent,
        reason: str | None = None,
        at: datetime | None = None,
    ) -> ClaroTask:
        """Fire a terminal event, release the lease, apply outcomes, notify: one unit."""
        status = CLARO_TASK.fire(task.status, event, task.progress)
        at = unit.now if at is None else at
        stamps: dict[ClaroStatus, dict[str, Any]] = {
            ClaroStatus.COMPLETED: {"completed_at": at},
            ClaroStatus.CANCELLED: {"cancelled_at": at},
            ClaroStatus.FAILED: {"failed_at": at, "failure_reason": reason},
        }
        task = attrs.evolve(task, status=status, **stamps[status])
        unit.put(TASKS, task.task_id, task.to_doc())
        unit.delete(ACTIVE, task.task_id)
        self.locks.release_in(unit, self._resource(task), task.lease_token)
        self._apply(unit, task)
        self._recorded.pop(task.task_id)  # an ended task records nothing more
        if task.webhook_id is not None and status is not ClaroStatus.CANCELLED:
            body = json.dumps(webhook_payload(task), separators=(",", ":"))
            doc = {"accountId": task.account_id, "webhookId": task.webhook_id,
                   "body": body, "createdAt": format_instant(at), "attempts": 0}  # fmt: skip
            self._reschedule(unit, task.task_id, doc, at)
        if self.task_retention is not None:
            self._expiry.add(unit, at + self.task_retention, f"task|{task.task_id}")
        return task

    def _apply(self, unit: Unit, task: ClaroTask) -> None:
        """Write an ended task's outcomes into its dataset (one new grid version), and
        drop its outcome batches: they are applied, and the counts are on the task."""
        if task.batches == 0:
            return
        key = self._resource(task)
        grid = Grid.load(_need(unit, GRIDS, key))
        names = [composite_key(task.task_id, str(n)) for n in range(task.batches)]
        batches = [_need(unit, BATCHES, name) for name in names]
        selection = self._selection(unit, task)
        if selection is None:
            created = sorted((index, set(failed)) for b in batches for index, failed in b)
            columns = grid.column_ids
            for index, failed in created:
                row_id = self._new_row_id(task, index)
                grid.add_rows([row_id], filled=True)
                for column in failed:
                    if column in columns:
                        grid.set_filled(row_id, column, False)
        else:
            succeeded = {i for ok, _ in batches for i in decode_group(ok)}
            cells = list(selection.resolve(grid).cells())
            for index in sorted(succeeded):
                row_id, column_id = cells[index]
                grid.set_filled(row_id, column_id, True)
        for name in names:
            unit.delete(BATCHES, name)
        category = Category(_need(unit, DATASETS, key)["category"])
        self._put_grid(unit, key, category, grid.dump())

    def _settle_expired(self, unit: Unit, resource: str) -> ClaroTask | None:
        """Fail the task whose lease on ``resource`` lapsed, dated when it lapsed, and
        free the dataset.  Returns that task, or ``None`` when there was none."""
        lease = self.locks.lease_in(unit, resource)
        if lease is None or lease.is_live(unit.now):
            return None
        task = ClaroTask.from_doc(_need(unit, TASKS, lease.holder_task_id))
        if task.is_terminal:  # pragma: no cover - an ended task always released its lease
            return None
        return self._finish(unit, task, ClaroEvent.FAIL, LEASE_EXPIRED, at=lease.expires_at)

    def _settle_all(self, unit: Unit) -> list[ClaroTask]:
        settled = []
        for _, resource in unit.items(ACTIVE):
            if not self._claim_settling(unit, resource):
                continue
            task = self._settle_expired(unit, resource)
            if task is not None:
                settled.append(task)
        return settled

    def _claim_settling(self, unit: Unit, resource: str) -> bool:
        """Take, without waiting, what settling ``resource``'s lapsed lease rests on: the
        dataset, its lease and the task holding it.  ``False`` when there is no lease,
        or another unit holds one of them (on a store whose write units run at once,
        PostgreSQL): that unit acts on the dataset itself, or a later pass settles it.
        So a settle never waits for, nor deadlocks with, a cancel or a worker's write
        (they take the dataset or the task first, then the lease)."""
        if unit.claim(DATASETS, resource) is None:
            return False
        record = unit.claim(LEASES, resource)
        if record is None:
            return False
        return unit.claim(TASKS, Lease.from_record(resource, record).holder_task_id) is not None

    def _live(self, unit: Unit, task: ClaroTask) -> bool:
        """Whether the task's lease still holds its dataset at ``unit.now``."""
        lease = self.locks.lease_in(unit, self._resource(task))
        return lease is not None and lease.token == task.lease_token and lease.is_live(unit.now)

    def _acquire(self, unit: Unit, resource: str, dataset_id: str, task_id: str) -> Any:
        try:
            grant = self.locks.acquire_in(unit, resource, task_id)
        except DatasetLocked as error:
            raise DatasetLocked(
                dataset_id=dataset_id,
                active_task_id=error.active_task_id,
                expires_at=error.expires_at,
            ) from None
        if grant.reentered:  # pragma: no cover - task ids are drawn unused
            raise IdCollision("task", 1)
        return grant

    def _recorded_targets(self, unit: Unit, task: ClaroTask) -> RecordedTargets:
        """The task's recorded targets: a bounded per-task cache, caught up from the
        store when another process (or a race between threads) recorded batches it has
        not seen.  Units are serialised, so only one unit at a time checks a task."""
        recorded = self._recorded.get(task.task_id)
        if recorded is None or recorded.batches > task.batches:
            recorded = RecordedTargets(task.total)
            self._recorded.put(task.task_id, recorded)
        for n in range(recorded.batches, task.batches):
            batch = _need(unit, BATCHES, composite_key(task.task_id, str(n)))
            if task.type is TaskType.NEW_ROWS:
                recorded.mark([[index for index, _ in batch]])
            else:
                recorded.mark([decode_group(group) for group in batch])
        recorded.batches = task.batches
        return recorded

    def _remember(self, task: ClaroTask, groups: list[Sequence[int]]) -> None:
        """Mark a committed batch in the cache, unless a catch-up already did."""
        recorded = self._recorded.get(task.task_id)
        if recorded is not None and recorded.batches == task.batches - 1:
            recorded.mark(groups)
            recorded.batches = task.batches

    def _new_row_id(self, task: ClaroTask, index: int) -> str:
        return _row_id(task.task_id, index)

    def _task_id_free(self, unit: Unit, task_id: str, grid: Grid | None, rows: int) -> bool:
        """Whether ``task_id`` names nothing: no task, no notification (pending or
        delivered, which outlive a pruned task), and, for a new-rows task (``grid``),
        none of the rows it would create."""
        taken = any(value is not None for value in unit.get_many(_id_keys(task_id)).values())
        if taken or grid is None:
            return not taken
        return not any(grid.has_row(_row_id(task_id, i)) for i in range(rows))

    def _resource(self, task: ClaroTask) -> str:
        """The lock resource (and store key) of the task's dataset."""
        return composite_key(task.account_id, task.dataset_id)

    def _selection(self, unit: Unit, task: ClaroTask) -> Selection | None:
        if task.type is TaskType.NEW_ROWS:
            return None
        return Selection.from_wire(_need(unit, SELECTIONS, task.task_id))

    def _dataset(self, unit: Unit, account_id: str, dataset_id: str) -> str:
        """The dataset's store key; :class:`DatasetNotFound` unless the account has it."""
        key = composite_key(account_id, dataset_id)
        if unit.get(DATASETS, key) is None:
            raise DatasetNotFound(dataset_id)
        return key

    def _task(
        self,
        unit: Unit,
        task_id: str,
        account_id: str | None = None,
        dataset_id: str | None = None,
    ) -> ClaroTask:
        doc = unit.get(TASKS, task_id)
        if doc is None:
            raise TaskNotFound(task_id)
        task = ClaroTask.from_doc(doc)
        if account_id is not None and task.account_id != account_id:
            raise TaskNotFound(task_id)
        if dataset_id is not None and task.dataset_id != dataset_id:
            raise TaskNotFound(task_id)
        return task

    def _webhook(self, unit: Unit, account_id: str, webhook_id: str) -> Webhook:
        doc = unit.get(WEBHOOKS, composite_key(account_id, webhook_id))
        if doc is None:
            raise WebhookNotFound(webhook_id)
        return Webhook.from_doc(webhook_id, doc)

    def _grid(self, unit: Unit, key: str) -> Grid:
        """The dataset's grid as this unit sees it, shared read-only from a cache.

        Versions are unique per write (never reused, even by a unit that rolled back), so
        a cached grid is the right one exactly when its version matches.
        """
        version: str = _need(unit, DATASETS, key)["version"]
        cached = self._grids.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        grid = Grid.load(_need(unit, GRIDS, key))
        self._grids.put(key, (version, grid))
        return grid

    def _put_grid(self, unit: Unit, key: str, category: Category, dump: Mapping[str, Any]) -> None:
        unit.put(GRIDS, key, dump)
        unit.put(DATASETS, key, {"category": category.value, "version": uuid.uuid4().hex})


_SPARE_IDS: Final = 8
"""The most task ids drawn ahead and not used that a service keeps for later creates."""


def _id_keys(task_id: str) -> list[tuple[str, str]]:
    """What a new task id must not name: a task, or a notification (pending or
    delivered or given up on, which outlive a pruned task)."""
    return [(table, task_id) for table in (TASKS, OUTBOX, DELIVERED, GAVE_UP)]
