"""Lua VMs (one sandboxed Lua state each) and the runs that share them.

A :class:`LuaVM` is one sandboxed lupa ``LuaRuntime`` with moonflow's own Lua loaded once:
``sandbox.lua`` (removes every escape route), ``convert.lua`` (value conversion) and, compiled
but not yet run, the kernel and module files. Each run (a :class:`~._run.LuaRun`) gets a
*run* inside a VM: its private ``sys`` table, environments, kernel instance and
module instances. Runs of one runtime share bytecode, library tables and interned strings, so
an idle cached run costs a few KB instead of a state of its own (~115 KB; benchmark M2).

Workflow runs share a small pool of runtimes per process (:func:`workflow_vm`); each
activity call gets a fresh run in its worker thread's runtime (:func:`activity_vm`), so
nothing one call leaves in its globals reaches the next call. lupa locks a runtime for each call
into it, so runs on different threads never run Lua code in one state at the same time; the
pool keeps several states so that they can run in parallel. On top of that,
a workflow activation holds :attr:`LuaVM.lock` for as long as it uses Lua, so the runs of a
busy state take turns once per activation rather than once per call.
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lupa.lua54 as lupa

from .. import errors as mferrors
from ..errors import INVALID
from ..modules._catalogue import ACTIVITY, WORKFLOW
from ._convert import Converter
from ._host import BaseHost

_HERE = Path(__file__).parent
MODULES_DIR = _HERE.parent / "modules"
SANDBOX = _HERE / "sandbox.lua"
CONVERT = _HERE / "convert.lua"
JSON_IN = _HERE / "json_in.lua"  # convert.lua's way in (JSON text -> tables)
FORMS = _HERE / "forms.lua"
KERNEL = _HERE / "kernel.lua"
ERRORS = MODULES_DIR / "errors.lua"
# Internal files loaded on first use, by the name Lua asks for (sys.load_internal).
INTERNAL = {
    "detpairs": _HERE / "detpairs.lua",
    "random": _HERE / "random.lua",
    "patterns": _HERE / "patterns.lua",
}

#: Internal bytecode is stripped of debug info (line numbers, local names); users' tracebacks
#: leave those frames out (sys.traceback). Set MOONFLOW_LUA_DEBUG=1 to keep it when working on
#: moonflow's own Lua files.
STRIP_INTERNAL = os.environ.get("MOONFLOW_LUA_DEBUG", "") not in ("1", "true", "yes")


def read_source(path: Path) -> str:
    """A Lua file's text with the typed dialect erased (:func:`moonflow.dialect.erase`), cached
    while the file is unchanged (size and mtime). Raises ``DialectError`` for a syntax error in
    annotated code (the app loader reports it first, as an ``AppError``)."""
    st = path.stat()
    return _read_cached(path, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=512)
def _read_cached(path: Path, mtime_ns: int, size: int) -> str:
    from ..dialect import erase

    return erase(path.read_text(encoding="utf-8"), path.name)


_compiler: Any = None
_compiler_lock = threading.Lock()


@functools.cache
def _bytecode(path: Path) -> tuple[bytes, str]:
    """Bytecode of one of moonflow's internal Lua files, and its chunk name."""
    global _compiler
    with _compiler_lock:
        if _compiler is None:
            # encoding=None: the dump is binary and must come back as bytes, not text.
            rt = lupa.LuaRuntime(register_eval=False, register_builtins=False, encoding=None)
            _compiler = rt.eval(
                "function(src, name, strip) local f, e = load(src, name, 't') "
                "if not f then return nil, e end return string.dump(f, strip) end"
            )
        res = _compiler(
            read_source(path).encode("utf-8"), ("=moonflow/" + path.name).encode(), STRIP_INTERNAL
        )
    code = res[0] if isinstance(res, tuple) else res
    if code is None:
        raise RuntimeError(f"moonflow internal Lua file {path.name} failed to compile: {res[1]!r}")
    return bytes(code), "=moonflow/" + path.name


@functools.cache
def lua_module_file(name: str) -> Path | None:
    """modules/<name>.lua if it exists (a module written in Lua), else None."""
    path = MODULES_DIR / f"{name}.lua"
    return path if path.exists() else None


