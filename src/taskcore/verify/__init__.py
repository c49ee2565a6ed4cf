"""``taskcore verify``: check an implementation of the four task APIs against the
documented behaviour over HTTP, lifecycle-aware, with shrunk, replayable
counterexamples (docs/verify.md).

The pieces, each usable alone:

- :mod:`taskcore.verify.exchange`: :class:`Step` (a request as a template, ``${name}``
  for server-made ids, with ``capture``), :class:`Exchange` (a request and its answer),
  :class:`HttpClient` (``http.client``, timeouts, bounded reads).
- :mod:`taskcore.verify.model`: :class:`ApiModel`, the checking model of one API
  (``step(exchange) -> [Divergence]`` judges and advances, learning server-made ids;
  ``operations()`` draws the next step), :class:`Property`, :class:`Check`,
  :class:`Divergence`.  Checkers: :class:`taskcore.verify.claro.ClaroChecker`,
  :class:`taskcore.verify.chunkr.ChunkrChecker`.
- :mod:`taskcore.verify.sut`: :class:`SystemUnderTest` (the API over HTTP, the
  documented control interface for the worker side, the reset hook).
- :mod:`taskcore.verify.driver`: :func:`run_steps`, :func:`explore` (Hypothesis),
  :func:`replay`.
- :mod:`taskcore.verify.scenario`: named scenarios (JSON) and the shipped ones.
- :mod:`taskcore.verify.repro`: ``sequence.json``, ``repro.sh``, ``test_repro.py``.
- :mod:`taskcore.verify.run`: :func:`verify` (options -> :class:`Report`), JUnit XML
  and JSON reports; ``taskcore verify`` calls it.

Needs Hypothesis (``pip install 'taskcore[testing]'``) for random sequences.
"""

from __future__ import annotations

from taskcore.verify.exchange import Exchange, HttpClient, Step, Unreachable
from taskcore.verify.model import ApiModel, Check, Divergence, Property
from taskcore.verify.sut import ResetFailed, SystemUnderTest

__all__ = [
    "ApiModel",
    "Check",
    "Divergence",
    "Exchange",
    "HttpClient",
    "Property",
    "ResetFailed",
    "Step",
    "SystemUnderTest",
    "Unreachable",
]
