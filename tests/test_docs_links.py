"""What the docs link to is what a reader can open: no internal notes, the vendors'
public documentation, and from README.md (PyPI's project page) absolute addresses that
resolve to a page of the site or a file of the repository."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

from taskcore.decisions import API_DOCUMENTS
from taskcore.docs import GUIDES, REPOSITORY, SITE, reference_pages

ROOT = Path(__file__).resolve().parent.parent

# Notes that live outside the repository, and what the vendors' API documents were called
# while taskcore was written: a reader can open none of them.
INTERNAL = re.compile(
    r"(?-i:DESIGN\.md|STYLE\.md)|\.\./shared|shared/seeds|\bseed (?:documents?|files?|docs?)\b"
    r"|\bseed's\b|\bthe seeds?\b|\b00[0-4]_[0-9a-f]{16}\.txt\b",
    re.IGNORECASE,
)
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def read_by_readers() -> list[Path]:
    """README, changelog, docs pages, the site's configuration, and every source file
    (docstrings, comments and help texts reach the API reference and the CLI)."""
    return [
        ROOT / "README.md",
        ROOT / "CHANGELOG.md",
        ROOT / "mkdocs.yml",
        *sorted((ROOT / "docs").rglob("*.md")),
        *sorted((ROOT / "src").rglob("*.py")),
        *sorted((ROOT / "tools").rglob("*.py")),
    ]


def test_nothing_refers_to_notes_a_reader_cannot_open() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}: {match[0]}"
        for path in read_by_readers()
        for text in [path.read_text(encoding="utf-8")]
        for match in INTERNAL.finditer(text)
    ]
    assert [] == found


@pytest.mark.parametrize(
    "text",
    [
        "see DESIGN.md",
        "house style (STYLE.md rule 3)",
        "/".join(["..", "shar" + "ed", "seeds", "000_d988adf86e3a34c4.txt"]),  # no literal path
        "as the seed document shows",
        "the seed's example",
        "where the seeds are silent",
    ],
)
def test_the_check_catches_internal_references(text: str) -> None:
    assert INTERNAL.search(text)


@pytest.mark.parametrize("text", ["seed=7", "the same seed", "seed_demo", "SeededIds(3)"])
def test_a_random_seed_is_no_internal_reference(text: str) -> None:
    assert INTERNAL.search(text) is None


def test_the_sites_addresses_are_the_ones_the_code_links() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert f"\nsite_url: {SITE}\n" in config
    assert f"\nrepo_url: {REPOSITORY}\n" in config


@functools.cache
def generated_pages() -> frozenset[str]:
    """The pages the site's build generates (the API reference), by path in docs/."""
    return frozenset(reference_pages())


def site_page(url: str) -> bool:
    """Whether ``url``, an address on the site, names one of its pages."""
    path = url.removeprefix(SITE).split("#", 1)[0].rstrip("/")
    candidates = [f"{path}.md", f"{path}/index.md"] if path else ["index.md"]
    return any((ROOT / "docs" / c).exists() or c in generated_pages() for c in candidates)


def test_readme_links_are_absolute_and_resolve() -> None:
    links = _LINK.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    assert links
    for target in links:
        assert target.startswith("https://"), target
        if target.startswith(SITE):
            assert site_page(target), target
        elif target.startswith(f"{REPOSITORY}/blob/main/"):
            assert (ROOT / target.removeprefix(f"{REPOSITORY}/blob/main/")).exists(), target


def test_the_site_page_check_knows_pages_from_others() -> None:
    assert site_page(f"{SITE}claro/#http-sans-io")
    assert site_page(SITE)
    assert site_page(f"{SITE}reference/taskcore.http/")
    assert not site_page(f"{SITE}nowhere/")


def test_each_guide_links_its_vendors_public_documentation() -> None:
    for api, guide in GUIDES.items():
        url = API_DOCUMENTS[api][2]
        assert f"]({url})" in (ROOT / "docs" / guide).read_text(encoding="utf-8"), guide
