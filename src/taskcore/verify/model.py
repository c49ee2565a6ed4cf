"""The checking model of an API: what it judges, and what it reports (docs/verify.md).

A checking model (:class:`ApiModel`, one subclass per API) holds the naive model state
of one API as the vendor's documents describe it, starting from the fixtures the system
under test starts from.  It is fed :class:`~taskcore.verify.exchange.Exchange` values,
one at a time, in the order they happened:

- :meth:`ApiModel.step` judges one observed answer against what the documents allow in
  the model's state (status, error code, the documented fields, the invariants), returns
  the :class:`Divergence` values found, then advances the model.  Ids the server made
  are *learned* from the answers, so the same model judges a random sequence, a named
  scenario, a saved counterexample or a recorded trace.
- :meth:`ApiModel.operations` is a Hypothesis strategy of the next
  :class:`~taskcore.verify.exchange.Step` that makes sense in the model's state (the
  random driver draws one, makes it, feeds the exchange back).  Server-made ids are
  referred to by variable (``${task_1}``): the driver tells the model what it captured
  with :meth:`ApiModel.bind`, and :meth:`ApiModel.ref` gives a value's placeholder.
- Every comparison is counted under a named :class:`Property` (``lock``,
  ``progress``, ...) with :meth:`ApiModel.check`: a property with no check made is
  *not checked*, never *held*.  A property that needs the worker side or another
  tenant's key names it in :attr:`Property.needs`; :meth:`ApiModel.unavailable` says why
  it could not be checked.
- :attr:`ApiModel.coverage` counts the lifecycle transitions seen (``queued ->
  processing``); :attr:`ApiModel.transitions` lists every one the documents allow.

To write a checker for another API: subclass :class:`ApiModel`, give ``api``,
``properties`` and ``transitions``, and implement :meth:`~ApiModel.auth_headers`,
:meth:`~ApiModel.operations`, :meth:`~ApiModel.step` and :meth:`~ApiModel.state`; then
register it in ``taskcore.verify.run._checkers`` and
:data:`taskcore.verify.run.CHECKERS`.  :class:`Check` values on a divergence are what
``repro.sh`` re-tests on the last answer: give ones that hold against the reference
and fail against the divergent server.
"""

from __future__ import annotations

import abc
import operator
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs

from taskcore.verify.exchange import Exchange, Step, capture_value, field_at

if TYPE_CHECKING:
    from hypothesis import strategies as st

__all__ = [
    "BAD_KEY",
    "NEEDS_OTHER_TENANT",
    "NEEDS_WORKER",
    "OPERATORS",
    "REFUSALS",
    "TENANCY",
    "WORKER",
    "ApiModel",
    "Check",
    "Divergence",
    "Property",
    "judge",
]

NEEDS_WORKER: Final = "worker"
"""A property that needs the control interface (the worker side)."""
NEEDS_OTHER_TENANT: Final = "other tenant"
"""A property that needs a second tenant's key (in the fixtures)."""

OPERATORS: Final[Mapping[str, Callable[[Any, Any], bool]]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">=": lambda a, b: a is not None and a >= b,
    "<=": lambda a, b: a is not None and a <= b,
    "in": lambda a, b: a in b,
    "not in": lambda a, b: a not in b,
}
"""The comparisons a :class:`Check` may make (``actual OP value``)."""


@attrs.frozen
class Property:
    """A documented behaviour the checker holds the system under test to.

    Attributes:
        name: short, stable (``"lock"``); the JUnit test case's name.
        description: one sentence, what holds.
        needs: what the check needs beyond the API (:data:`NEEDS_WORKER`,
            :data:`NEEDS_OTHER_TENANT`).
    """

    name: str
    description: str
    needs: frozenset[str] = frozenset()


REFUSALS: Final = Property("refusals", "a refused call changes nothing")
"""Every API's: a refused call changes nothing later reads show."""
TENANCY: Final = Property(
    "tenancy", "another tenant sees none of the caller's data", frozenset({NEEDS_OTHER_TENANT})
)
"""Every API's: another tenant's key is answered "not found" for the caller's data."""
WORKER: Final = Property(
    "worker",
    "the worker side's steps follow the documented lifecycle",
    frozenset({NEEDS_WORKER}),
)
"""Every API's: the control interface's steps follow the lifecycle."""
BAD_KEY: Final = "taskcore-verify-bad-key"
"""The key a ``"bad"`` tenant sends (nobody has it)."""


