"""The documentation site's generated API reference covers the public API, and the public
API is typed: every exported function and method annotates its parameters and return."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from taskcore.decisions import API_DOCUMENTS, DECISIONS
from taskcore.docs import (
    GUIDES,
    REPOSITORY,
    markdown_text,
    public_modules,
    reference_pages,
    render_decisions,
    render_reference_index,
    render_reference_page,
)


def test_public_modules_are_every_module_without_a_private_part(tmp_path: Path) -> None:
    for relative in (
        "__init__.py",
        "__main__.py",
        "_engine.py",
        "clock.py",
        "api/__init__.py",
        "api/service.py",
        "api/_private.py",
        "_hidden/__init__.py",
        "_hidden/public_name.py",
    ):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text('"""A module."""\n', encoding="utf-8")
    assert ("taskcore", "taskcore.api", "taskcore.api.service", "taskcore.clock") == (
        public_modules(tmp_path)
    )


def write_package(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text, encoding="utf-8")
    return root


def test_a_page_documents_its_own_names_and_links_re_exports(tmp_path: Path) -> None:
    root = write_package(
        tmp_path,
        {
            "__init__.py": '"""Top."""\nfrom taskcore.api import Thing, helper\n'
            '__all__ = ["Thing", "helper", "VERSION"]\nVERSION = "1"\n',
            "api/__init__.py": '"""The API: a thing. And more."""\n'
            "from taskcore.api.core import Thing\nfrom taskcore.api._impl import helper\n"
            '__all__ = ["Thing", "helper"]\n',
            "api/core.py": '"""Core."""\n__all__ = ["Thing"]\nclass Thing: ...\n',
            "api/_impl.py": '"""Private."""\ndef helper() -> None: ...\n',
        },
    )
    top = render_reference_page("taskcore", root)
    assert top.startswith("::: taskcore\n    options:\n      members:\n        - VERSION\n")
    # Thing is documented by the module that defines it, even through a second package.
    assert (
        "| [`Thing`][taskcore.api.core.Thing] | [`taskcore.api.core`](taskcore.api.core.md) |"
        in top
    )
    # helper comes from a private module: the package that exports it documents it.
    assert "| [`helper`][taskcore.api.helper] | [`taskcore.api`](taskcore.api.md) |" in top
    api = render_reference_page("taskcore.api", root)
    assert api.startswith("::: taskcore.api\n    options:\n      members:\n        - helper\n")
    assert render_reference_page("taskcore.api.core", root).startswith(
        "::: taskcore.api.core\n    options:\n      members:\n        - Thing\n"
    )
    index = render_reference_index(root)
    assert "| [`taskcore.api`](taskcore.api.md) | The API: a thing. |" in index
    assert "| [`taskcore.api.core`](taskcore.api.core.md) | Core. |" in index


def test_a_module_without_all_documents_only_its_docstring(tmp_path: Path) -> None:
    root = write_package(tmp_path, {"__init__.py": '"""Top."""\n', "plain.py": "x = 1\n"})
    assert "::: taskcore.plain\n    options:\n      members: false\n" == render_reference_page(
        "taskcore.plain", root
    )
    assert "| [`taskcore.plain`](taskcore.plain.md) |  |" in render_reference_index(root)


def test_docstring_roles_and_literals_become_code_spans() -> None:
    assert "The `TaskcoreError` of `f` with `x` and `a|b`" == markdown_text(
        "The :class:`~taskcore.errors.TaskcoreError` of :func:`f` with ``x`` and ``a|b``"
    )


def test_the_reference_has_a_page_per_public_module_and_covers_every_export() -> None:
    pages = reference_pages()
    modules = public_modules()
    assert ["reference/index.md", *(f"reference/{m}.md" for m in modules)] == list(pages)
    for module in modules:
        exported = set(getattr(importlib.import_module(module), "__all__", ()))
        page = pages[f"reference/{module}.md"]
        documented = {
            line.removeprefix("        - ")
            for line in page.splitlines()
            if line.startswith("        - ")
        }
        linked = {line.split("`")[1] for line in page.splitlines() if line.startswith("| [`")}
        assert exported == documented | linked, module
        assert f"`{module}`" in pages["reference/index.md"]


PACKAGE = Path(importlib.import_module("taskcore").__file__ or "").parent


def written_in_taskcore(value: Any) -> bool:
    """A function whose code is in taskcore's source (not one that attrs generates)."""
    code = getattr(value, "__code__", None)
    return code is not None and Path(code.co_filename).is_relative_to(PACKAGE)


