"""Every ```python block of README.md and docs/**/*.md runs, as a reader would run it.

The conventions (docs/explanation/writing-docs.md):

- A block runs on its own, in a fresh namespace, in an empty temporary working folder.
- ``<!-- continue -->`` on the line before a block (blank lines between are allowed)
  runs it after the block before it, in the same namespace: a page may build one example
  over several blocks. One test runs such a chain, named after its first block.
- ``<!-- skip: REASON -->`` before a block says why it cannot run here (say, it needs
  your own store); such a block runs in no test. Keep them rare: README.md has none.
- A chain that reads the environment variable ``TASKCORE_POSTGRES_DSN`` runs against the
  PostgreSQL server the suite starts (tests/postgres_server.py), on an empty database.

An ``assert`` in a block is part of the example: the test fails when it does not hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from postgres_server import wipe

ROOT = Path(__file__).resolve().parent.parent
_FENCE = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_MARKER = re.compile(r"<!--\s*(continue|skip:\s*(?P<reason>.*?))\s*-->\s*\Z", re.DOTALL)


@attrs.frozen
class Block:
    """One ```python block: where it is, its code, and the marker before it."""

    path: str
    index: int
    line: int
    code: str
    marker: str | None
    reason: str | None


def blocks(path: str, text: str) -> list[Block]:
    """Every ```python block of ``text`` (the file at ``path``), in order."""
    found = []
    end = 0
    for index, match in enumerate(_FENCE.finditer(text)):
        before = text[end : match.start()].rstrip()
        last_line = before.rsplit("\n", 1)[-1]
        marker = _MARKER.search(last_line)
        kind = None if marker is None else marker.group(1).split(":", 1)[0]
        reason = None if marker is None else marker.group("reason")
        line = text.count("\n", 0, match.start()) + 2  # the first line of code
        found.append(Block(path, index, line, match.group(1), kind, reason))
        end = match.end()
    return found


def chains(found: list[Block]) -> Iterator[list[Block]]:
    """The blocks grouped into what runs together: a block and those that continue it."""
    chain: list[Block] = []
    for block in found:
        if block.marker == "continue":
            assert chain, f"{block.path}:{block.line}: nothing before this block to continue"
            chain.append(block)
            continue
        if chain:
            yield chain
        chain = [] if block.marker == "skip" else [block]
    if chain:
        yield chain


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def collected() -> list[list[Block]]:
    """Every chain of every document (read when collecting: docs/ ships with tests/)."""
    found: list[list[Block]] = []
    for document in documents():
        if not document.exists():  # a clone holding only tests/ collects nothing here
            continue
        relative = document.relative_to(ROOT).as_posix()
        found.extend(chains(blocks(relative, document.read_text(encoding="utf-8"))))
    return found


def chain_id(chain: list[Block]) -> str:
    first, last = chain[0], chain[-1]
    span = str(first.index) if first is last else f"{first.index}-{last.index}"
    return f"{first.path}[{span}]"


POSTGRES = "TASKCORE_POSTGRES_DSN"


@pytest.mark.parametrize("chain", collected(), ids=chain_id)
def test_the_example_runs(
    chain: list[Block],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    monkeypatch.chdir(tmp_path)
    dsn = None
    if any(POSTGRES in block.code for block in chain):
        dsn = request.getfixturevalue("postgres_dsn")
        wipe(dsn)
        monkeypatch.setenv(POSTGRES, dsn)
    namespace: dict[str, object] = {"__name__": "__doc_example__"}
    try:
        for block in chain:
            # Blank lines before the code keep the traceback's line numbers the file's.
            source = "\n" * (block.line - 1) + block.code
            exec(compile(source, str(ROOT / block.path), "exec"), namespace)
    finally:
        if dsn is not None:
            wipe(dsn)


PAGE = """# A page

```python
a = 1
```

<!-- continue -->

```python
b = a + 1
```

<!-- skip: needs your own store -->
```python
MyStore()
```

```python
c = 3
```
<!-- continue -->
```python
d = c
```
"""


def test_markers_join_and_skip_blocks() -> None:
    found = blocks("page.md", PAGE)
    assert [None, "continue", "skip", None, "continue"] == [b.marker for b in found]
    assert "needs your own store" == found[2].reason
    assert [4, 10, 15, 19, 23] == [b.line for b in found]
    assert [[0, 1], [3, 4]] == [[b.index for b in chain] for chain in chains(found)]
    assert ["page.md[0-1]", "page.md[3-4]"] == [chain_id(c) for c in chains(found)]


def test_a_block_that_continues_nothing_is_an_error() -> None:
    with pytest.raises(AssertionError, match="nothing before this block"):
        list(chains(blocks("page.md", "<!-- continue -->\n```python\nx = 1\n```\n")))


def test_other_code_and_comments_elsewhere_are_no_markers() -> None:
    text = "<!-- continue -->\n\nSome text.\n\n```sh\nmake test\n```\n```python\nx = 1\n```\n"
    assert [None] == [b.marker for b in blocks("page.md", text)]


def test_the_readme_runs_every_block() -> None:
    found = blocks("README.md", (ROOT / "README.md").read_text(encoding="utf-8"))
    assert found
    assert all(block.marker != "skip" for block in found)