@attrs.frozen
class Check:
    """One comparison on an answer: ``<target> <op> <value>``.

    ``target`` is ``"status"``, ``"text"`` (the body as text), ``"body.<dotted
    path>"`` (a field of the JSON body, a number naming a list item; ``"body"`` is the
    whole document), or
    ``"has.<name>"`` (whether the JSON body has that top-level field: true or false).
    """

    target: str
    op: str
    value: Any

    def actual(self, status: int, body: bytes) -> Any:
        """The value ``target`` names in an answer (``None`` when it is absent)."""
        if self.target == "status":
            return status
        text = body.decode("utf-8", "replace")
        if self.target == "text":
            return text
        import json

        try:
            document = json.loads(text)
        except ValueError:
            return None
        if self.target == "body":
            return document
        if self.target.startswith("has."):
            return isinstance(document, dict) and self.target.removeprefix("has.") in document
        return field_at(document, self.target.removeprefix("body."))

    def holds(self, status: int, body: bytes) -> bool:
        """Whether the comparison holds on the answer."""
        try:
            return OPERATORS[self.op](self.actual(status, body), self.value)
        except TypeError:
            return False

    def to_json(self) -> dict[str, Any]:
        """``{"target", "op", "value"}``."""
        return {"target": self.target, "op": self.op, "value": self.value}

    def __str__(self) -> str:
        return f"{self.target} {self.op} {self.value!r}"


@attrs.frozen
class Divergence:
    """The system under test departed from the documents.

    Attributes:
        property: the :attr:`Property.name` broken.
        message: what was expected and what came, in one sentence.
        checks: comparisons on the answer that hold against the reference and failed
            here (``repro.sh`` re-makes them).
        step: the index of the step whose answer diverged (set by the driver).
    """

    property: str
    message: str
    checks: tuple[Check, ...] = ()
    step: int = -1

    def to_json(self) -> dict[str, Any]:
        """For reports."""
        return {
            "property": self.property,
            "message": self.message,
            "step": self.step,
            "checks": [c.to_json() for c in self.checks],
        }


