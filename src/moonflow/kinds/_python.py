"""Python code entries: ``function.py``, a plain Python function run as an activity.

An entry names its code in one of two ways and the function with ``method``::

    - name: charge
      kind: function.py
      source: file://payments.py      # relative to the YAML file's folder
      method: charge
      meta: {temporal: {activity: {worker: app:worker}}}

    - name: refund
      kind: function.py
      module: shop.payments            # a dotted module name: the app folder, then sys.path
      method: refund

``build`` imports the code when the app loads (``moonflow check`` included), so a missing
file or module, an import that fails, a missing ``method`` or one that is not a function is one
:class:`~moonflow.errors.AppError` line. Imports happen once per process and file (a file
whose content changed is imported anew at the next load); the module's top level therefore runs
once per worker process, not per call.

``sys.path``: the app folder is appended (at the end, so it never shadows the standard library
or installed packages) the first time a ``function.py`` entry of the app is imported, and only
then: ``module: shop.payments`` finds ``<app>/shop/payments.py``, and code loaded with
``source:`` can ``import`` modules of the app folder. A file loaded with ``source:`` is
registered in ``sys.modules`` under a private name (``moonflow_py_<stem>_<hash>``), so
dataclasses and pickling work in it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import re
import sys
import threading
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moonflow.errors import AppError

from ._fields import Field, lifecycle_fields, temporal_meta_fields
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

FUNCTION_PY_KIND = "function.py"

_MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_LOCK = threading.Lock()
#: source file -> (digest of its bytes, module): a file runs once per process and content.
_FILES: dict[Path, tuple[str, types.ModuleType]] = {}


@dataclass(frozen=True)
class PythonCode:
    """A ``function.py`` entry, validated and imported.

    Attributes:
        entry: the registry entry.
        kind: ``function.py``.
        method: the function's name in its module.
        function: the function itself (sync or ``async def``).
        source: absolute path of the ``source:`` file, or None for ``module:``.
        module: the dotted module name for ``module:``, or None for ``source:``.
        activity_worker: full id of the ``temporal.worker`` registering this activity, or None
            (then processes may still call it with ``funcs.call``).
        activity_local: ``meta.temporal.activity.local`` (run as a Temporal local activity).
        warnings: always empty (``moonflow check`` reads it on every code entry).
    """

    entry: Entry
    kind: str
    method: str
    function: Callable[..., Any] = field(compare=False, repr=False)
    source: Path | None = None
    module: str | None = None
    activity_worker: str | None = None
    activity_local: bool = False
    warnings: tuple[tuple[str, int | None, str], ...] = ()

    @property
    def is_async(self) -> bool:
        """True for an ``async def`` function (run on the worker's event loop)."""
        return is_async(self.function)

    @property
    def where(self) -> str:
        """``payments.py`` (relative to the app root) or ``module shop.payments``: for
        messages."""
        if self.source is not None:
            root = self.entry.root
            return Path(os.path.relpath(self.source, root)).as_posix() if root else str(self.source)
        return f"module {self.module}"


def is_async(fn: Any) -> bool:
    """Whether calling ``fn`` returns an awaitable to run on the loop (``async def``, also as a
    callable object's ``__call__``)."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - the method, not callable()
    )


def python_activities(app: Any, worker_id: str | None = None) -> list[PythonCode]:
    """``function.py`` entries registered as activities (``meta.temporal.activity.worker``).

    Args:
        app: the loaded :class:`~moonflow.registry.App`.
        worker_id: full id of a ``temporal.worker``; None for every worker.
    """
    out = []
    for entry_id, entry in app.entries.items():
        if entry.kind != FUNCTION_PY_KIND:
            continue
        code = app.spec(entry_id)
        if code.activity_worker is not None and worker_id in (None, code.activity_worker):
            out.append(code)
    return out


# --- import -------------------------------------------------------------------------------------


def _on_path(root: Path | None) -> None:
    """Append the app folder to ``sys.path`` once (never first: see the module doc)."""
    if root is not None and str(root) not in sys.path:
        sys.path.append(str(root))


def user_frame(tb: types.TracebackType | None, root: Path | None) -> tuple[str, int] | None:
    """``(file relative to the app root, line)`` of the innermost frame in the app folder."""
    found = None
    for frame, line in traceback.walk_tb(tb):
        name = frame.f_code.co_filename
        if root is not None and name.startswith(str(root) + os.sep):
            found = (Path(os.path.relpath(name, root)).as_posix(), line)
    return found


def _import_failed(entry: Entry, what: str, exc: BaseException, path: str) -> AppError:
    """One line for code that raised while being imported: at the user's file:line when the
    traceback passes through the app folder, else at the entry's field."""
    root = entry.root
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        file = exc.filename
        if root is not None and file.startswith(str(root) + os.sep):
            file = Path(os.path.relpath(file, root)).as_posix()
        text = f"Python syntax error: {exc.msg}: fix the Python code"
        return AppError(
            f"importing {what}: {text} (entry at {entry.where()})",
            file=file,
            line=exc.lineno,
            entry_id=entry.id,
        )
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ModuleNotFoundError):
        fix = f"install {exc.name} in moonflow's Python environment" if exc.name else ""
        fix = fix or "install the missing module"
    else:
        fix = "fix the module's top-level code"
    at = user_frame(exc.__traceback__, root)
    if at is not None:
        return AppError(
            f"importing {what} failed: {text}: {fix} (entry at {entry.where()})",
            file=at[0],
            line=at[1],
            entry_id=entry.id,
        )
    return entry.error(f"importing {what} failed: {text}: {fix}", path)


