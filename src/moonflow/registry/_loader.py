"""Load an app directory: find definition files, build entries, validate, order.

Steps, each failing with a one-line :class:`~moonflow.errors.AppError` naming file, line and
entry id:

1. scan the directory for YAML files (hidden dirs and ``node_modules`` skipped) and parse them;
2. keep the definition files (``namespace`` + ``entries:`` list, or ``namespace`` + ``name`` +
   ``kind``), build one :class:`Entry` per item, reject duplicate ids and unknown kinds, resolve
   ``${env:...}`` placeholders;
3. check required fields and references (full or bare ids, existing, of the right kind);
4. order entries topologically over ``lifecycle.depends_on``/``requires`` and references (a
   cycle is an error);
5. build every entry's typed object with its kind's ``build`` (Lua files compiled and checked);
6. with ``strict``, a key no field of the entry's kind declares is an error (otherwise it is a
   warning: :func:`moonflow.kinds._fields.field_warnings`, printed by ``check``, ``run``...).
"""

from __future__ import annotations

import dataclasses
import difflib
import heapq
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from moonflow.errors import AppError
from moonflow.kinds import (
    COMMON_REFERENCES,
    KINDS,
    SKIPPED_KINDS,
    LuaCode,
    get_kind,
    known_kinds,
    skip_reason,
)
from moonflow.kinds._fields import field_warnings, typo_of
from moonflow.kinds._spec import iter_refs, ref_type_error

from . import _yaml
from ._app import App
from ._entry import NAME_RE, NAMESPACE_RE, Entry, rel, resolve_ref
from ._env import PlaceholderError, resolve
from ._variables import Environment
from ._variables import collect as collect_variables

_RESERVED = ("name", "kind", "meta")
_EXAMPLES = {
    "address": '"localhost:7233"',
    "client": "temporal_client",
    "task_queue": '"orders"',
    "source": "file://code.lua",
    "method": "main",
}


def load_app(
    path: str | Path, environ: Mapping[str, str] | None = None, *, strict: bool = False
) -> App:
    """Load and validate the app in directory ``path``.

    Args:
        path: the app directory (scanned recursively for ``*.yaml`` / ``*.yml``).
        environ: variables for ``${env:...}`` placeholders; defaults to ``os.environ``.
        strict: an unknown field (a key the entry's kind does not declare) is an error, not a
            warning (``moonflow check --strict``).

    Returns:
        The validated :class:`App`, entries in start order.

    Raises:
        AppError: the first problem found, as one line ``file:line: entry id: what; how to fix``.
    """
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        what = "is not a directory" if root.exists() else "does not exist"
        raise AppError(f"app directory {root} {what}: pass the directory holding the app's YAML")
    env = os.environ if environ is None else environ
    entries: dict[str, Entry] = {}
    for file in _yaml.discover(root):
        for entry in _file_entries(file, root):
            _add(entries, entry)
    if not entries:
        raise AppError(
            f"no moonflow entries found under {root}: expected YAML files with 'namespace' and "
            "'entries' (see the README's first app)"
        )
    # Kinds moonflow does not run are set aside before anything else reads them (their
    # placeholders may name variables only the reference runtime's env system defines).
    skipped = {eid: e for eid, e in entries.items() if skip_reason(e.kind)}
    environment = Environment(env, collect_variables(skipped))
    entries = {eid: _with_env(e, environment) for eid, e in entries.items() if eid not in skipped}
    if not entries:
        raise AppError(
            f"every entry under {root} is of a kind moonflow does not run "
            f"({', '.join(sorted({e.kind for e in skipped.values()}))}): moonflow runs "
            "temporal.client, temporal.worker and Lua code entries"
        )
    app = App(root, entries, skipped)
    app.environment = environment
    for entry in entries.values():
        _check_required(entry)
    deps = {eid: _references(entry, entries, skipped) for eid, entry in entries.items()}
    order = _toposort(entries, deps)
    app.entries = {eid: entries[eid] for eid in order}
    app._deps = {eid: tuple(d for d, _ in deps[eid]) for eid in order}
    for eid, entry in app.entries.items():
        kind = get_kind(entry.kind)
        assert kind is not None
        app._specs[eid] = kind.build(entry, app)
    app._by_type = _workflow_types(app)
    if strict:
        for warning in field_warnings(app.entries.values()):
            raise warning.error()
    return app


# --- files -> entries ----------------------------------------------------------------------------


