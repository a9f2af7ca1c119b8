"""Lua code entries: ``workflow.lua``, ``function.lua``, ``process.lua``, ``library.lua``.

``build`` checks everything that can be checked before a server exists (lua-api.md §1.3, §1.4):
the source file exists and compiles, its top level runs and exports ``method``, every ``modules:``
name exists and is allowed where the code runs, and the ``meta.temporal`` registration is
well-formed. What loads but fails if the code runs it (a literal ``require("x")`` of a module the
entry does not list, a library listing a module the importer cannot use, a listed module of the
reference runtime moonflow lacks) becomes a warning on :attr:`LuaCode.warnings`, not an error: a
file shared by entries with different ``modules:`` lists is valid.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moonflow.dialect import DialectError, erase
from moonflow.errors import AppError
from moonflow.modules._catalogue import (
    ACTIVITY,
    MODULES,
    NOT_IMPLEMENTED,
    STD_LIBS,
    WORKFLOW,
    module_error,
    module_note,
)

from ._fields import Field, lifecycle_fields, temporal_meta_fields
from ._luacheck import ChunkInfo, LuaCheckError, check_chunk, scan_requires
from ._spec import (
    AppView,
    KindSpec,
    RefField,
    opt_map,
    opt_str,
    register,
    req_str,
    source_file,
)

if TYPE_CHECKING:
    from moonflow.registry._entry import Entry

WORKFLOW_KIND = "workflow.lua"
FUNCTION_KIND = "function.lua"
PROCESS_KIND = "process.lua"
LIBRARY_KIND = "library.lua"
ACTIVITY_KINDS = (FUNCTION_KIND, PROCESS_KIND)


@dataclass(frozen=True)
class LuaCode:
    """A Lua code entry, validated.

    Attributes:
        entry: the registry entry.
        kind: ``workflow.lua``, ``function.lua``, ``process.lua`` or ``library.lua``.
        source: absolute path of the Lua file.
        method: name of the exported function to call (None for libraries).
        modules: the ``modules:`` allow-list as written (order kept).
        imports: alias -> full id of a ``library.lua`` entry (``require(alias)`` loads it).
        workflow_worker: full id of the ``temporal.worker`` registering this workflow, or None.
        workflow_name: ``meta.temporal.workflow.name`` (custom workflow type), or None.
        activity_worker: full id of the ``temporal.worker`` registering this activity, or None.
        activity_local: ``meta.temporal.activity.local`` (run as a Temporal local activity).
        exports: names of the functions the file's returned table holds (empty when the file
            returns a single function or a stubbed module).
        warnings: ``(file, line or None, message)`` for what loads but will fail if the code
            runs it (a ``require`` of a module this entry does not list, a listed module
            moonflow lacks); ``moonflow check`` prints them.
    """

    entry: Entry
    kind: str
    source: Path
    method: str | None
    modules: tuple[str, ...] = ()
    imports: dict[str, str] = field(default_factory=dict)
    workflow_worker: str | None = None
    workflow_name: str | None = None
    activity_worker: str | None = None
    activity_local: bool = False
    exports: tuple[str, ...] = ()
    warnings: tuple[tuple[str, int | None, str], ...] = ()

    @property
    def context(self) -> str:
        """``"workflow"`` for ``workflow.lua``, else ``"activity"`` (module availability)."""
        return WORKFLOW if self.kind == WORKFLOW_KIND else ACTIVITY

    @property
    def chunkname(self) -> str:
        """The source path relative to the app root: the name Lua messages should use."""
        root = self.entry.root
        return Path(os.path.relpath(self.source, root)).as_posix() if root else str(self.source)


def _source_path(entry: Entry) -> Path:
    return source_file(entry, req_str(entry, "source", "file://code.lua"), ".lua")


def _modules(entry: Entry, context: str) -> tuple[str, ...]:
    raw = entry.data.get("modules")
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(m, str) for m in raw):
        raise entry.error(
            "modules must be a list of module names, e.g. modules: [funcs, time]", "modules"
        )
    for i, name in enumerate(raw):
        if entry.kind == LIBRARY_KIND:
            # A library runs wherever it is imported: the importer's context is checked there.
            errors = [module_error(name, c) for c in (WORKFLOW, ACTIVITY)]
            problem = errors[1] if all(errors) else None
        else:
            problem = module_error(name, context)
        if problem:
            raise entry.error(f"modules: {problem}", f"modules.{i}")
    return tuple(raw)


def _module_notes(entry: Entry) -> list[tuple[str, int | None, str]]:
    """Warnings for listed modules of the reference runtime that moonflow lacks."""
    notes = []
    for i, name in enumerate(entry.data.get("modules") or ()):
        note = module_note(name)
        if note:
            notes.append((entry.relfile, entry.line_of(f"modules.{i}"), f"modules: {note}"))
    return notes


def _imports(entry: Entry, app: AppView) -> dict[str, str]:
    raw = opt_map(entry, "imports") or {}
    out: dict[str, str] = {}
    for alias, ref in raw.items():
        if not isinstance(alias, str) or not alias:
            raise entry.error(f"imports alias {alias!r} must be a non-empty string", "imports")
        out[alias] = app.resolve(ref, entry.namespace)
    return out


def _check_imported_modules(
    entry: Entry, app: AppView, imports: dict[str, str], context: str
) -> list[tuple[str, int | None, str]]:
    """Warnings for libraries imported (directly or not) that list modules not allowed in
    ``context``. Not an error: a library shared by workflows and activities may list a module
    only its activity-side functions use; a ``require`` of it from a workflow fails when run."""
    warnings = []
    seen: set[str] = set()
    # (this entry's alias, the library's own alias or None when direct, library id); direct
    # imports first, so a library reached both ways is reported as the direct import
    queue = [(alias, None, lib_id) for alias, lib_id in imports.items()]
    while queue:
        alias, inner, lib_id = queue.pop(0)
        if lib_id in seen:
            continue
        seen.add(lib_id)
        skipped = app.why_skipped(lib_id)
        if skipped:
            where = entry.line_of(f"imports.{alias}")
            what = (
                f'imports.{alias}: {skipped}: require("{alias}") fails'
                if inner is None
                else f'imports.{alias}: the library imports {skipped}: its require("{inner}") fails'
            )
            warnings.append((entry.relfile, where, what))
            continue
        lib = app.get(lib_id)
        for name in lib.data.get("modules") or ():
            problem = module_error(name, context) if isinstance(name, str) else None
            if problem:
                warnings.append(
                    (
                        entry.relfile,
                        entry.line_of(f"imports.{alias}"),
                        f"imports.{alias}: library {lib_id} lists a module this entry cannot "
                        f"use: {problem} (a require of it from here fails when it runs)",
                    )
                )
        nested = lib.data.get("imports")
        if isinstance(nested, dict):
            queue.extend((alias, a, app.resolve(r, lib.namespace)) for a, r in nested.items())
    return warnings


def _temporal_meta(entry: Entry, app: AppView) -> dict[str, Any]:
    out: dict[str, Any] = {}
    temporal = opt_map(entry, "meta.temporal") or {}
    wf = opt_map(entry, "meta.temporal.workflow") if "workflow" in temporal else None
    act = opt_map(entry, "meta.temporal.activity") if "activity" in temporal else None
    if wf is not None:
        if entry.kind != WORKFLOW_KIND:
            raise entry.error(
                f"meta.temporal.workflow is only for workflow.lua entries, not {entry.kind}: "
                "use meta.temporal.activity to register it as an activity",
                "meta.temporal.workflow",
            )
        worker = req_str(entry, "meta.temporal.workflow.worker", "app:worker")
        out["workflow_worker"] = app.resolve(worker, entry.namespace)
        if "name" in wf:
            out["workflow_name"] = req_str(entry, "meta.temporal.workflow.name", "order_workflow")
    if act is not None:
        if entry.kind not in ACTIVITY_KINDS:
            raise entry.error(
                f"meta.temporal.activity is only for function.lua and process.lua entries, not "
                f"{entry.kind}: move the code into a function.lua entry",
                "meta.temporal.activity",
            )
        worker = req_str(entry, "meta.temporal.activity.worker", "app:worker")
        out["activity_worker"] = app.resolve(worker, entry.namespace)
        local = act.get("local", False)
        if not isinstance(local, bool):
            raise entry.error(
                f"meta.temporal.activity.local must be true or false, not {local!r}",
                "meta.temporal.activity.local",
            )
        out["activity_local"] = local
    return out


@functools.lru_cache(maxsize=512)
def _checked(text: str, chunkname: str) -> ChunkInfo | LuaCheckError:
    try:
        return check_chunk(text, chunkname)
    except LuaCheckError as exc:
        return exc


def _lua_error(code_file: str, entry: Entry, message: str, line: int | None) -> AppError:
    return AppError(
        f"{message} (entry at {entry.where()})", file=code_file, line=line, entry_id=entry.id
    )


def _check_source(
    entry: Entry,
    path: Path,
    chunkname: str,
    method: str | None,
    allowed: set[str],
    context: str,
    warnings: list[tuple[str, int | None, str]],
) -> ChunkInfo:
    """Compile the file, run its top level, check ``method`` is exported; appends to
    ``warnings`` each literal ``require`` that would fail at run time (not an error: the file
    may be shared by entries with different ``modules:`` lists, see issue #12)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise entry.error(f"cannot read source file {path}: {exc}", "source") from None
    try:
        text = erase(text, chunkname)
    except DialectError as exc:
        raise _lua_error(
            chunkname, entry, f"Lua syntax error: {exc.what}: fix the Lua code", exc.line
        ) from None
    info = _checked(text, chunkname)
    if isinstance(info, LuaCheckError):
        if info.what == "syntax":
            what = f"Lua syntax error: {info.message}: fix the Lua code"
        else:
            what = (
                f"Lua error while loading the file: {info.message}: fix the file's top-level code"
            )
        raise _lua_error(chunkname, entry, what, info.line)
    if method is not None and not info.exports_method(method):
        base = path.name
        if info.returns == "table":
            has = ", ".join(info.exports) if info.exports else "no functions"
            found = f"(it exports: {has})"
        else:
            found = f"(it returns {info.value_type or 'no value'})"
        raise entry.error(
            f'method "{method}" is not exported by {base}: the file must end with '
            f"return {{ {method} = {method} }} {found}",
            "method",
        )
    for name, line in scan_requires(text):
        info_mod = MODULES.get(name)
        if name in allowed or name in STD_LIBS or (info_mod is not None and info_mod.always):
            continue
        if name in NOT_IMPLEMENTED:
            what = module_note(name) or ""
        elif info_mod is None:
            what = (
                f'require("{name}") but "{name}" is neither a module nor an imports alias: '
                f"{module_error(name, context)}; or import a library.lua entry: "
                f"imports: {{{name}: ns:entry}}"
            )
        elif entry.kind != LIBRARY_KIND and module_error(name, context):
            what = f'require("{name}") but {module_error(name, context)}'
        else:
            what = (
                f'require("{name}") but "{name}" is not in the modules list of {entry.id}: '
                "add it under modules: if this entry runs that code"
            )
        warnings.append((chunkname, line, f"{what} (it fails if it runs)"))
    return info


def build_lua(entry: Entry, app: AppView) -> LuaCode:
    """Validate a Lua code entry and build its :class:`LuaCode`."""
    context = WORKFLOW if entry.kind == WORKFLOW_KIND else ACTIVITY
    source = _source_path(entry)
    method = None
    if entry.kind != LIBRARY_KIND:
        method = req_str(entry, "method", "main")
    else:
        method = opt_str(entry, "method")
    modules = _modules(entry, context)
    warnings = _module_notes(entry)
    imports = _imports(entry, app)
    if entry.kind != LIBRARY_KIND:
        warnings += _check_imported_modules(entry, app, imports, context)
    temporal = _temporal_meta(entry, app)
    code = LuaCode(
        entry=entry,
        kind=entry.kind,
        source=source,
        method=method,
        modules=modules,
        imports=imports,
        **temporal,
    )
    info = _check_source(
        entry, source, code.chunkname, method, set(modules) | set(imports), context, warnings
    )
    return dataclasses.replace(code, exports=info.exports, warnings=tuple(warnings))


def _spec(
    kind: str,
    summary: str,
    required: tuple[str, ...],
    refs: tuple[RefField, ...],
    fields: tuple[Field, ...],
) -> KindSpec:
    imports = RefField("imports", (LIBRARY_KIND,))
    return register(KindSpec(kind, summary, required, (imports, *refs), build_lua, fields))


def _code_fields(*, method: bool, extra: tuple[Field, ...] = ()) -> tuple[Field, ...]:
    """Fields of the Lua code kinds (lua-api.md §1.3)."""
    return (
        Field(
            "source",
            "the Lua file: file://path.lua, relative to the YAML file's folder",
            required=True,
        ),
        Field(
            "method",
            "name of the function to call in the table the file returns"
            if method
            else "optional: a function the file must export (checked when the app loads)",
            required=method,
        ),
        Field("modules", "modules require() may load, e.g. [funcs, time, workflow]"),
        Field("imports", "alias: ns:entry of a library.lua entry; require(alias) loads it"),
        *extra,
        *lifecycle_fields(supervised=False),
    )


_POOL = Field(
    "pool",
    "the reference runtime's worker pool of the function (type, workers, size, buffer, "
    "max_size); moonflow runs functions on its own threads",
    ignored=True,
)

WORKFLOW_SPEC = _spec(
    WORKFLOW_KIND,
    "durable Lua workflow run on Temporal",
    ("source", "method"),
    (RefField("meta.temporal.workflow.worker", ("temporal.worker",)),),
    _code_fields(method=True, extra=temporal_meta_fields(workflow=True)),
)
FUNCTION_SPEC = _spec(
    FUNCTION_KIND,
    "stateless Lua function (a Temporal activity when meta.temporal.activity is set)",
    ("source", "method"),
    (RefField("meta.temporal.activity.worker", ("temporal.worker",)),),
    _code_fields(method=True, extra=(_POOL, *temporal_meta_fields(workflow=False))),
)
PROCESS_SPEC = _spec(
    PROCESS_KIND,
    "Lua process (a Temporal activity when meta.temporal.activity is set)",
    ("source", "method"),
    (RefField("meta.temporal.activity.worker", ("temporal.worker",)),),
    _code_fields(method=True, extra=temporal_meta_fields(workflow=False)),
)
LIBRARY_SPEC = _spec(
    LIBRARY_KIND,
    "shared Lua code imported by other entries",
    ("source",),
    (),
    _code_fields(method=False),
)