def _file_module(entry: Entry, path: Path) -> types.ModuleType:
    """Execute ``path`` as a module (once per process and file version)."""
    try:
        version = hashlib.sha1(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise entry.error(f"cannot read source file {path}: {exc}", "source") from None
    with _LOCK:
        cached = _FILES.get(path)
        if cached is not None and cached[0] == version:
            return cached[1]
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
        stem = re.sub(r"\W", "_", path.stem)
        name = f"moonflow_py_{stem}_{digest}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise entry.error(
                f"cannot load {path} as Python: name the file *.py or fix source:", "source"
            )
        module = importlib.util.module_from_spec(spec)
        _on_path(entry.root)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - any failure of user code is a check error
            sys.modules.pop(name, None)
            raise _import_failed(entry, path.name, exc, "source") from None
        _FILES[path] = (version, module)
        return module


def _named_module(entry: Entry, name: str) -> types.ModuleType:
    """Import ``name`` with the app folder on ``sys.path`` (Python's own module cache)."""
    with _LOCK:
        _on_path(entry.root)
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
                rel = name.replace(".", "/")
                raise entry.error(
                    f"module {name} not found (looked in the app folder {entry.root} and the "
                    f"Python path): create {rel}.py in the app folder, install the package, or "
                    "fix module:",
                    "module",
                ) from None
            raise _import_failed(entry, f"module {name}", exc, "module") from None
        except Exception as exc:  # noqa: BLE001 - any failure of user code is a check error
            raise _import_failed(entry, f"module {name}", exc, "module") from None


def _function(entry: Entry, module: types.ModuleType, method: str, where: str) -> Callable:
    fn = getattr(module, method, None)
    if fn is None:
        names = sorted(
            n
            for n, v in vars(module).items()
            if not n.startswith("_")
            and callable(v)
            and getattr(v, "__module__", None) == module.__name__
        )
        has = ", ".join(names[:10]) if names else "no functions"
        raise entry.error(
            f'method "{method}" is not defined in {where} (it defines: {has}): add '
            f"def {method}(...) to it or fix method:",
            "method",
        )
    if not callable(fn):
        raise entry.error(
            f'method "{method}" of {where} is a {type(fn).__name__}, not a function: point '
            "method: at a function (def or async def)",
            "method",
        )
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise entry.error(
            f'method "{method}" of {where} is a generator (it yields): an activity returns one '
            "value; return a list instead",
            "method",
        )
    _check_keyword_only(entry, fn, method, where)
    return fn


