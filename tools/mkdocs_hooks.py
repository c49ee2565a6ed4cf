"""MkDocs hooks of taskcore's documentation site (``hooks:`` in mkdocs.yml).

- The API reference: one page per public module (``taskcore.docs.reference_pages``) is
  generated at each build and added to the nav in place of the ``reference/index.md``
  entry, grouped by package, so a new module appears without editing mkdocs.yml.
- Docstrings write cross-references as reStructuredText roles (``:class:`~a.B```); the
  rendered pages show them as plain code, without the role's name.
"""

from __future__ import annotations

import re
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

from taskcore.docs import REFERENCE, public_modules, reference_page_path, reference_pages

_INDEX = f"{REFERENCE}/index.md"
# What Markdown makes of :class:`~taskcore.errors.TaskcoreError`: the role, then the code.
_ROLE = re.compile(r":[a-z]+:<code>~?(?:[\w.]+\.)?([^<]+)</code>")


def _reference_nav() -> list[Any]:
    """The index, then each package's modules as a section named after the package."""
    sections: dict[str, list[dict[str, str]]] = {}
    for module in public_modules():
        parts = module.split(".")
        package = ".".join(parts[:2])
        is_package = any(other.startswith(f"{module}.") for other in public_modules())
        section = package if len(parts) > 1 and (is_package or len(parts) > 2) else "taskcore"
        sections.setdefault(section, []).append({module: reference_page_path(module)})
    return [_INDEX, *({name: pages} for name, pages in sections.items())]


def _expand(nav: Any) -> Any:
    """``nav`` with the ``reference/index.md`` entry's value replaced by the whole section."""
    if isinstance(nav, list):
        return [_expand(item) for item in nav]
    if isinstance(nav, dict):
        return {
            title: _reference_nav() if value == _INDEX else _expand(value)
            for title, value in nav.items()
        }
    return nav


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    config.nav = _expand(config.nav)
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for path, text in reference_pages().items():
        files.append(File.generated(config, path, content=text))
    return files


def on_page_content(html: str, **kwargs: Any) -> str:
    return _ROLE.sub(r"<code>\1</code>", html)