class ApiModel(abc.ABC):
    """The checking model of one API (see the module docstring).

    Mutable; one instance per sequence (the driver makes a fresh one after each reset).

    Args:
        key: the caller's API key (``--key``).
        other_key: another tenant's key, or ``None`` (then the tenancy properties are
            not checked).
        control: whether the control interface (worker side) is there.
    """

    api: ClassVar[str]
    """The API's name on the command line (``claro``)."""
    properties: ClassVar[tuple[Property, ...]]
    """Every property this checker judges."""
    transitions: ClassVar[tuple[str, ...]]
    """Every lifecycle transition the documents allow, as ``"from -> to"``."""

    def __init__(self, key: str, other_key: str | None, *, control: bool) -> None:
        self.key = key
        self.other_key = other_key
        self.control = control
        self.tally: Counter[str] = Counter()
        self.coverage: Counter[str] = Counter()
        self.names: dict[str, str] = {}
        self._counters: Counter[str] = Counter()

    # -- what a subclass gives --------------------------------------------------------

    @abc.abstractmethod
    def auth_headers(self, tenant: str) -> dict[str, str]:
        """The headers that make a request come from ``tenant`` (:data:`TENANTS`)."""

    @abc.abstractmethod
    def operations(self) -> st.SearchStrategy[Step]:
        """The next step that makes sense now (drawn by the random driver)."""

    @abc.abstractmethod
    def step(self, exchange: Exchange) -> list[Divergence]:
        """Judge ``exchange`` against the model, then advance the model (learning
        server-made ids from the answer).  Never raises on a bad answer: a bad answer
        is a divergence."""

    @abc.abstractmethod
    def state(self) -> dict[str, Any]:
        """The model's state as JSON (for the report)."""

    # -- shared -------------------------------------------------------------------------

    def tenant_of(self, path: str, headers: Mapping[str, str]) -> str:
        """Who made a recorded request (for traces): ``control`` under the control
        interface's prefix, else the tenant whose :meth:`auth_headers` it carries
        (``main``, ``other``, ``none`` for no key), else ``bad``."""
        if path.startswith("/_taskcore/"):
            return "control"
        given = {name.lower(): value for name, value in headers.items()}
        for tenant in ("main", "other"):
            if self.token(tenant) is not None:
                wanted = self.auth_headers(tenant)
                if all(given.get(name) == value for name, value in wanted.items()):
                    return tenant
        return "none" if "authorization" not in given else "bad"

    def token(self, tenant: str) -> str | None:
        """The key ``tenant`` sends: the ``--key``, the other tenant's, :data:`BAD_KEY`,
        or ``None`` (``none`` and ``control`` send none)."""
        return {"main": self.key, "other": self.other_key, "bad": BAD_KEY}.get(tenant)

    def variables(self) -> dict[str, str]:
        """Starting values of scenario variables (``${dataset}``, say); none here."""
        return {}

    def unavailable(self, prop: Property) -> str | None:
        """Why ``prop`` cannot be checked against this system, or ``None``."""
        if NEEDS_WORKER in prop.needs and not self.control:
            return "needs the control interface (the worker side); none was found"
        if NEEDS_OTHER_TENANT in prop.needs and self.other_key is None:
            return "needs a second tenant's key in the fixtures"
        return None

    def check(
        self,
        prop: str,
        ok: bool,
        message: str,
        checks: Iterable[Check] = (),
        found: list[Divergence] | None = None,
    ) -> bool:
        """Count one check of ``prop``; when it fails, add a :class:`Divergence` to
        ``found``.  Returns ``ok``."""
        self.tally[prop] += 1
        if not ok and found is not None:
            found.append(Divergence(prop, message, tuple(checks)))
        return ok

    def worker_step_refused(
        self, exchange: Exchange, status: str | None, prop: str, found: list[Divergence]
    ) -> None:
        """Judge a control-interface step the model refuses: 404 for a task it does not
        know (``status`` ``None``), else any 4xx (the task is ``status``)."""
        where = f"worker step {exchange.path}"
        if status is None:
            checks: tuple[Check, ...] = (Check("status", "==", 404),)
            ok = exchange.status == 404
            message = f"{where}: an unknown task should be 404, got {exchange.status}"
        else:
            checks = (Check("status", ">=", 400), Check("status", "<=", 499))
            ok = 400 <= exchange.status < 500
            message = f"{where}: the task is {status}; the step should be refused, got "
            message += str(exchange.status)
        self.check(prop, ok, message, checks, found)

    def saw(self, before: str, after: str) -> None:
        """Count the lifecycle transition ``before -> after`` (nothing when equal)."""
        if before != after:
            self.coverage[f"{before} -> {after}"] += 1

    def next_name(self, kind: str) -> str:
        """The variable name the next captured value of ``kind`` gets (``task_1``,
        then ``task_2`` once ``task_1`` is bound...)."""
        return f"{kind}_{self._counters[kind] + 1}"

    def bind(self, name: str, value: str) -> None:
        """The driver captured ``value`` under ``name``: refer to it by name from now."""
        if value not in self.names:
            self.names[value] = name
            self._counters[name.rpartition("_")[0]] += 1

    def ref(self, value: str) -> str:
        """``${name}`` for a captured value, else the value itself."""
        name = self.names.get(value)
        return value if name is None else "${" + name + "}"

    def captured(self, step: Step, exchange: Exchange) -> dict[str, str]:
        """What ``step`` captures from ``exchange``'s answer (and :meth:`bind` it)."""
        document = exchange.json()
        values: dict[str, str] = {}
        for name, path in step.capture.items():
            value = capture_value(document, path)
            if value is not None:
                values[name] = value
                self.bind(name, value)
        return values


def judge(model: ApiModel, exchange: Exchange) -> list[Divergence]:
    """``model.step(exchange)``, with an answer (or a recorded request) of a shape the
    model did not foresee turned into a ``fields`` divergence naming the exchange,
    instead of an exception: a list of JSON where an object is documented, a number
    where a string is, ...  The model may be left part-way through the step; the run
    stops at the divergence anyway."""
    try:
        return model.step(exchange)
    except (AttributeError, TypeError, KeyError, IndexError, ValueError, RecursionError) as error:
        message = (
            f"{exchange.method} {exchange.path}: the request or its answer is not the "
            f"documented shape ({type(error).__name__}: {error})"
        )
        return [Divergence("fields", message, ())]
