"""One sandboxed Lua 5.4 state: runtime factory, module loading and ``require``.

A :class:`LuaState` is created per workflow run (context ``"workflow"``) or per activity entry
per worker thread (context ``"activity"``). Creation runs ``sandbox.lua`` (removes every escape
route and makes time/randomness deterministic in workflows), ``convert.lua`` and in workflows
``kernel.lua`` (the coroutine scheduler of the driver). Everything else (the ``errors``,
``channel`` and ``process`` globals, required modules, deterministic ``pairs``) is built on
first use, so a state pays only for what its code touches: creation is the bulk of a short
workflow's CPU cost and a cached idle run's memory (benchmarks M1, M2, W1).

Modules reach the outside world only through the *host*: a Python object implementing the
methods listed in :class:`Host` (workflow driver, activity executor and test fakes each
provide one). No module imports the driver.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import lupa.lua54 as lupa

from .. import errors as mferrors
from ..modules._catalogue import ACTIVITY, MODULES, STD_LIBS, WORKFLOW
from ._convert import ConversionError, Converter

if TYPE_CHECKING:
    from ..kinds import LuaCode
    from ..registry import App

_HERE = Path(__file__).parent
_MODULES_DIR = _HERE.parent / "modules"
_SANDBOX = _HERE / "sandbox.lua"
_CONVERT = _HERE / "convert.lua"
_KERNEL = _HERE / "kernel.lua"
_ERRORS = _MODULES_DIR / "errors.lua"

DEFAULT_MAX_MEMORY = 64 * 1024 * 1024
DEFAULT_INSTRUCTION_BUDGET = 50_000_000


class Host(Protocol):
    """What Lua modules may ask of their environment (all synchronous).

    Durations are integer nanoseconds, times integer Unix nanoseconds. Functions that can fail
    return ``(None, message)`` rather than raising.
    """

    def now_ns(self) -> int: ...
    def random_seed(self) -> int: ...
    def parse_duration(self, value: Any) -> Any: ...
    def format_duration(self, ns: int) -> str: ...
    def parse_time(self, text: Any) -> Any: ...
    def log(self, level: str, message: str, fields: Any) -> None: ...


def _read(path: Path) -> str:
    """A Lua file's text, cached while the file is unchanged (size and mtime)."""
    st = path.stat()
    return _read_cached(path, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=512)
def _read_cached(path: Path, mtime_ns: int, size: int) -> str:
    return path.read_text(encoding="utf-8")


_compiler: Any = None

#: Internal bytecode is stripped of debug info (line numbers, local names): every workflow run
#: holds its own copy of moonflow's Lua code, and debug info is ~15 KB of an idle state's ~115 KB
#: (benchmark M2). Tracebacks shown to users leave those frames out (sys.traceback). Set
#: MOONFLOW_LUA_DEBUG=1 to keep it when working on moonflow's own Lua files.
STRIP_INTERNAL = os.environ.get("MOONFLOW_LUA_DEBUG", "") not in ("1", "true", "yes")


@functools.cache
def _bytecode(path: Path) -> tuple[bytes, str]:
    """Bytecode of one of moonflow's internal Lua files, and its chunk name."""
    global _compiler
    if _compiler is None:
        # encoding=None: the dump is binary and must come back as bytes, not text.
        rt = lupa.LuaRuntime(register_eval=False, register_builtins=False, encoding=None)
        _compiler = rt.eval(
            "function(src, name, strip) local f, e = load(src, name, 't') "
            "if not f then return nil, e end return string.dump(f, strip) end"
        )
    res = _compiler(
        _read(path).encode("utf-8"), ("=moonflow/" + path.name).encode(), STRIP_INTERNAL
    )
    code = res[0] if isinstance(res, tuple) else res
    if code is None:
        raise RuntimeError(f"moonflow internal Lua file {path.name} failed to compile: {res[1]!r}")
    return bytes(code), "=moonflow/" + path.name


@functools.cache
def _lua_module_file(name: str) -> Path | None:
    """modules/<name>.lua if it exists (a module written in Lua), else None."""
    path = _MODULES_DIR / f"{name}.lua"
    return path if path.exists() else None