def _check_keyword_only(entry: Entry, fn: Callable, method: str, where: str) -> None:
    """Refuse a function with required keyword-only parameters (``def f(a, *, must)``): Lua
    passes positional arguments only, so no call could ever reach it."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: the call decides
        return
    must = [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.default is p.empty]
    if not must:
        return
    code = getattr(inspect.unwrap(fn), "__code__", None)
    at = where
    if code is not None:
        path = code.co_filename
        if entry.root and path.startswith(str(entry.root) + os.sep):
            path = os.path.relpath(path, entry.root)
        at = f"{Path(path).as_posix()}:{code.co_firstlineno}"
    raise entry.error(
        f'method "{method}" ({at}) has required keyword-only parameters ({", ".join(must)}), '
        "which no call can fill (Lua passes arguments by position): give them defaults or "
        "make them positional (before the *)",
        "method",
    )


def _temporal_meta(entry: Entry, app: AppView) -> dict[str, Any]:
    """``meta.temporal.activity`` as for ``function.lua`` (worker, local)."""
    temporal = opt_map(entry, "meta.temporal") or {}
    if "workflow" in temporal:
        raise entry.error(
            "meta.temporal.workflow is only for workflow.lua entries, not function.py: use "
            "meta.temporal.activity to register it as an activity",
            "meta.temporal.workflow",
        )
    act = opt_map(entry, "meta.temporal.activity") if "activity" in temporal else None
    if act is None:
        return {}
    worker = req_str(entry, "meta.temporal.activity.worker", "app:worker")
    local = act.get("local", False)
    if not isinstance(local, bool):
        raise entry.error(
            f"meta.temporal.activity.local must be true or false, not {local!r}",
            "meta.temporal.activity.local",
        )
    return {"activity_worker": app.resolve(worker, entry.namespace), "activity_local": local}


def build_python(entry: Entry, app: AppView) -> PythonCode:
    """Validate a ``function.py`` entry, import its code and find its function."""
    raw_source = opt_str(entry, "source")
    module_name = opt_str(entry, "module")
    if raw_source is not None and module_name is not None:
        raise entry.error(
            "source and module are both set: keep one (source: a file, module: a dotted "
            "module name)",
            "module",
        )
    if raw_source is None and module_name is None:
        raise entry.error(
            "a function.py entry needs its code: add source: file://code.py (relative to this "
            "YAML file) or module: package.module"
        )
    method = req_str(entry, "method", "main")
    temporal = _temporal_meta(entry, app)
    if raw_source is not None:
        source = source_file(entry, raw_source, ".py")
        module = _file_module(entry, source)
        where = Path(os.path.relpath(source, entry.root)).as_posix() if entry.root else raw_source
    else:
        assert module_name is not None
        if not _MODULE_RE.match(module_name):
            raise entry.error(
                f"module {module_name!r} is not a dotted Python module name: write e.g. "
                "module: shop.payments",
                "module",
            )
        source = None
        module = _named_module(entry, module_name)
        where = f"module {module_name}"
    fn = _function(entry, module, method, where)
    return PythonCode(
        entry=entry,
        kind=entry.kind,
        method=method,
        function=fn,
        source=source,
        module=module_name,
        **temporal,
    )


FUNCTION_PY_SPEC = register(
    KindSpec(
        FUNCTION_PY_KIND,
        "plain Python function (a Temporal activity when meta.temporal.activity is set)",
        ("method",),
        (RefField("meta.temporal.activity.worker", ("temporal.worker",)),),
        build_python,
        (
            Field(
                "source",
                "the Python file: file://code.py, relative to the YAML file's folder (or module)",
            ),
            Field(
                "module",
                "a dotted module name, found in the app folder, then on sys.path (or source)",
            ),
            Field(
                "method",
                "name of the function (sync or async def) in the file or module",
                required=True,
            ),
            *temporal_meta_fields(workflow=False),
            *lifecycle_fields(supervised=False),
        ),
    )
)
