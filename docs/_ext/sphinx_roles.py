"""Griffe extension for the API reference: the docstrings' Sphinx roles as Markdown links.

The docstrings write ``:func:`cgfast.score``` (NumPy style, as Sphinx reads it); mkdocstrings
renders Markdown, so each role becomes a cross-reference to the entry of the API reference
when there is one (docs/api.md lists them), else code.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|exc|data|obj):`(~?)([\w.]+)`")
API = Path(__file__).resolve().parent.parent / "api.md"


def _entries() -> set[str]:
    lines = API.read_text(encoding="utf-8").splitlines()
    return {line.split()[-1] for line in lines if line.startswith(":::")}


class SphinxRoles(griffe.Extension):
    def __init__(self) -> None:
        self.entries = _entries()
        # Entries by their last name, so that `cgfast.prune.prune` answers `cgfast.prune` too.
        self.short = {name.rsplit(".", 1)[-1]: name for name in self.entries}

    def _target(self, name: str) -> str | None:
        if name in self.entries:
            return name
        last = name.rsplit(".", 1)[-1]
        if name in (last, f"cgfast.{last}") and last in self.short:
            return self.short[last]
        return None

    def _rewrite(self, match: re.Match[str]) -> str:
        short, name = match.groups()
        shown = name.rsplit(".", 1)[-1] if short else name
        target = self._target(name)
        return f"[`{shown}`][{target}]" if target else f"`{shown}`"

    def _visit(self, obj: Any, seen: set[int]) -> None:
        if obj.is_alias or id(obj) in seen:
            return
        seen.add(id(obj))
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(self._rewrite, obj.docstring.value)
        for member in obj.members.values():
            self._visit(member, seen)

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self._visit(pkg, set())
