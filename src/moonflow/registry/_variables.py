"""The reference runtime's env variables, honoured without its env system (lua-api.md §1.9).

Apps written for the reference runtime declare ``env.variable`` entries (a public name, a
storage, a ``default:``) and ``env.storage.*`` entries, and read them with ``${env:NAME}``
placeholders (``NAME`` the public name or the variable's entry id) and with ``env.get(NAME)``.
moonflow does not run env storages (the entries are skipped, see
:mod:`moonflow.kinds._skipped`), but it keeps what those apps rely on:

* a declared variable is read from the worker's **OS environment** under its public name
  (``variable:``, else the entry's name), or, when its storage is an ``env.storage.static``,
  from that storage's ``values:``;
* when that gives nothing, the variable's ``default:`` applies (before a placeholder's own
  ``|default``, as in the reference runtime);
* ``${env:ns:name}`` (the entry id) works as well as ``${env:PUBLIC_NAME}``.

A name that no ``env.variable`` declares is looked up in the OS environment, as before.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ._entry import Entry


@dataclass(frozen=True)
class Variable:
    """One declared ``env.variable``.

    Attributes:
        entry_id: the entry's id (``ns:name``).
        name: the public name (``variable:`` or the entry's name): the OS variable read.
        default: the ``default:`` value as text, or None.
        static: the value an ``env.storage.static`` storage holds for it, or None.
        where: ``file:line`` of the entry, for messages.
    """

    entry_id: str
    name: str
    default: str | None
    static: str | None
    where: str


def collect(entries: Mapping[str, Entry]) -> dict[str, Variable]:
    """Declared variables by public name and by entry id (both keys give the same one)."""
    out: dict[str, Variable] = {}
    for entry in entries.values():
        if entry.kind != "env.variable":
            continue
        name = entry.data.get("variable") or entry.name
        if not isinstance(name, str) or not name:
            continue
        storage = _storage(entry, entries)
        static = None
        if storage is not None and storage.kind == "env.storage.static":
            values = storage.data.get("values")
            if isinstance(values, dict) and values.get(name) is not None:
                static = _text(values[name])
        default = entry.data.get("default")
        var = Variable(
            entry.id, name, None if default is None else _text(default), static, entry.where()
        )
        out.setdefault(name, var)
        out[entry.id] = var
    return out


def _storage(entry: Entry, entries: Mapping[str, Entry]) -> Entry | None:
    ref = entry.data.get("storage")
    if not isinstance(ref, str):
        return None
    return entries.get(ref if ":" in ref else f"{entry.namespace}:{ref}")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Environment(Mapping[str, str]):
    """What ``${env:NAME}`` and ``env.get(NAME)`` read: declared variables (OS value, static
    storage value, default), then the OS environment for any other name.

    Args:
        environ: the OS environment (``os.environ``, read live) or a test's mapping.
        variables: :func:`collect`'s result.
    """

    def __init__(self, environ: Mapping[str, str], variables: Mapping[str, Variable]) -> None:
        self.environ = environ
        self.variables = variables

    def __getitem__(self, key: str) -> str:
        var = self.variables.get(key)
        if var is None:
            return self.environ[key]
        if var.static is not None:
            return var.static
        if var.name in self.environ:
            return self.environ[var.name]
        if var.default is not None:
            return var.default
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        yield from self.environ
        for key in self.variables:
            if key not in self.environ and key in self:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def declared(self, key: str) -> Variable | None:
        """The declared variable ``key`` names (public name or entry id), or None."""
        return self.variables.get(key)