def load_result(res: Any) -> tuple[Any, Any]:
    """Lua's ``load`` returns the function alone, or nil plus a message: -> (fn, message)."""
    if isinstance(res, tuple):
        return res[0], res[1] if len(res) > 1 else None
    return res, None


class LuaVM:
    """One sandboxed Lua 5.4 state with moonflow's Lua loaded; runs are made by ``new_run``.

    Args:
        context: ``"workflow"`` or ``"activity"``.
        max_memory: byte cap of the whole state, or None for no cap. The runtimes moonflow
            makes are shared by runs and created without a total cap: :meth:`arm_memory` caps
            what each activation (workflow) or call (activity) may allocate instead.
    """

    def __init__(self, context: str, max_memory: int | None) -> None:
        self.context = context
        # Held by a workflow run for each stretch of an activation that uses Lua (the driver's
        # segments). lupa locks the state for every single call and releases the GIL inside
        # Lua, so without this, the runs of a busy state interleave call by call and each
        # call waits for the GIL again: 50 runs resuming at once made activations of 0.6 s
        # out of 1 ms of work. With it, a run waits once per activation, and threads queued
        # here do not compete for the GIL.
        self.lock = threading.RLock()
        self._live = 0  # bytes held after the last full collection of arm_memory
        self.rt = lupa.LuaRuntime(
            register_eval=False,
            register_builtins=False,
            unpack_returned_tuples=True,
            max_memory=max_memory if max_memory is not None else 0,  # 0: no cap, but settable
            attribute_filter=_deny_attributes,
        )
        self._raw_load = self.rt.eval("load")  # captured before the sandbox removes it
        self._chunks: dict[str, Any] = {}  # a lost race compiles twice, harmlessly
        sys = self._run_file(SANDBOX, context, self.chunk(FORMS))
        self.sys = sys
        sys.load_internal = self._run_internal  # detpairs.lua, random.lua: on first use
        sys.argument_failure = _argument_failure  # wrap_py: a call lupa failed before Python ran
        # State-wide parts of modules (time.lua's shared half) reach the state through these:
        sys.base = sys
        sys.pure_host = self.rt.table_from(
            {
                n: sys.wrap_py(guard_py(getattr(_PURE_HOST, n), f"time.{n}", sys.RAISED, INVALID))
                for n in ("parse_duration", "format_duration", "parse_time")
            }
        )
        sys.module = self._state_module
        self._run_file(CONVERT, sys)
        self._run_file(JSON_IN, sys)
        self.wrapped_text = sys.wrapped_text
        self.convert = Converter(self.rt, sys)
        sys.seal_module_env()
        self.module_env = sys.module_env
        # Lua functions Python needs later, captured now: with lupa 2.8, reading a field of a
        # Lua table from Python code that runs inside a Lua coroutine (a host callback, a
        # require in a workflow function) returns garbage, while calling a function works.
        self.new_run = sys.new_run
        self.new_env = sys.new_env
        self.std_lib = sys.std_lib
        self.protected_call = sys.protected_call
        self.wrap_require = sys.wrap_require
        self.check_error = sys.check_error
        self.new_guard = sys.new_guard
        self.stop = sys.STOP  # raised by require when a library's load was stopped
        self.raised = sys.RAISED  # what a guarded Python function returns for an exception
        self.wrap_py = sys.wrap_py
        self.guarded_call = sys.guarded_call
        self._load_code = sys.load_code
        self.collectgarbage = sys.raw.collectgarbage
        self.tostring = sys.raw.tostring

    def _run_file(self, path: Path, *args: Any, env: Any = None) -> Any:
        return self.chunk(path, env)(*args)

    def chunk(self, path: Path, env: Any = None) -> Any:
        """The loaded (not yet called) chunk of one of moonflow's Lua files, once per state.

        Calling it again for each run makes fresh closures that share its bytecode. moonflow's
        files are compiled once per process and loaded as bytecode (parsing them dominated
        state creation); user code is always loaded as text. env: the sealed module
        environment for files loaded after user code may have run.
        """
        key = str(path)
        fn = self._chunks.get(key)
        if fn is None:
            code, chunk_name = _bytecode(path)
            if env is None:
                res = self._raw_load(code, chunk_name, "b")
            else:
                res = self._raw_load(code, chunk_name, "b", env)
            fn, err = load_result(res)
            if fn is None:
                raise RuntimeError(f"moonflow internal Lua file {path.name} failed to load: {err}")
            self._chunks[key] = fn
        return fn

    def _run_internal(self, name: str) -> Any:
        return self.chunk(INTERNAL[name], self.module_env)(self.sys)

    def _state_module(self, name: str) -> Any:
        """The state's own instance of a module (only ``errors``: errors raised by the
        state-wide halves of modules, whatever run they are called from)."""
        if name != "errors":
            raise KeyError(name)
        mod = self._chunks.get("errors instance")
        if mod is None:
            kinds = self.rt.table_from(mferrors.LUA_KIND_CONSTANTS)
            mod = self.chunk(ERRORS, self.module_env)(self.sys, kinds)
            self._chunks["errors instance"] = mod
        return mod

    def source_chunk(self, source: str, name: str) -> Any:
        """A Python-built module's Lua source, compiled once per state in the module env."""
        fn = self._chunks.get(name)
        if fn is None:
            fn, err = load_result(self._raw_load(source, name, "t", self.module_env))
            if fn is None:
                raise RuntimeError(f"moonflow module {name} failed to compile: {err}")
            self._chunks[name] = fn
        return fn

    def load_text(self, source: str, chunk_name: str, env: Any) -> tuple[Any, Any]:
        """Compile user code in ``env``: (function, None) or (None, message).

        The bytecode is kept per state by source text (sandbox.lua ``load_code``): the next run
        that loads the same file skips the parser."""
        return load_result(self._load_code(source, chunk_name, env))

    def arm_memory(self, allowance: int | None) -> None:
        """Let the next activation allocate at most ``allowance`` bytes more than the state
        holds now (a shared state has no per-run total: this stops a runaway run's task
        without touching the others). None: no cap."""
        if allowance is None:
            return
        used = self.rt.get_memory_used() or 0
        if used < self._live:  # runs left since: what is live now is at most this
            self._live = used
        elif used - self._live > max(allowance // 2, min(self._live, 4 * allowance)):
            # Garbage of earlier runs counts in `used`, and the collector may free it while
            # the next code runs, which could then allocate that much more than its
            # allowance (a 64 MiB cap let a runaway loop run into its instruction budget
            # instead, in a state a 600,000-table payload had passed through). A full
            # collection once garbage passes half the allowance keeps the cap within 1.5x;
            # the incremental collector rarely lets that much pile up, so this is rare. In a
            # state holding more than that live (a process node with 10,000s of processes),
            # once the garbage reaches what is live instead (the collector's own pace), up to
            # four allowances: every 36 MiB, each full collection walking all of the state
            # made a node's work grow with the square of its processes (8,191 -> 16,383
            # waiting processes: 71 -> 142 µs each; above ~4 allowances of live data that
            # cost comes back, spaced out). The cap then holds within five times the allowance
            # plus what was live at the last full collection and is garbage now (the state
            # itself never grows past what it held at arming plus one allowance).
            self.collectgarbage("collect")
            used = self._live = self.rt.get_memory_used() or 0
        self.rt.set_max_memory(used + allowance)

    def disarm_memory(self) -> None:
        """Drop the cap :meth:`arm_memory` set: what runs next is moonflow's own work (the
        process node between its pumps; an entry loaded, its results converted)."""
        self.rt.set_max_memory(0)

    def credit_memory(self, nbytes: int) -> None:
        """Raise the armed cap (if any) by ``nbytes``: what moonflow allocated on a run's
        behalf under another run's cap (a light process's file loaded in its spawner's step,
        process/scheduler.lua) is not the capped run's to pay for."""
        rt = self.rt
        limit = rt.get_max_memory(total=True)
        if limit:
            rt.set_max_memory(limit + max(0, int(nbytes)), total=True)

    def uncapped(self) -> _Uncapped:
        """Lift the memory cap while Python builds Lua values (``to_lua``, result tables).

        lupa builds tables through unprotected Lua API calls: an allocation refused there is a
        Lua panic that aborts the whole process (a 1.8 MB payload did, under the default
        64 MiB cap). What a value costs is bounded by its payload size instead. Afterwards the
        cap is raised by what the value took, so the code that runs next has the same room as
        before (a cap below what the state holds would make any later lupa call panic).
        A context manager; nested use (the cap already lifted) costs one call into lupa.
        """
        return _Uncapped(self.rt)

    def memory_used(self) -> int:
        """Bytes the Lua state holds (lupa's allocator count)."""
        return int(self.rt.get_memory_used() or 0)


class _Uncapped:
    """The context manager of :meth:`LuaVM.uncapped`: a small object rather than a generator
    (it is entered several times per workflow activation; benchmark W1)."""

    __slots__ = ("_rt", "_limit", "_before")

    def __init__(self, rt: Any) -> None:
        self._rt = rt

    def __enter__(self) -> None:
        rt = self._rt
        limit = self._limit = rt.get_max_memory(total=True)
        if limit:
            self._before = rt.get_memory_used(total=True) or 0
            rt.set_max_memory(0)

    def __exit__(self, *exc: object) -> None:
        limit = self._limit
        if limit:
            rt = self._rt
            grown = (rt.get_memory_used(total=True) or 0) - self._before
            rt.set_max_memory(limit + max(0, grown), total=True)


def guard_py(
    fn: Callable[..., Any], name: str, raised: Any, kind: str = mferrors.INTERNAL
) -> Callable[..., Any]:
    """``fn`` reporting a Python exception as ``(raised, kind, message)`` for sandbox.lua's
    ``wrap_py`` (a Lua error passing through, e.g. from Lua code ``fn`` called, is raised
    on unchanged). ``kind``: the kind of the error an exception becomes."""

    def call(*args: Any) -> Any:
        try:
            return fn(*args)
        except lupa.LuaError:
            raise
        except RecursionError:
            return raised, mferrors.INVALID, f"{name}: the value is nested too deeply"
        except Exception as e:  # noqa: BLE001 - nothing Python may reach Lua as an object
            text = " ".join(str(e).split())
            if len(text) > 300:
                text = text[:297] + "..."
            return raised, kind, f"{name}: {type(e).__name__}: {text}"

    return call


def _argument_failure(error: Any) -> Any:
    """``(kind, message)`` when a wrapped Python function failed before it ran because lupa
    could not convert an argument (a Lua string that is not UTF-8 cannot become a Python
    ``str``), else None: any other error goes on unchanged."""
    if isinstance(error, UnicodeDecodeError):
        return (
            INVALID,
            "a string argument is not valid UTF-8 text: encode binary data (crypto.random.bytes, "
            "an encrypted string) first, e.g. with base64.encode",
        )
    return None


_PURE_HOST = BaseHost()  # its parse/format methods depend on nothing but their arguments


def _pool_size() -> int:
    raw = os.environ.get("MOONFLOW_LUA_STATES", "")
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return _DEFAULT_POOL_SIZE


#: Read once: os.cpu_count() reads sysfs, and _pool_size runs for every workflow run.
_DEFAULT_POOL_SIZE = max(1, min(4, os.cpu_count() or 1))


_pool_lock = threading.Lock()
_pools: dict[int | None, list[LuaVM]] = {}
_round_robin = itertools.count()


def workflow_vm(max_memory: int | None) -> LuaVM:
    """A shared workflow runtime for a new run (one of a few per process, per memory cap).

    ``MOONFLOW_LUA_STATES`` sets how many states a process keeps (default: the number of CPUs,
    at most 4). A run stays in the state it started in.
    """
    with _pool_lock:
        pool = _pools.setdefault(max_memory, [])
        if len(pool) < _pool_size():
            rt = LuaVM(WORKFLOW, max_memory=None)
            pool.append(rt)
            return rt
        return pool[next(_round_robin) % len(pool)]


_thread_runtimes = threading.local()


def activity_vm() -> LuaVM:
    """The calling thread's activity runtime: every activity call on this thread makes a run
    in it (a thread of the worker's activity pool runs one call at a time, and lupa would
    serialise the threads sharing one state)."""
    rt = getattr(_thread_runtimes, "activity", None)
    if rt is None:
        rt = _thread_runtimes.activity = LuaVM(ACTIVITY, max_memory=None)
    return rt


def _deny_attributes(obj: Any, attr_name: Any, is_setting: bool) -> Any:
    # Lua code never gets to look inside Python objects (no python.eval-style escapes).
    raise AttributeError("access to Python attributes is not allowed from Lua")
