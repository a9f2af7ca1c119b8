"""The table of entry kinds: declare, register, validate early.

Each kind is one :class:`KindSpec`: its required fields, where its references to other entries
live (and which kinds they must point at), and a ``build(entry, app)`` that validates the rest and
returns the typed object (``TemporalClient``, ``LuaCode``...). The registry loader runs the generic
checks (required fields, references) from the table, then calls ``build`` for every entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from moonflow.registry._entry import Entry

    from ._fields import Field


class AppView(Protocol):
    """What ``build`` may use of the app being loaded."""

    root: Path

    def get(self, entry_id: str) -> Entry: ...

    def resolve(self, ref: str, namespace: str) -> str: ...

    def why_skipped(self, entry_id: str) -> str | None: ...


@dataclass(frozen=True)
class RefField:
    """A field of an entry that names other entries.

    Attributes:
        path: dotted path (``"client"``, ``"meta.temporal.workflow.worker"``, ``"imports"``).
            The value may be a string, a list of strings or a mapping of name -> string.
        kinds: kinds the referenced entries must have; empty = any kind.
    """

    path: str
    kinds: tuple[str, ...] = ()


@dataclass(frozen=True)
class KindSpec:
    """One entry kind.

    Attributes:
        kind: the ``kind:`` string.
        summary: one line for ``moonflow`` listings and error messages.
        required: data fields that must be present (and not null).
        references: fields holding references to other entries.
        build: ``(entry, app) -> typed object``; raises :class:`moonflow.errors.AppError`.
        fields: every field an entry of this kind may have (:class:`moonflow.kinds._fields.Field`:
            used or accepted-and-ignored); any other key is a warning with a did-you-mean
            (``moonflow check``; an error with ``--strict``). None: not declared, not checked.
    """

    kind: str
    summary: str
    required: tuple[str, ...]
    references: tuple[RefField, ...]
    build: Callable[[Entry, AppView], Any]
    fields: tuple[Field, ...] | None = None


#: Reference fields every kind has (lua-api.md §1.8; ``requires`` is an alias of ``depends_on``).
COMMON_REFERENCES: tuple[RefField, ...] = (
    RefField("lifecycle.depends_on"),
    RefField("lifecycle.requires"),
)

KINDS: dict[str, KindSpec] = {}


def register(spec: KindSpec) -> KindSpec:
    """Add ``spec`` to :data:`KINDS`.

    Raises:
        ValueError: the kind is already registered.
    """
    if spec.kind in KINDS:
        raise ValueError(f"entry kind {spec.kind!r} is already registered")
    KINDS[spec.kind] = spec
    return spec


def get_kind(kind: str) -> KindSpec | None:
    """The spec of ``kind``, or None when unknown."""
    return KINDS.get(kind)


def known_kinds() -> list[str]:
    """Sorted names of every registered kind."""
    return sorted(KINDS)


def iter_refs(value: Any) -> Iterator[tuple[str, str]]:
    """``(sub_path, ref)`` for each reference in a reference field's value.

    A string yields ``("", ref)``; a list yields ``("0", ref)``...; a mapping yields
    ``(key, ref)``. Call :func:`ref_type_error` first: items are yielded unchecked.
    """
    if isinstance(value, str):
        yield "", value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield str(i), item
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key), item


def ref_type_error(value: Any) -> str | None:
    """Why ``value`` is not a valid reference field value (str, list of str, map of str)."""
    if isinstance(value, str):
        return None if value else "is empty"
    items = (
        value if isinstance(value, list) else value.values() if isinstance(value, dict) else None
    )
    if items is None:
        return f"must be an entry id or a list of entry ids, not {type(value).__name__}"
    for item in items:
        if not isinstance(item, str) or not item:
            return f"must hold entry ids (strings like ns:name), found {item!r}"
    return None


# --- small field helpers shared by the kind modules ---------------------------------------------


def opt_str(entry: Entry, path: str, default: str | None = None) -> str | None:
    """The string at ``path`` or ``default``; numbers are not accepted silently.

    Raises:
        AppError: the value is present but not a string.
    """
    value = entry.value_at(path)
    if value is None:
        return default
    if not isinstance(value, str):
        raise entry.error(
            f"{path} must be a string, not {type(value).__name__} {value!r}: quote it", path
        )
    return value


def req_str(entry: Entry, path: str, example: str) -> str:
    """The non-empty string at ``path``.

    Raises:
        AppError: absent, empty or not a string (the message shows ``example``).
    """
    value = opt_str(entry, path)
    if not value:
        raise entry.error(f"{path} must be a non-empty string: e.g. {path}: {example}", path)
    return value


def opt_map(entry: Entry, path: str) -> dict[str, Any] | None:
    """The mapping at ``path`` or None.

    Raises:
        AppError: the value is present but not a mapping.
    """
    value = entry.value_at(path)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise entry.error(
            f"{path} must be a mapping (key: value lines), not {type(value).__name__}", path
        )
    return value


def source_file(entry: Entry, raw: str, suffix: str) -> Path:
    """The file a ``source:`` value names (``file://path`` or a bare path), resolved against
    the directory of the entry's YAML file (the seed's rule).

    Args:
        raw: the ``source:`` value as written.
        suffix: the file kind the entry expects (``".lua"``, ``".py"``), for the messages.

    Raises:
        AppError: another scheme than ``file://``, or no such file (naming the entry's line).
    """
    scheme, sep, rest = raw.partition("://")
    if not sep:
        rest = raw
    elif scheme != "file":
        raise entry.error(
            f"source {raw!r} has unsupported scheme {scheme!r}: write source: file://path{suffix}",
            "source",
        )
    path = Path(rest)
    if not path.is_absolute():
        path = entry.file.parent / path
    path = path.resolve()
    if not path.is_file():
        raise entry.error(
            f"source file not found: {path} ({raw} is relative to the directory of the YAML "
            "file): create it or fix source:",
            "source",
        )
    return path
