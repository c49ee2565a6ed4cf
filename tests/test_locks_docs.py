"""docs/locks.md's examples run as written (all but the last, which needs your store)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from taskcore.store import SqliteStore

DOC = Path(__file__).resolve().parent.parent / "docs" / "locks.md"


def test_the_lock_guide_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert 4 == len(blocks)
    monkeypatch.chdir(tmp_path)  # the first example creates taskcore.db in the cwd
    namespace: dict[str, object] = {}
    for number, block in enumerate(blocks[:3]):
        exec(compile(block, str(DOC), "exec"), namespace)
        if number == 0:
            # The example closes the SQLite store it opens (no connection left behind).
            store = namespace["store"]
            assert isinstance(store, SqliteStore)
            with pytest.raises(RuntimeError, match="closed"), store.unit():
                pass  # pragma: no cover - never reached
    assert (tmp_path / "taskcore.db").exists()