def _file_entries(file: Path, root: Path) -> list[Entry]:
    data, node = _yaml.parse(file, root)
    relfile = rel(file, root)
    if isinstance(data, list):
        if any(isinstance(i, dict) and "kind" in i for i in data):
            raise AppError(
                "this file is a list of entries without a namespace: start it with "
                "'namespace: <ns>' and put the list under 'entries:'",
                file=relfile,
                line=_yaml.line_of(node) if node is not None else 1,
            )
        return []
    if not isinstance(data, dict) or node is None:
        return []
    single = "name" in data or "kind" in data
    if "namespace" not in data:
        entries = data.get("entries")
        looks_like = (isinstance(entries, list) and any(isinstance(i, dict) for i in entries)) or (
            single and data.get("kind") in KINDS
        )
        if looks_like:
            raise AppError(
                "definition file without namespace: add 'namespace: <ns>' at the top",
                file=relfile,
                line=1,
            )
        return []
    if "entries" not in data and not single:
        return []
    dup = _yaml.duplicate_key(node, deep=False)
    if dup:
        key, line, first = dup
        raise AppError(
            f"key {key!r} is written twice (first at line {first}): keep only one",
            file=relfile,
            line=line,
        )
    namespace = data["namespace"]
    if not isinstance(namespace, str) or not NAMESPACE_RE.match(namespace):
        raise AppError(
            f"invalid namespace {namespace!r}: use dot-separated identifiers, e.g. namespace: "
            "shop.billing",
            file=relfile,
            line=_yaml.key_line(node, "namespace"),
        )
    if "entries" in data:
        items = data["entries"]
        items_node = _yaml.mapping_get(node, "entries")
        if items is None:
            return []
        if not isinstance(items, list) or not isinstance(items_node, yaml.SequenceNode):
            raise AppError(
                "entries must be a list of entries ('- name: ...' items)",
                file=relfile,
                line=_yaml.key_line(node, "entries"),
            )
        pairs = list(zip(items, items_node.value, strict=True))
    else:
        item = {k: v for k, v in data.items() if k not in ("namespace", "version")}
        pairs = [(item, node)]
    return [
        _entry(item, n, namespace, file, root, single and "entries" not in data)
        for item, n in pairs
    ]


