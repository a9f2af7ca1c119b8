"""The fields each entry kind declares, and the check that no other key slips by.

Every kind lists its fields (:attr:`moonflow.kinds.KindSpec.fields`): those moonflow uses and
those the reference runtime defines that moonflow accepts and ignores (``lifecycle`` on a
worker, ``pool`` on a function, host tuning...). A key that is in neither is most likely a typo
(``taskqueue:``, ``search_atributes:``): :func:`unknown_fields` returns one
:class:`FieldWarning` per such key, with a did-you-mean; ``moonflow check`` prints them (an
error with ``--strict``) and ``run``/``execute`` print them once when they load the app.

What is checked: the entry's own keys (all but ``name``, ``kind``, ``meta``), and the keys of
every mapping field whose sub-keys the kind declares (``tls``, ``auth``, ``lifecycle``,
``lifecycle.restart``...). ``meta`` is free for the app's own keys, except the
``meta.temporal`` blocks, which are moonflow's. A mapping whose sub-keys are not declared
(``search_attributes``, ``imports``, ``lifecycle.security``) holds names of the app's choosing.

The declarations are also the source of the field tables in ``docs/entries.md``
(:func:`fields_table`, :func:`update_doc`); ``tests/integration/test_docs_entries.py`` keeps the
two in step (run it as a script to refresh the tables).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moonflow.errors import AppError
    from moonflow.registry._entry import Entry

    from ._spec import KindSpec


@dataclass(frozen=True)
class Field:
    """One field an entry of a kind may have.

    Attributes:
        path: dotted path from the entry (``"task_queue"``, ``"tls.ca_file"``,
            ``"meta.temporal.workflow.worker"``). A path with declared sub-paths is a mapping
            whose keys are checked.
        doc: one line for the reference: what it holds, its default, units of durations.
        required: the entry is invalid without it.
        ignored: defined by the reference runtime and accepted, but moonflow does nothing with
            it (the reference says so).
    """

    path: str
    doc: str
    required: bool = False
    ignored: bool = False


@dataclass(frozen=True)
class FieldWarning:
    """A key no field of the entry's kind declares.

    Attributes:
        entry: the entry holding it.
        path: the dotted path of the key (``"taskqueue"``, ``"meta.temporal.workflow.nmae"``).
        message: what is wrong and how to fix it, one line without the location
            (``unknown field 'taskqueue' for a temporal.worker entry: did you mean
            task_queue? (its fields: ...)``).
    """

    entry: Entry
    path: str
    message: str

    def __str__(self) -> str:
        """``warning: FILE:LINE: ENTRY: message``, as ``moonflow check`` prints it."""
        where = f"{self.entry.relfile}:{self.entry.line_of(self.path)}"
        return f"warning: {where}: {self.entry.id}: ignoring {self.message}"

    def error(self) -> AppError:
        """The same as an error (``moonflow check --strict``)."""
        return self.entry.error(self.message, self.path)


# --- shared declarations -------------------------------------------------------------------------


def lifecycle_fields(supervised: bool) -> tuple[Field, ...]:
    """The ``lifecycle`` block (lua-api.md §1.8; durations are Go strings such as ``"10s"`` or
    numbers of milliseconds).

    Args:
        supervised: True for the kinds moonflow starts and supervises (``process.host``,
            ``terminal.host``, ``process.service``), which use every key; False for the
            others, which use only ``depends_on``/``requires`` (start order) and ignore the
            rest.
    """
    ign = not supervised
    return (
        Field("lifecycle", "start and supervision settings (a mapping)"),
        Field(
            "lifecycle.auto_start",
            "start with `moonflow run` (default false)"
            if supervised
            else "start at boot in the reference runtime; moonflow starts this kind when needed",
            ignored=ign,
        ),
        Field("lifecycle.start_timeout", "how long starting may take (default 10s)", ignored=ign),
        Field(
            "lifecycle.stop_timeout", "how long a graceful stop may take (default 10s)", ignored=ign
        ),
        Field(
            "lifecycle.stable_threshold",
            "a run lasting this long resets the restart count (default 5s)",
            ignored=ign,
        ),
        Field("lifecycle.depends_on", "entry ids to start first (start order; default none)"),
        Field("lifecycle.requires", "alias of depends_on (both lists are merged)"),
        Field(
            "lifecycle.restart", "restart policy after a failure: exponential backoff", ignored=ign
        ),
        Field(
            "lifecycle.restart.initial_delay",
            "wait before the first restart (default 1s)",
            ignored=ign,
        ),
        Field(
            "lifecycle.restart.max_delay",
            "longest wait between restarts (default 90s)",
            ignored=ign,
        ),
        Field(
            "lifecycle.restart.backoff_factor",
            "growth of the wait per failure, >= 1 (default 2.0)",
            ignored=ign,
        ),
        Field(
            "lifecycle.restart.jitter",
            "random fraction in [0, 1] added to or taken from each wait (default 0.1)",
            ignored=ign,
        ),
        Field(
            "lifecycle.restart.max_attempts",
            "restarts before the service stays failed; 0 = no limit (default 0)",
            ignored=ign,
        ),
        Field(
            "lifecycle.security",
            "actor, groups, policies of the reference runtime's security model (kept, not "
            "enforced)",
            ignored=True,
        ),
    )


def temporal_meta_fields(*, workflow: bool) -> tuple[Field, ...]:
    """``meta.temporal.workflow`` (``workflow: True``) or ``meta.temporal.activity`` fields
    (lua-api.md §1.4)."""
    if workflow:
        return (
            Field("meta.temporal", "Temporal registration (a mapping)"),
            Field("meta.temporal.workflow", "register this workflow with a Temporal worker"),
            Field(
                "meta.temporal.workflow.worker",
                "id of the temporal.worker that runs it (without it, no worker does)",
            ),
            Field(
                "meta.temporal.workflow.name",
                "the Temporal workflow type (default: the entry id, ns:name)",
            ),
        )
    return (
        Field("meta.temporal", "Temporal registration (a mapping)"),
        Field("meta.temporal.activity", "register this function as a Temporal activity"),
        Field(
            "meta.temporal.activity.worker",
            "id of the temporal.worker that runs it; the activity type is the entry id",
        ),
        Field(
            "meta.temporal.activity.local",
            "true: run as a Temporal local activity (default false; the reference runtime "
            "runs it as a normal one)",
        ),
    )


# --- the check -----------------------------------------------------------------------------------


def _children(paths: Iterable[str], prefix: str) -> list[str]:
    """Declared keys directly under ``prefix`` (``""``: the entry's own keys, meta excluded)."""
    out: list[str] = []
    for path in paths:
        if prefix:
            if not path.startswith(prefix + "."):
                continue
            head = path[len(prefix) + 1 :].split(".", 1)[0]
        else:
            if path.startswith("meta."):
                continue
            head = path.split(".", 1)[0]
        if head not in out:
            out.append(head)
    return out


def _elsewhere(key: str, kinds: Mapping[str, KindSpec], own: str) -> str:
    """The kinds other than ``own`` that declare the field ``key`` (``temporal.worker``), or
    ``""``."""
    others = [
        k
        for k, spec in sorted(kinds.items())
        if k != own and spec.fields is not None and any(f.path == key for f in spec.fields)
    ]
    if not others:
        return ""
    return " and ".join(others[:3])


def unknown_fields(
    entry: Entry, spec: KindSpec, kinds: Mapping[str, KindSpec]
) -> list[FieldWarning]:
    """One warning per key of ``entry`` that ``spec`` does not declare (see the module doc).

    Args:
        entry: the entry (its ``data`` and ``meta``).
        spec: its kind; a kind declaring no fields (``fields`` None) is not checked.
        kinds: every kind, to say which kind a misplaced field belongs to.

    Returns:
        Warnings in the order the keys are written.
    """
    if spec.fields is None:
        return []
    paths = [f.path for f in spec.fields]
    out: list[FieldWarning] = []

    def walk(prefix: str, value: Mapping[Any, Any], check: bool) -> None:
        allowed = _children(paths, prefix)
        for key, item in value.items():
            name = str(key)
            path = f"{prefix}.{name}" if prefix else name
            if name not in allowed:
                if check:
                    out.append(
                        FieldWarning(
                            entry, path, _message(entry, prefix, name, allowed, kinds, paths)
                        )
                    )
                continue
            if isinstance(item, Mapping) and _children(paths, path):
                walk(path, item, True)

    walk("", entry.data, True)
    if isinstance(entry.meta, Mapping):
        walk("meta", entry.meta, False)  # meta's own keys are free; meta.temporal is checked
    return out


def field_warnings(entries: Iterable[Entry]) -> list[FieldWarning]:
    """:func:`unknown_fields` of every entry (of a registered kind), in the given order."""
    from ._spec import KINDS

    out: list[FieldWarning] = []
    for entry in entries:
        spec = KINDS.get(entry.kind)
        if spec is not None:
            out.extend(unknown_fields(entry, spec, KINDS))
    return out


def typo_of(entry: Entry, spec: KindSpec, name: str) -> str | None:
    """An undeclared key of ``entry`` that looks like the field ``name`` (``taskqueue`` for
    ``task_queue``), or None: said when a required field is missing."""
    declared = {f.path for f in spec.fields or ()}
    for key in entry.data:
        if str(key) not in declared and _close(str(key), [name]):
            return str(key)
    return None


def _close(key: str, allowed: list[str]) -> str | None:
    """The declared key ``key`` is most likely a typo of: a close spelling (difflib), else the
    one key sharing its first word (``ca_path`` -> ``ca_file``)."""
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return close[0]
    head = key.split("_", 1)[0]
    same = [a for a in allowed if "_" in key and a.split("_", 1)[0] == head]
    return same[0] if len(same) == 1 else None


def _deeper(key: str, prefix: str, paths: Sequence[str]) -> list[str]:
    """Declared paths below ``prefix`` (not its direct keys) whose last key looks like ``key``
    (``max_concurent_activities`` on a worker -> ``worker_options.max_concurrent_...``), best
    first, at most two: a key written one level too high is a common slip."""
    below = [p for p in paths if p.startswith(f"{prefix}.") or not prefix]
    below = [p for p in below if p.count(".") > (prefix.count(".") + 1 if prefix else 0)]
    leaves: dict[str, str] = {}
    for path in below:
        leaves.setdefault(path.rpartition(".")[2], path)
    close = difflib.get_close_matches(key, list(leaves), n=2, cutoff=0.7)
    return [leaves[c].removeprefix(f"{prefix}.") if prefix else leaves[c] for c in close]


def _message(
    entry: Entry,
    prefix: str,
    key: str,
    allowed: list[str],
    kinds: Mapping[str, KindSpec],
    paths: Sequence[str] = (),
) -> str:
    close = _close(key, allowed)
    elsewhere = "" if prefix else _elsewhere(key, kinds, entry.kind)
    deeper = [] if close else _deeper(key, prefix, paths)
    if close:
        fix = f"did you mean {close}?"
    elif deeper:
        fix = f"did you mean {' or '.join(deeper)}?"
    elif elsewhere:
        fix = f"{key} is a field of {elsewhere} entries, not of {entry.kind} ones"
    elif prefix:
        fix = "remove it"
    else:
        fix = "remove it, or keep your own data under meta:"
    listed = ", ".join(allowed)
    if prefix:
        return f"unknown key {key!r} in {prefix}: {fix} (its keys: {listed})"
    return f"unknown field {key!r} for a {entry.kind} entry: {fix} (its fields: {listed})"


# --- the reference tables ------------------------------------------------------------------------

_BLOCK = re.compile(r"(<!-- fields: (\S+) -->\n)(.*?)(<!-- /fields -->)", re.S)


def fields_table(spec: KindSpec) -> str:
    """The markdown table of ``spec``'s fields, as ``docs/entries.md`` shows it."""
    lines = ["| Field | Required | moonflow | What |", "|---|---|---|---|"]
    for f in spec.fields or ():
        need = "yes" if f.required else ""
        use = "ignores" if f.ignored else "uses"
        doc = f.doc.replace("|", r"\|")
        lines.append(f"| `{f.path}` | {need} | {use} | {doc} |")
    return "\n".join(lines) + "\n"


def update_doc(text: str, kinds: Mapping[str, KindSpec]) -> str:
    """``text`` with every ``<!-- fields: KIND -->`` ... ``<!-- /fields -->`` block replaced by
    :func:`fields_table` of that kind (a block of an unknown kind is left as it is)."""

    def table(m: re.Match[str]) -> str:
        spec = kinds.get(m.group(2))
        if spec is None:
            return m.group(0)
        return m.group(1) + fields_table(spec) + m.group(4)

    return _BLOCK.sub(table, text)


def doc_blocks(text: str) -> dict[str, str]:
    """Kind -> the table text in its ``<!-- fields: KIND -->`` block of ``text``."""
    return {m.group(2): m.group(3) for m in _BLOCK.finditer(text)}