def exported_callables() -> Iterator[tuple[str, Any]]:
    """Every function and method the public modules export, by qualified name: exported
    functions, and the public methods, properties and ``__init__`` that exported classes
    define themselves (attrs' generated ``__init__`` takes its annotations from the
    fields, which mypy --strict checks)."""
    for module in public_modules():
        namespace = importlib.import_module(module)
        for name in getattr(namespace, "__all__", ()):
            value = getattr(namespace, name)
            if written_in_taskcore(value):
                yield f"{module}.{name}", value
            elif inspect.isclass(value):
                for attribute, member in vars(value).items():
                    if isinstance(member, staticmethod | classmethod):
                        member = member.__func__
                    if isinstance(member, property):
                        member = member.fget
                    public = not attribute.startswith("_") or attribute == "__init__"
                    if public and written_in_taskcore(member):
                        yield f"{module}.{name}.{attribute}", member


def missing_annotations(function: Any) -> list[str]:
    """The parameters (and ``return``) of ``function`` that carry no annotation."""
    signature = inspect.signature(function)
    missing = [
        parameter.name
        for index, parameter in enumerate(signature.parameters.values())
        if parameter.annotation is inspect.Parameter.empty
        and not (index == 0 and parameter.name in {"self", "cls"})
    ]
    if signature.return_annotation is inspect.Signature.empty:
        missing.append("return")
    return missing


def test_every_exported_function_and_method_is_annotated() -> None:
    found = dict(exported_callables())
    assert len(found) > 300  # the walk reaches the services' methods, not only functions
    unannotated = {name: missing_annotations(f) for name, f in found.items()}
    assert {} == {name: missing for name, missing in unannotated.items() if missing}


def test_the_annotation_check_sees_a_missing_annotation() -> None:
    def typed(a: int, *, b: str = "") -> None: ...

    def untyped(a, b: int):  # type: ignore[no-untyped-def]  # what the check must catch
        ...

    assert [] == missing_annotations(typed)
    assert ["a", "return"] == missing_annotations(untyped)


@pytest.mark.parametrize("module", ["taskcore.store.postgres", "taskcore.testing.claro"])
def test_modules_with_optional_dependencies_are_in_the_reference(module: str) -> None:
    assert module in public_modules()


def test_every_decision_names_a_test_that_exists() -> None:
    root = Path(__file__).resolve().parent.parent
    for api, decisions in DECISIONS.items():
        assert len(decisions) >= 10, api
        for decision in decisions:
            path, *names = decision.test.split("::")
            assert re.fullmatch(r"tests/test_\w+\.py", path), decision.test
            assert 1 == len(names), decision.test
            tree = ast.parse((root / path).read_text(encoding="utf-8"))
            tests = {
                node.name
                for node in tree.body
                if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
            }
            assert names[0] in tests, decision.test


def test_every_api_has_a_decisions_page_linked_to_its_document_and_guide() -> None:
    assert set(API_DOCUMENTS) == set(DECISIONS) == set(GUIDES)
    for api in DECISIONS:
        page = render_decisions(api)
        _, _, url = API_DOCUMENTS[api]
        assert f"]({url})" in page
        assert f"](../{GUIDES[api]})" in page
        assert len(DECISIONS[api]) == page.count(f"]({REPOSITORY}/blob/main/tests/test_")


def test_the_repository_address_is_the_sites_repo_url() -> None:
    config = (Path(__file__).resolve().parent.parent / "mkdocs.yml").read_text(encoding="utf-8")
    assert f"\nrepo_url: {REPOSITORY}\n" in config