def _entry(item: Any, node: yaml.Node, ns: str, file: Path, root: Path, single: bool) -> Entry:
    relfile = rel(file, root)
    line = _yaml.key_line(node, "name") if single else None
    line = line or _yaml.line_of(node)
    if not isinstance(item, dict):
        raise AppError(
            "an entry must be a mapping with name and kind (e.g. '- name: worker' / "
            "'  kind: temporal.worker')",
            file=relfile,
            line=line,
        )
    name = item.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        what = "entry without name" if name is None else f"invalid entry name {name!r}"
        raise AppError(
            f"{what}: add 'name: <name>' (letters, digits, _, . or -; no ':')",
            file=relfile,
            line=_yaml.key_line(node, "name") or line,
        )
    entry_id = f"{ns}:{name}"
    kind = item.get("kind")
    if not isinstance(kind, str) or not kind:
        raise AppError(
            f"entry without kind: add 'kind: <kind>', one of {', '.join(known_kinds())}",
            file=relfile,
            line=line,
            entry_id=entry_id,
        )
    dup = _yaml.duplicate_key(node)
    if dup:
        key, key_at, first = dup
        raise AppError(
            f"key {key!r} is written twice (first at line {first}): keep only one",
            file=relfile,
            line=key_at,
            entry_id=entry_id,
        )
    lines = _yaml.field_lines(node)
    meta = item.get("meta")
    if meta is None:
        meta = {}
    elif not isinstance(meta, dict):
        raise AppError(
            "meta must be a mapping (key: value lines)",
            file=relfile,
            line=lines.get("meta", line),
            entry_id=entry_id,
        )
    entry = Entry(
        id=entry_id,
        namespace=ns,
        name=name,
        kind=kind,
        meta=meta,
        data={k: v for k, v in item.items() if k not in _RESERVED},
        file=file,
        line=line,
        root=root,
        field_lines=lines,
    )
    if kind not in KINDS and not skip_reason(kind):
        close = difflib.get_close_matches(kind, [*known_kinds(), *SKIPPED_KINDS], n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise entry.error(
            f"unknown kind {kind!r}: {hint}known kinds are {', '.join(known_kinds())}", "kind"
        )
    return entry


def _add(entries: dict[str, Entry], entry: Entry) -> None:
    first = entries.get(entry.id)
    if first is not None:
        raise entry.error(
            f"duplicate entry id {entry.id} (also defined at {first.where()}): rename one of them",
            "name",
        )
    entries[entry.id] = entry


def _with_env(entry: Entry, environ: Mapping[str, str]) -> Entry:
    try:
        data = resolve(entry.data, environ)
        meta = resolve(entry.meta, environ, "meta")
    except PlaceholderError as exc:
        raise entry.error(exc.message, exc.path) from None
    return dataclasses.replace(entry, data=data, meta=meta)


# --- validation ----------------------------------------------------------------------------------


def _check_required(entry: Entry) -> None:
    spec = KINDS[entry.kind]
    for name in spec.required:
        if entry.data.get(name) is None:
            example = _EXAMPLES.get(name, "...")
            typo = typo_of(entry, spec, name)
            if typo is not None:
                raise entry.error(
                    f"missing required field {name!r} for a {entry.kind} entry: did you mean "
                    f"{name} where it says {typo}?",
                    typo,
                )
            raise entry.error(
                f"missing required field {name!r} for a {entry.kind} entry: add {name}: {example}"
            )


def _references(
    entry: Entry, entries: dict[str, Entry], skipped: Mapping[str, Entry]
) -> list[tuple[str, str]]:
    """``[(target id, field path), ...]`` of an entry's references, checked, without duplicates.

    A reference to a skipped entry is dropped from ``lifecycle.depends_on``/``requires`` (there
    is nothing to wait for) and from ``imports`` (a ``require`` of it fails when it runs,
    naming it); anywhere else it is an error naming it.
    """
    spec = KINDS[entry.kind]
    out: list[tuple[str, str]] = []
    for ref_field in (*spec.references, *COMMON_REFERENCES):
        value = entry.value_at(ref_field.path)
        if value is None:
            continue
        problem = ref_type_error(value)
        if problem:
            raise entry.error(f"{ref_field.path} {problem}", ref_field.path)
        for sub, ref in iter_refs(value):
            path = f"{ref_field.path}.{sub}" if sub else ref_field.path
            target_id = resolve_ref(ref, entry.namespace)
            if isinstance(ref, str) and target_id in skipped:
                # nothing to wait for; an import of it fails only when required (kinds/_lua.py)
                if ref_field in COMMON_REFERENCES or ref_field.path == "imports":
                    continue
                other = skipped[target_id]
                raise entry.error(
                    f"{path} refers to {target_id}, a {other.kind} entry, which moonflow skips "
                    f"({skip_reason(other.kind)})",
                    path,
                )
            _check_target(entry, path, ref, target_id, ref_field.kinds, entries)
            if target_id not in (t for t, _ in out):
                out.append((target_id, path))
    return out


def _check_target(
    entry: Entry,
    path: str,
    ref: str,
    target_id: str,
    kinds: tuple[str, ...],
    entries: dict[str, Entry],
) -> None:
    want = " or ".join(kinds) if kinds else "entry"
    target = entries.get(target_id)
    shown = repr(ref) if ref == target_id else f"{ref!r} ({target_id})"
    candidates = [e.id for e in entries.values() if not kinds or e.kind in kinds]
    if target is None:
        close = difflib.get_close_matches(target_id, candidates, n=1)
        if close:
            fix = f"did you mean {close[0]}?"
        elif candidates and kinds:
            fix = f"the {want} entries are {', '.join(candidates[:10])}"
        else:
            fix = f"define a {want} named {target_id} or fix the reference"
        raise entry.error(f"{path} refers to {shown}, which does not exist: {fix}", path)
    if kinds and target.kind not in kinds:
        fix = f"point it at a {want}" + (f" ({', '.join(candidates[:10])})" if candidates else "")
        raise entry.error(
            f"{path} refers to {shown}, which is a {target.kind}, not a {want}: {fix}", path
        )


def _toposort(entries: dict[str, Entry], deps: dict[str, list[tuple[str, str]]]) -> list[str]:
    """Entry ids with every entry after its dependencies; ties keep file order.

    Raises:
        AppError: a dependency cycle (names the whole cycle).
    """
    index = {eid: i for i, eid in enumerate(entries)}
    waiting = {eid: len(d) for eid, d in deps.items()}
    dependents: dict[str, list[str]] = {eid: [] for eid in entries}
    for eid, targets in deps.items():
        for target, _ in targets:
            dependents[target].append(eid)
    ready = [(index[eid], eid) for eid, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, eid = heapq.heappop(ready)
        order.append(eid)
        for dep in dependents[eid]:
            waiting[dep] -= 1
            if waiting[dep] == 0:
                heapq.heappush(ready, (index[dep], dep))
    if len(order) < len(entries):
        _raise_cycle(entries, deps, set(entries) - set(order))
    return order


def _raise_cycle(
    entries: dict[str, Entry], deps: dict[str, list[tuple[str, str]]], left: set[str]
) -> None:
    start = min(left, key=list(entries).index)
    path = [start]
    fields: list[str] = []
    while True:
        # Every node left waits on at least one other node left: walk until one repeats.
        target, field = next((t, f) for t, f in deps[path[-1]] if t in left)
        fields.append(field)
        if target in path:
            cycle = path[path.index(target) :] + [target]
            first = entries[cycle[0]]
            field_of_first = fields[path.index(target)]
            raise first.error(
                f"dependency cycle {' -> '.join(cycle)}: remove one of these references or "
                "lifecycle.depends_on items",
                field_of_first,
            )
        path.append(target)


def _workflow_types(app: App) -> dict[str, LuaCode]:
    by_type: dict[str, LuaCode] = {}
    for eid in app.entries:
        code = app._specs[eid]
        if isinstance(code, LuaCode) and code.kind == "workflow.lua":
            type_name = code.workflow_name or eid
            other = by_type.get(type_name)
            if other is not None:
                raise code.entry.error(
                    f"workflow type {type_name!r} is already used by {other.entry.id} "
                    f"({other.entry.where()}): set a different meta.temporal.workflow.name",
                    "meta.temporal.workflow.name",
                )
            by_type[type_name] = code
    return by_type