# Internal files loaded on first use, by the name Lua asks for (sys.load_internal).
_INTERNAL = {"detpairs": _HERE / "detpairs.lua"}


class LuaState:
    """A sandboxed Lua state.

    Args:
        context: ``"workflow"`` or ``"activity"``.
        host: the :class:`Host` implementation.
        app: the loaded app (for ``require`` of library entries); may be None in unit tests.
        max_memory: byte cap for the whole state (lupa's allocator limit).
        instruction_budget: workflow only: Lua VM instructions one activation may run.
    """

    def __init__(
        self,
        context: str,
        host: Any,
        app: App | None = None,
        *,
        max_memory: int | None = DEFAULT_MAX_MEMORY,
        instruction_budget: int = DEFAULT_INSTRUCTION_BUDGET,
    ) -> None:
        if context not in (WORKFLOW, ACTIVITY):
            raise ValueError(f"unknown Lua context {context!r}")
        self.context = context
        self.app = app
        self.host = host
        self.rt = lupa.LuaRuntime(
            register_eval=False,
            register_builtins=False,
            unpack_returned_tuples=True,
            max_memory=max_memory,
            attribute_filter=_deny_attributes,
        )
        self._raw_load = self.rt.eval("load")  # captured before the sandbox removes it
        self._modules: dict[str, Any] = {}
        self._libraries: dict[str, Any] = {}
        self.sys = self._run_file(_SANDBOX, _host_getter(host), context)
        # Runs moonflow's own Lua files that are loaded on first use (detpairs.lua).
        self.sys.load_internal = self._run_internal
        self.sys.module = self.module  # lets Lua modules load each other (e.g. time values)
        self._run_file(_CONVERT, self.sys)
        self.convert = Converter(self.rt, self.sys)
        self.kernel = None
        if context == WORKFLOW:
            self.kernel = self._run_file(_KERNEL, self.sys, instruction_budget)
        self.sys.seal_module_env()
        self._module_env = self.sys.module_env
        # errors, channel and process are globals built on first use (sandbox.lua, new_env).
        self.rt.globals().print = self.sys.make_print(self.host.log)
        # Lua functions Python needs later, captured now: with lupa 2.8, reading a field of a
        # Lua table from Python code that runs inside a Lua coroutine (a host callback, a
        # require in a workflow function) returns garbage, while calling a function works.
        sys = self.sys
        self._pcall = sys.protected_call
        self._new_env = sys.new_env
        self._wrap_require = sys.wrap_require
        self._std_lib = sys.std_lib
        self.lua_make_error = sys.make_error  # stub until the errors module loads, then real
        self._is_error = sys.check_error
        self._collectgarbage = sys.raw.collectgarbage
        self._tostring = sys.raw.tostring

    # ---- loading ------------------------------------------------------------------
    def _run_file(self, path: Path, *args: Any, env: Any = None) -> Any:
        # moonflow's own Lua files are compiled once per process and loaded as bytecode
        # (parsing them dominated state creation); user code is always loaded as text.
        # env: the sealed module environment for files loaded on first use (sandbox.lua).
        code, chunk_name = _bytecode(path)
        if env is None:
            res = self._raw_load(code, chunk_name, "b")
        else:
            res = self._raw_load(code, chunk_name, "b", env)
        fn, err = _load_result(res)
        if fn is None:
            raise RuntimeError(f"moonflow internal Lua file {path.name} failed to load: {err}")
        return fn(*args)

    def _run_internal(self, name: str) -> Any:
        return self._run_file(_INTERNAL[name], self.sys, env=self._module_env)

    def module(self, name: str) -> Any:
        """The module table for ``name`` (built once per state)."""
        mod = self._modules.get(name)
        if mod is None:
            mod = self._build_module(name)
            self._modules[name] = mod
        return mod

    def _build_module(self, name: str) -> Any:
        if name == "process" and self.context == ACTIVITY:
            name = "process_activity"
        if name == "errors":
            kinds = self.rt.table_from(mferrors.LUA_KIND_CONSTANTS)
            return self._run_file(_ERRORS, self.sys, kinds, env=self._module_env)
        lua_file = _lua_module_file(name)
        if lua_file is not None:
            return self._run_file(lua_file, self.sys, env=self._module_env)
        from ..modules import PYTHON_MODULES

        builder = PYTHON_MODULES.get(name)
        if builder is None:
            raise KeyError(name)
        return builder(self)

    def load_code(self, code: LuaCode) -> Any:
        """Run an entry's Lua file in its own environment and return what it exports.

        Returns the exported table (library) or the function named by ``method``.

        Raises:
            mferrors.AppError: the file fails at load time or does not export ``method``.
        """
        exported = self._load_chunk(code)
        if code.method is None:
            return exported
        if lupa.lua_type(exported) == "function":
            return exported
        fn = exported[code.method] if lupa.lua_type(exported) == "table" else None
        if lupa.lua_type(fn) != "function":
            raise mferrors.AppError(
                f"method {code.method!r} is not exported by {code.source.name}",
                file=code.entry.where(),
                entry_id=code.entry.id,
            )
        return fn

    def _chunk_name(self, code: LuaCode) -> str:
        if self.app is not None:
            try:
                return "@" + str(code.source.relative_to(self.app.root))
            except ValueError:
                pass
        return "@" + code.source.name

    def _load_chunk(self, code: LuaCode) -> Any:
        env = self._new_env(self._make_require(code))
        fn, err = _load_result(self._raw_load(_read(code.source), self._chunk_name(code), "t", env))
        if fn is None:
            raise mferrors.AppError(str(err), file=code.entry.where(), entry_id=code.entry.id)
        ok, results, _tb = self.pcall(fn)
        value = results[0] if ok and results else None
        if not ok:
            value = results
            raise mferrors.AppError(
                f"error while loading {code.source.name}: {self.error_text(value)}",
                file=code.entry.where(),
                entry_id=code.entry.id,
            )
        return value

    def _make_require(self, code: LuaCode) -> Callable[[str], Any]:
        allowed = set(code.modules)
        imports = dict(code.imports)
        entry_id = code.entry.id
        context = self.context

        def require(name: Any) -> Any:
            if not isinstance(name, str):
                return self._lua_error("require: module name must be a string")
            if name in imports:
                return self._library(imports[name])
            if name in STD_LIBS:
                return self._std_lib(name)
            info = MODULES.get(name)
            if info is None or (not info.always and name not in allowed):
                if info is not None and context not in info.contexts:
                    where = "workflow code" if context == WORKFLOW else "activity code"
                    return self._lua_error(
                        f'require("{name}"): module {name} is not available in {where} '
                        f"({entry_id}): move that code into an activity"
                    )
                return self._lua_error(
                    f'require("{name}"): module {name} is not in the modules list of '
                    f"{entry_id}: add it under modules: in the entry's YAML"
                )
            if context not in info.contexts:
                return self._lua_error(
                    f'require("{name}"): module {name} is not available in '
                    f"{context} code ({entry_id})"
                )
            try:
                return self.module(name)
            except KeyError:
                return self._lua_error(
                    f'require("{name}"): module {name} is part of the reference runtime\'s API '
                    "but moonflow does not implement it yet"
                )

        return self._wrap_require(require)

    def _lua_error(self, message: str) -> tuple[None, str]:
        return None, message

    def _library(self, entry_id: str) -> Any:
        lib = self._libraries.get(entry_id)
        if lib is None:
            assert self.app is not None
            code = self.app.spec(entry_id)
            lib = self._load_chunk(code)
            self._libraries[entry_id] = lib
        return lib

    # ---- calling and values -------------------------------------------------------
    def pcall(self, fn: Any, *args: Any) -> tuple[bool, Any, Any]:
        """Call a Lua function in protected mode.

        Returns:
            ``(True, results, None)`` with ``results`` a list of Lua values, or
            ``(False, error_value, traceback_text)`` when the function raised.
        """
        ok, r, tb = self._pcall(fn, *args)
        if not ok:
            return False, r, tb
        n = r["n"]
        return True, [r[i] for i in range(1, n + 1)], None

    def pack(self, values: list[Any]) -> Any:
        """A Lua table ``{v1, ..., n = len(values)}`` (nil-safe argument list)."""
        t = self.rt.table()
        for i, v in enumerate(values, 1):
            if v is not None:
                t[i] = v
        t["n"] = len(values)
        return t

    def to_python(self, value: Any, path: str = "value") -> Any:
        """Lua value -> JSON-safe Python value (see :mod:`moonflow.lua._convert`)."""
        return self.convert.to_python(value, path)

    def to_lua(self, value: Any, path: str = "value") -> Any:
        """JSON-like Python value -> Lua value."""
        return self.convert.to_lua(value, path)

    def is_error(self, value: Any) -> bool:
        """Whether a Lua value is an error object (errors module)."""
        return bool(self._is_error(value))

    def load_lua_module(self, source: str, name: str, *args: Any) -> Any:
        """Run the Lua source of a Python-built module in the sealed module environment.

        ``name`` is the chunk name (``"=moonflow/logger"``); ``args`` are passed to the chunk.
        Returns what the chunk returns. Safe to call from inside a Lua coroutine (a module
        required inside a workflow function).
        """
        fn, err = _load_result(self._raw_load(source, name, "t", self._module_env))
        if fn is None:
            raise RuntimeError(f"moonflow module {name} failed to compile: {err}")
        return fn(*args)

    def collect_garbage(self) -> None:
        """Run a full Lua garbage collection (~40 µs for a 100 KB state).

        Building a state leaves garbage behind (the bytecode strings of the files it loaded,
        ~20 KB), and an idle state allocates nothing, so an incremental collector would never
        get to it: the driver collects once, when a run first waits.
        """
        self._collectgarbage("collect")

    def tostring(self, value: Any) -> str:
        """Lua's ``tostring`` of a value."""
        return str(self._tostring(value))

    def new_error(
        self, kind: str, message: str, retryable: bool | None = None, details: Any = None
    ) -> Any:
        """A Lua error object."""
        d = self.to_lua(details) if details is not None else None
        return self.lua_make_error(kind, message, retryable, d)

    def error_info(self, value: Any) -> mferrors.ErrorInfo:
        """A Lua error value (error object or anything else) -> ErrorInfo.

        An error object keeps its kind (``Internal`` if it has none), message, retryable flag
        and details; any other value is kind ``Internal`` with its string form as message.
        """
        if lupa.lua_type(value) == "table" and self._is_error(value):
            details = value._details
            try:
                details = self.to_python(details, "error.details") if details is not None else None
            except ConversionError:
                details = None
            return mferrors.ErrorInfo(
                kind=value._kind or mferrors.INTERNAL,
                message=str(value._message),
                retryable=value._retryable,
                details=details,
            )
        return mferrors.ErrorInfo(kind=mferrors.INTERNAL, message=self.error_text(value))

    def error_text(self, value: Any) -> str:
        """Human text of a Lua error value (a table raised with error() is shown as JSON)."""
        if isinstance(value, str):
            return value
        if isinstance(value, BaseException):
            return f"{type(value).__name__}: {value}"
        if lupa.lua_type(value) == "table" and not self._is_error(value):
            try:
                import json

                return "error value " + json.dumps(self.to_python(value, "error"), sort_keys=True)
            except (ConversionError, TypeError, ValueError):
                pass
        try:
            return self.tostring(value)
        except Exception:  # noqa: BLE001 - last resort for exotic values
            return repr(value)


def _load_result(res: Any) -> tuple[Any, Any]:
    # Lua's load returns the function alone, or nil plus a message.
    if isinstance(res, tuple):
        return res[0], res[1] if len(res) > 1 else None
    return res, None


_HOST_NAMES: dict[type, frozenset[str]] = {}


def _host_getter(host: Any) -> Callable[[Any], Any]:
    """``get(name)`` -> the host's public method ``name``, or None (sandbox.lua's host table)."""
    cls = type(host)
    names = _HOST_NAMES.get(cls)
    if names is None:
        names = frozenset(
            n for n in dir(cls) if not n.startswith("_") and callable(getattr(cls, n))
        )
        _HOST_NAMES[cls] = names

    def get(name: Any) -> Any:
        return getattr(host, name) if name in names else None

    return get


def _deny_attributes(obj: Any, attr_name: Any, is_setting: bool) -> Any:
    # Lua code never gets to look inside Python objects (no python.eval-style escapes).
    raise AttributeError("access to Python attributes is not allowed from Lua")
