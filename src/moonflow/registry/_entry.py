"""Registry entries and entry ids.

An entry is one item of a definition file: ``{id = "ns:name", kind, meta, data}`` plus where it
was written (file and line), so every error can point at the culprit.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moonflow.errors import AppError

#: ``shop``, ``shop.billing``, ``shop.api.v2``: dot-separated parts of letters, digits, _ and -.
NAMESPACE_RE = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
#: ``reserve_stock``, ``order.created``: letters, digits, ``_``, ``-`` and dots, no ``:``.
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def parse_id(entry_id: str) -> tuple[str, str]:
    """Split ``"ns:name"`` into ``("ns", "name")``.

    Raises:
        ValueError: the id has no ``:`` or an empty part.
    """
    ns, sep, name = entry_id.rpartition(":")
    if not sep or not ns or not name:
        raise ValueError(f"not an entry id (expected 'namespace:name'): {entry_id!r}")
    return ns, name


def resolve_ref(ref: str, namespace: str) -> str:
    """A reference as a full id: a bare ``name`` resolves in ``namespace``; ``ns:name`` is kept."""
    return ref if ":" in ref else f"{namespace}:{ref}"


def rel(path: Path, root: Path | None) -> str:
    """``path`` relative to ``root`` in posix form (``..`` allowed); absolute when no root."""
    if root is None:
        return path.as_posix()
    return Path(os.path.relpath(path, root)).as_posix()


@dataclass(frozen=True)
class Entry:
    """One registry entry as written in a definition file.

    Attributes:
        id: the full id ``"ns:name"``.
        namespace: the file's ``namespace``.
        name: the entry's ``name``.
        kind: the entry's ``kind`` (e.g. ``"workflow.lua"``).
        meta: the free-form ``meta`` mapping (``${env:...}`` resolved), ``{}`` when absent.
        data: every other field of the entry (``${env:...}`` resolved); references are kept as
            written (bare or full ids); the typed kind objects carry the resolved ids.
        file: absolute path of the YAML file.
        line: 1-based line of the entry in that file.
        root: the app root (used by :meth:`where`); None for entries built by hand.
        field_lines: dotted field path (``"meta.temporal.workflow.worker"``, ``"imports.fmt"``,
            ``"lifecycle.depends_on.0"``) -> 1-based line, for precise error locations.
    """

    id: str
    namespace: str
    name: str
    kind: str
    meta: dict[str, Any]
    data: dict[str, Any]
    file: Path
    line: int
    root: Path | None = field(default=None, compare=False, repr=False)
    field_lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def relfile(self) -> str:
        """The YAML file relative to the app root (posix form)."""
        return rel(self.file, self.root)

    def where(self) -> str:
        """``"relative/file.yaml:LINE"`` (relative to the app root)."""
        return f"{self.relfile}:{self.line}"

    def line_of(self, path: str | None) -> int:
        """Line of the field at dotted ``path`` or its nearest written parent, else the entry's."""
        while path:
            if path in self.field_lines:
                return self.field_lines[path]
            path = path.rpartition(".")[0]
        return self.line

    def error(self, message: str, path: str | None = None) -> AppError:
        """An :class:`AppError` located at this entry (at field ``path`` when given)."""
        return AppError(message, file=self.relfile, line=self.line_of(path), entry_id=self.id)

    def value_at(self, path: str, default: Any = None) -> Any:
        """The value at dotted ``path`` (``"meta.temporal.workflow.worker"``), else ``default``.

        Paths starting with ``meta.`` read :attr:`meta`, others read :attr:`data`.
        """
        parts = path.split(".")
        node: Any = self.meta if parts[0] == "meta" else self.data
        if parts[0] == "meta":
            parts = parts[1:]
        for part in parts:
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node
