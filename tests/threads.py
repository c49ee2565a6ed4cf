"""Run a test body on many threads at once (shared by the thread tests)."""

from __future__ import annotations

import threading
from collections.abc import Callable


def run_threads(count: int, body: Callable[[int], None], *, timeout: float = 300) -> None:
    """Start ``count`` threads together (a barrier), run ``body(index)`` on each, join.

    Fails the test when a thread raised or did not finish within ``timeout`` seconds.
    """
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def guarded(index: int) -> None:
        try:
            start.wait()
            body(index)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert [] == errors
    assert [] == [thread for thread in threads if thread.is_alive()]
