"""One run's Lua side: a workflow run, an activity call or a process, inside a shared Lua VM.

A :class:`LuaRun` is created per workflow run (context ``"workflow"``), per activity call
(``"activity"``) or per process (``"process"``); its :class:`RunKind` says whether it is
deterministic and whether its code runs as kernel tasks. It lives inside a
:class:`~._vm.LuaVM` (one Lua state): workflow runs share a few VMs per OS process, activity
calls the VM of their worker thread, processes their node's VM; each run has its own private
``sys``, entry environments, kernel instance and module instances. Everything a run uses
beyond that (the ``errors``, ``channel`` and ``process`` globals, the library tables, required
modules, deterministic ``pairs``) is built on first use, so a run pays only for what its code
touches (benchmarks M1, M2, W1). The host half of a kernel run (completions, result tables)
is :mod:`._kernel_run`; how a run ended, :mod:`._outcome`.

Modules reach the outside world only through the *host* of the run's kind, a Python object
declaring what Lua may call (:mod:`._host`). No module imports the driver or the process host.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lupa.lua54 as lupa

from .. import errors as mferrors
from ..modules._catalogue import (
    ACTIVITY,
    MODULES,
    NOT_IMPLEMENTED,
    PROCESS,
    STD_LIBS,
    WORKFLOW,
    catalogue_context,
)
from ._convert import ConversionError
from ._outcome import Outcome, raised, returned
from ._vm import (
    ERRORS,
    KERNEL,
    LuaVM,
    activity_vm,
    guard_py,
    lua_module_file,
    read_source,
    workflow_vm,
)

if TYPE_CHECKING:
    from ..kinds import LuaCode
    from ..registry import App

DEFAULT_MAX_MEMORY = 64 * 1024 * 1024
DEFAULT_INSTRUCTION_BUDGET = 50_000_000
#: Lua VM instructions one activity call may run (worker option ``lua_activity_instruction_budget``;
#: 0: none, the activity's timeouts alone bound it). About 10 s of plain Lua on a 2026 laptop
#: core: far above what a workflow activation may run, since activities are where work happens.
DEFAULT_ACTIVITY_INSTRUCTION_BUDGET = 2_000_000_000
#: How often (in count hooks of 10,000 instructions) a call without a kernel asks its stop
#: check (an activity's deadline and cancellation): about every millisecond of Lua.
STOP_CHECK_EVERY = 10


class RunStopped(Exception):
    """The run's code was stopped by moonflow, not by its own error.

    Attributes:
        reason: ``"budget"`` (instruction budget), ``"memory"`` (memory cap), or the reason
            the stop check gave (``"timeout"``, ``"cancelled"``).
        where: ``"file.lua:LINE"`` of the user code that was running, or None.
    """

    def __init__(self, reason: str, where: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.where = where


@dataclass(frozen=True)
class RunKind:
    """What a run of a context is.

    Attributes:
        deterministic: workflow time and seeded randomness, deterministic ``pairs``, no real
            clock (workflow runs only).
        has_kernel: its code runs as kernel tasks (coroutines, channels, timers, commands
            yielded to a host that completes them): workflow runs and processes. Activity
            calls run straight through, waiting on their thread.
    """

    deterministic: bool
    has_kernel: bool


_RUN_KINDS = {
    WORKFLOW: RunKind(deterministic=True, has_kernel=True),
    ACTIVITY: RunKind(deterministic=False, has_kernel=False),
    PROCESS: RunKind(deterministic=False, has_kernel=True),
}


def run_kind(context: str) -> RunKind:
    """The :class:`RunKind` of ``"workflow"``, ``"activity"`` or ``"process"``."""
    return _RUN_KINDS[context]


class LuaRun:
    """The Lua side of one workflow run, activity call or process (a run in a Lua state).

    Args:
        context: ``"workflow"``, ``"activity"`` or ``"process"`` (see :class:`RunKind`; a
            process run needs ``vm``, its process host's).
        host: the host of the run's kind (``lua/_host.py``: declares what Lua may call).
        app: the loaded app (for ``require`` of library entries); may be None in unit tests.
        max_memory: bytes one workflow activation or one activity call may allocate
            (:meth:`arm_memory`; the state is shared). None: no cap.
        instruction_budget: Lua VM instructions one workflow activation, or one activity call
            (loading its file included), may run; 0: no budget.
        stop_check: runs without a kernel (activity calls): a callable asked about every
            millisecond of Lua (:data:`STOP_CHECK_EVERY`) that returns None to go on or a
            reason (``"timeout"``, ``"cancelled"``) to stop the code.
        vm: the vm to create the run in (default: a shared one for workflows, see
            :func:`~moonflow.lua._vm.workflow_vm`; the calling thread's for
            activities, :func:`~moonflow.lua._vm.activity_vm`).

    Nothing Lua holds refers back to this object strongly (weak references only), so when
    the run leaves the cache its Lua values become garbage of the shared state.
    """

    # One per cached workflow run: slots instead of a __dict__ (idle-run memory, benchmark M2).
    __slots__ = (
        "context",
        "app",
        "host",
        "max_memory",
        "vm",
        "rt",
        "convert",
        "_modules",
        "_libraries",
        "source_of",
        "_closers",
        "sys",
        "kernel",
        "_guard",
        "_guarded_call",
        "lua_make_error",
        "_pcall",
        "_is_error",
        "_tostring",
        "__weakref__",
    )

    def __init__(
        self,
        context: str,
        host: Any,
        app: App | None = None,
        *,
        max_memory: int | None = DEFAULT_MAX_MEMORY,
        instruction_budget: int = DEFAULT_INSTRUCTION_BUDGET,
        stop_check: Callable[[], str | None] | None = None,
        vm: LuaVM | None = None,
    ) -> None:
        if context not in (WORKFLOW, ACTIVITY, PROCESS):
            raise ValueError(f"unknown Lua context {context!r}")
        if vm is None:
            if context == WORKFLOW:
                vm = workflow_vm(max_memory)
            elif context == ACTIVITY:
                vm = activity_vm()
            else:
                raise ValueError("a process run needs the vm of its process host")
        # The run's private sys. Lua reaches this object only through weak references (the
        # host getter and module loader below): a strong one would make a reference cycle
        # through the Lua registry that neither Python's nor Lua's collector can free.
        kernel_chunk = None
        if run_kind(context).has_kernel:
            kernel_chunk = vm.chunk(KERNEL, vm.module_env)
            stop_check = None  # kernel code waits through the kernel, never on a thread
        # The run's sys, its kernel instance (runs with a kernel) and the guard that code
        # outside the kernel's tasks (file top levels; activity calls) runs under, made in one
        # call into Lua (see _MAKE_RUN). Not under the memory cap of whichever activation
        # armed this shared state last: the state may hold more since (another run's
        # garbage), and a run's own set-up is bounded.
        with vm.uncapped():
            self._set_up(context, host, app, max_memory, vm)
            make_run = _run_maker(vm)[0]
            self.sys, self.kernel, self._guard = make_run(
                _host_getter(host, vm.raised, weakref.ref(self)),
                kernel_chunk,
                instruction_budget,
                int(instruction_budget or 0),
                stop_check,
                STOP_CHECK_EVERY,
            )

    def _set_up(
        self, context: str, host: Any, app: App | None, max_memory: int | None, vm: LuaVM
    ) -> None:
        """The fields of every run, however its Lua side was made (__init__, adopt; both call
        it with the memory cap lifted: the first run of a state makes its run maker)."""
        self.context = context
        self.app = app
        self.host = host
        self.max_memory = max_memory
        self.vm: LuaVM = vm
        self.rt = vm.rt
        self.convert = vm.convert
        self._modules: dict[str, Any] = {}
        # made on first use: most runs load no library entry and close nothing
        self._libraries: dict[str, Any] | None = None
        #: the text of an entry's file as its host keeps it (a process node reads each file
        #: once), or None: read when loaded
        self.source_of: Callable[[LuaCode], str] | None = None
        self._closers: list[Callable[[], None]] | None = None
        # the state's loader that makes errors, captured once per state (lupa 2.8: see
        # _vm.LuaVM), the same for every run
        self.lua_make_error = _run_maker(vm)[1]
        self._guarded_call = vm.guarded_call
        self._pcall = vm.protected_call
        self._is_error = vm.check_error
        self._tostring = vm.tostring

    @classmethod
    def adopt(
        cls,
        host: Any,
        app: App | None,
        vm: LuaVM,
        parts: tuple[Any, Any, Any],
        *,
        max_memory: int | None = DEFAULT_MAX_MEMORY,
    ) -> tuple[LuaRun, Any]:
        """The Python side of a process run made in Lua (``process/scheduler.lua`` N.spawn:
        a light process), from its ``parts`` (its sys, kernel and guard, as ``N.take`` returns
        them, read on the thread that owns the state).

        Returns the run and its link (what :meth:`__init__` gives a run made in Python; the
        entry's require comes from :meth:`require_for`), which the run's Lua side forwards to
        from then on (``N.adopted``).
        """
        run = cls.__new__(cls)
        run._set_up(PROCESS, host, app, max_memory, vm)
        run.sys, run.kernel, run._guard = parts
        link = _host_getter(host, vm.raised, weakref.ref(run))
        return run, link

    @property
    def lock(self) -> Any:
        """The vm's activation lock (a ``threading.RLock``): workflow code holds it while
        it uses this run's Lua (see ``LuaVM.lock``)."""
        return self.vm.lock

    def arm_memory(self) -> None:
        """Cap what the next workflow activation or activity call may allocate at
        ``max_memory`` (the state is shared: the cap is relative to what it holds now)."""
        self.vm.arm_memory(self.max_memory)

    @property
    def stopped(self) -> str | None:
        """Why the run's guarded code was stopped (``"budget"``, ``"memory"``, the stop
        check's reason), or None while it was not."""
        return self._guard["stopped"] or None

    @property
    def stopped_where(self) -> str | None:
        """``"file.lua:LINE"`` of the user code running when it was stopped, or None."""
        return self._guard["where"] or None

    def on_close(self, fn: Callable[[], None]) -> None:
        """Have :meth:`close` call ``fn`` (modules release what they hold, e.g. HTTP clients)."""
        if self._closers is None:
            self._closers = []
        self._closers.append(fn)

    def close(self) -> None:
        """Release what the run holds: its modules' resources, and every Python reference to
        its Lua values, now, on the calling thread (the thread that owns the state). Left to
        Python's cyclic collector, those references would be released on whatever thread it
        runs on, possibly while another thread runs Lua in the same state: lupa then touches
        the state from two threads at once (a segfault in ``luaL_unref`` was seen). The run
        must not be used afterwards. Idempotent."""
        closers, self._closers = self._closers or (), None
        for fn in closers:
            try:
                fn()
            except Exception:  # noqa: BLE001 - one module's cleanup must not block the others
                pass
        self._modules.clear()
        self._libraries = None
        self.sys = self.kernel = self._guard = self.lua_make_error = None
        if getattr(self.host, "state", None) is self:
            self.host.state = None  # the host <-> run cycle

    def new_env(self, require_fn: Any = None) -> Any:
        """A fresh entry environment of this run (strict globals, lazy module globals)."""
        return self.vm.new_env(self.sys, require_fn)

    def std_lib(self, name: str) -> Any:
        """A standard library table as this run sees it (``require("table")``)."""
        return self.vm.std_lib(self.sys, name)

    # ---- loading ------------------------------------------------------------------
    def module(self, name: str) -> Any:
        """The module table for ``name`` (built once per run)."""
        mod = self._modules.get(name)
        if mod is None:
            # Without the cap: lupa builds a Python module's tables through unprotected Lua API
            # calls, and an allocation refused there (a run near its cap) hangs or aborts the
            # process. A module's size is moonflow's, not the user code's.
            with self.vm.uncapped():
                mod = self._build_module(name)
            self._modules[name] = mod
        return mod

    def _build_module(self, name: str) -> Any:
        if name == "process" and self.context == ACTIVITY:
            name = "process_activity"
        vm = self.vm
        if name == "errors":
            kinds = self.rt.table_from(mferrors.LUA_KIND_CONSTANTS)
            return vm.chunk(ERRORS, vm.module_env)(self.sys, kinds)
        lua_file = lua_module_file(name)
        if lua_file is not None:
            mod = vm.chunk(lua_file, vm.module_env)(self.sys)
            if name == "channel" and "time" in self._modules:
                # its receive_timeout needs the run's timers, made on first use (time.lua)
                self.sys.time_channels(self.sys)
            return mod
        from ..modules import python_builder

        builder = python_builder(name)
        if builder is None:
            raise KeyError(name)
        return builder(weakref.proxy(self))  # its functions live in Lua: no strong reference

    def load_code(self, code: LuaCode, source: str | None = None) -> Any:
        """Run an entry's Lua file in its own environment and return what it exports
        (``source``: the file's text as Lua sees it, when the caller keeps it; default read
        now).

        Returns the exported table (library) or the function named by ``method``.

        Raises:
            mferrors.AppError: the file fails at load time or does not export ``method``.
            RunStopped: loading ran out of the instruction budget or memory (or was stopped).
        """
        exported = self._load_chunk(code, source)
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
        return _chunk_name(self.app.root if self.app is not None else None, code.source)

    def _load_chunk(self, code: LuaCode, source: str | None = None) -> Any:
        env = self.vm.new_env(self.sys, self._make_require(code))
        text = read_source(code.source) if source is None else source
        fn, err = self.vm.load_text(text, self._chunk_name(code), env)
        if fn is None:
            raise mferrors.AppError(str(err), file=code.entry.where(), entry_id=code.entry.id)
        ok, results, _tb = self.guarded_pcall(fn)
        value = results[0] if ok and results else None
        if not ok:
            value = results
            raise mferrors.AppError(
                f"error while loading {code.source.name}: {self.error_text(value)}",
                file=code.entry.where(),
                entry_id=code.entry.id,
            )
        return value

    def require_for(self, code: LuaCode) -> Any:
        """The ``require`` function of ``code``'s environment in this run (a Lua function)."""
        return self._make_require(code)

    def _make_require(self, code: LuaCode) -> Callable[[str], Any]:
        # Lua holds the entry's require as long as the run lives: a small object rather than
        # a closure with copies of the entry's lists (idle-run memory, benchmark M2).
        return self.vm.wrap_require(
            _Require(weakref.ref(self), code, catalogue_context(self.context))
        )

    def _lua_error(self, message: str) -> tuple[None, str]:
        return None, message

    def _library(self, entry_id: str) -> Any:
        if self._libraries is None:
            self._libraries = {}
        lib = self._libraries.get(entry_id)
        if lib is None:
            assert self.app is not None
            code = self.app.spec(entry_id)
            source = self.source_of(code) if self.source_of is not None else None
            lib = self._load_chunk(code, source)
            self._libraries[entry_id] = lib
        return lib

    # ---- calling and values -------------------------------------------------------
    def _guarded(self, fn: Any, *args: Any) -> tuple[bool, Any, Any]:
        ok, r, tb = self._guarded_call(self._guard, fn, *args)
        if not ok:
            stopped = self._guard["stopped"]
            if stopped:
                raise RunStopped(str(stopped), self._guard["where"] or None)
            if r == "not enough memory":
                raise RunStopped("memory")
        return ok, r, tb

    def guarded_pcall(self, fn: Any, *args: Any) -> tuple[bool, Any, Any]:
        """Like :meth:`pcall`, with the code running under the run's instruction budget and
        stop check (a coroutine of its own with a count hook; coroutines it creates too).

        Raises:
            RunStopped: the budget ran out, the stop check said stop, or the memory cap was
                reached.
        """
        ok, r, tb = self._guarded(fn, *args)
        if not ok:
            return False, r, tb
        n = r["n"]
        return True, [r[i] for i in range(1, n + 1)], None

    def call(self, fn: Any, args: list[Any], what: str) -> Outcome:
        """Call an entry's Lua function (kernel-less runs: activity calls) and read how it
        ended by the shared result rules (:mod:`moonflow.lua._outcome`).

        Args:
            fn: the Lua function (:meth:`load_code`).
            args: Lua values, one per argument.
            what: names the result in messages (``"activity app:charge result"``).

        Raises:
            RunStopped: see :meth:`guarded_pcall`.
        """
        ok, r, tb = self._guarded(fn, *args)
        return returned(self, r, what) if ok else raised(self, r, tb)

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
        with self.vm.uncapped():
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
        """JSON-like Python value -> Lua value, built without the memory cap (see
        ``LuaVM.uncapped``: a refused allocation there would abort the process)."""
        with self.vm.uncapped():
            return self.convert.to_lua(value, path)

    def is_error(self, value: Any) -> bool:
        """Whether a Lua value is an error object (errors module)."""
        return bool(self._is_error(value))

    def lua_function(self, fn: Callable[..., Any], name: str) -> Any:
        """A Lua function calling the Python callable ``fn``: what Lua code may hold instead
        of a Python object. A Python exception in ``fn`` becomes a moonflow error of kind
        ``Internal`` whose message starts with ``name`` (Lua never sees the exception object,
        and ``tostring`` shows a Lua function, not a Python repr). ``fn`` runs without the
        memory cap (see ``LuaVM.uncapped``)."""
        vm = self.vm

        def call(*args: Any) -> Any:
            # Without the cap: the values a module builds in Lua (an HTTP response, a decoded
            # document) go through lupa's unprotected table building, where a refused
            # allocation froze the worker (a 70 MB response under the 64 MiB cap). Their size
            # is the payload's, as for inputs.
            with vm.uncapped():
                return fn(*args)

        return vm.wrap_py(guard_py(call, name, vm.raised), name, True)

    def module_table(self, name: str, functions: dict[str, Callable[..., Any]]) -> Any:
        """A module table of Python functions, each made a Lua function by
        :meth:`lua_function` (``name.key`` names it in errors)."""
        with self.vm.uncapped():
            return self.rt.table_from(
                {k: self.lua_function(fn, f"{name}.{k}") for k, fn in functions.items()}
            )

    def load_lua_module(self, source: str, name: str, *args: Any) -> Any:
        """Run the Lua source of a Python-built module in the sealed module environment.

        ``name`` is the chunk name (``"=moonflow/logger"``); ``args`` are passed to the chunk,
        which is compiled once per Lua state and called once per run; Python callables among
        them reach the chunk as Lua functions (:meth:`lua_function`). Returns what the chunk
        returns. Safe to call from inside a Lua coroutine (a module required inside a
        workflow function).
        """
        module = name.removeprefix("=moonflow/")
        args = tuple(
            self.lua_function(a, module) if lupa.lua_type(a) is None and callable(a) else a
            for a in args
        )
        return self.vm.source_chunk(source, name)(*args)

    def collect_garbage(self) -> None:
        """Run a full collection of the Lua state (all the runs sharing it)."""
        self.vm.collectgarbage("collect")

    def memory_used(self) -> int:
        """Bytes the whole Lua state holds (shared by runs), lupa's allocator count."""
        return self.vm.memory_used()

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
            text = self.vm.wrapped_text(value)  # a string that is not UTF-8
            if text is not None:
                return str(text)
            try:
                import json

                return "error value " + json.dumps(self.to_python(value, "error"), sort_keys=True)
            except (ConversionError, TypeError, ValueError):
                pass
        try:
            return self.tostring(value)
        except Exception:  # noqa: BLE001 - last resort for exotic values
            return repr(value)


class _Require:
    """An entry's ``require(name)`` (see :meth:`LuaRun._make_require`). Holds the run weakly
    (Lua keeps this object, see ``LuaRun.__init__``) and reads the entry's ``modules`` and
    ``imports`` where they are (they are not changed after loading)."""

    __slots__ = ("_me", "_code", "_column")

    def __init__(self, me: weakref.ref[LuaRun], code: LuaCode, column: str) -> None:
        self._me = me
        self._code = code
        self._column = column

    def __call__(self, name: Any) -> Any:
        run = self._me()
        if run is None:
            return None, f'require("{name}"): the workflow run has ended'
        if not isinstance(name, str):
            return run._lua_error("require: module name must be a string")
        code = self._code
        imports = code.imports
        if name in imports:
            try:
                return run._library(imports[name])
            except RunStopped:
                return None, run.vm.stop  # raised as the control error: uncatchable
            except mferrors.AppError as e:
                return run._lua_error(f'require("{name}"): {e.message}')
        if name in STD_LIBS:
            return run.std_lib(name)
        if name in NOT_IMPLEMENTED:
            return run._lua_error(
                f'require("{name}"): module {name} is part of the reference runtime\'s API '
                "but moonflow does not implement it: run that code where it exists, or "
                "do without it"
            )
        info = MODULES.get(name)
        context = run.context
        if info is not None and self._column not in info.contexts:
            fix = (
                "move that code into an activity (a function.lua activity the workflow "
                "calls with funcs.call)"
                if context == WORKFLOW
                else "only workflow code may use it"
            )
            return run._lua_error(
                f'require("{name}"): module {name} is not supported in {context} '
                f"context ({code.entry.id}): {fix}"
            )
        if info is None or (not info.always and name not in code.modules):
            return run._lua_error(
                f'require("{name}"): module {name} is not in the modules list of '
                f"{code.entry.id}: add it under modules: in the entry's YAML"
            )
        try:
            return run.module(name)
        except KeyError:
            return run._lua_error(
                f'require("{name}"): module {name} is part of the reference runtime\'s API '
                "but moonflow does not implement it yet"
            )


#: What ``LuaRun.__init__`` does in Lua, in one call instead of five (each call into Lua hands
#: the GIL over, which costs most on a busy worker): ``sys.new_run(link)``, the run's
#: ``module`` loader (the same :class:`_RunLink`), its kernel instance
#: (``make_kernel(run, budget)``, or none; kernel.lua's chunk, called once per state, returns
#: ``make_kernel``) and
#: ``sys.new_guard(run, guard_budget, check, every)``; returns them. The chunk returns that
#: function and the state's ``make_error`` (taken once per state: a Python wrapper of it per
#: run would be one more object in every idle run).
_MAKE_RUN = """\
local new_run, new_guard, base = ...
local make_kernel
return function(link, kernel_chunk, budget, guard_budget, check, every)
    local run = new_run(link)
    run.module = link
    local kernel = nil
    if kernel_chunk ~= nil then
        if make_kernel == nil then
            make_kernel = kernel_chunk(run.base)
        end
        kernel = make_kernel(run, budget)
    end
    return run, kernel, new_guard(run, guard_budget, check, every)
end, base.make_error
"""
_run_makers: weakref.WeakKeyDictionary[LuaVM, tuple[Any, Any]] = weakref.WeakKeyDictionary()


def _run_maker(vm: LuaVM) -> tuple[Any, Any]:
    """The :data:`_MAKE_RUN` function of ``vm``'s state and the state's ``make_error`` (made
    once per state)."""
    maker = _run_makers.get(vm)
    if maker is None:
        maker = vm.source_chunk(_MAKE_RUN, "=moonflow/make_run")(vm.new_run, vm.new_guard, vm.sys)
        _run_makers[vm] = maker
    return maker


@functools.lru_cache(maxsize=1024)
def _chunk_name(root: Path | None, source: Path) -> str:
    """Lua's name for a file's chunk: its path in the app (``@workflows/order.lua``)."""
    if root is not None:
        try:
            return "@" + str(source.relative_to(root))
        except ValueError:
            pass
    return "@" + source.name


_HOST_NAMES: dict[type, frozenset[str]] = {}


def _host_getter(host: Any, raised: Any, run: weakref.ref[LuaRun] | None = None) -> _RunLink:
    """``get(name)`` -> the host's method ``name`` if its kind declares it (``LUA_API``, see
    :mod:`._host`), else None (sandbox.lua's host table). With ``run``, the run's link instead
    (:class:`_RunLink`: ``get(name, True)`` is the host getter, ``get(name)`` the module loader).

    Raises:
        TypeError: the host's class declares no host kind, or lacks a method its kind declares.
    """
    cls = type(host)
    names = _HOST_NAMES.get(cls)
    if names is None:
        names = _declared_host_names(cls)
        _HOST_NAMES[cls] = names

    # Lua keeps what this returns (sandbox.lua caches it per run): weak, so that nothing Lua
    # holds leads back to the run's Python objects (and from them to its Lua values).
    return _RunLink(weakref.ref(host), names, raised, run)


class _RunLink:
    """What Lua holds of a run's Python side, as one object: every Python object Lua holds
    costs about 250 bytes (lupa's reference to it and a userdata), and Lua holds this one for
    as long as the run lives (idle-run memory, benchmark M2). Holds the host and the run weakly.

    ``link(name, True)``: the host getter, the host's method ``name`` if its kind declares it,
    else None (sandbox.lua's host table). ``link(name)``: the run's module ``name``
    (``LuaRun.module``, sandbox.lua's ``run.module``); without a run (:func:`_host_getter`
    called without one), the host getter.
    """

    __slots__ = ("_ref", "_names", "_raised", "_run")

    def __init__(
        self,
        ref: weakref.ref[Any],
        names: frozenset[str],
        raised: Any,
        run: weakref.ref[LuaRun] | None,
    ) -> None:
        self._ref = ref
        self._names = names
        self._raised = raised
        self._run = run

    def __call__(self, name: Any, host: bool = False) -> Any:
        if self._run is not None and not host:
            run = self._run()
            if run is None:
                raise RuntimeError("the workflow run has ended")
            return run.module(name)
        if name not in self._names:
            return None
        return _HostMethod(self._ref, name, self._raised)


class _HostMethod:
    """A host method as Lua holds it (sandbox.lua caches it per run): calls the host's method
    through a weak reference, reporting a Python exception as ``guard_py`` does. The guard is
    made per call rather than kept: a closure kept per method and run cost about 400 bytes
    of every idle run (benchmark M2), a call about 1.6 µs more (a few per activation)."""

    __slots__ = ("_ref", "_name", "_raised")

    def __init__(self, ref: weakref.ref[Any], name: str, raised: Any) -> None:
        self._ref = ref
        self._name = name
        self._raised = raised

    def __call__(self, *args: Any) -> Any:
        name = self._name
        return guard_py(_WeakMethod(self._ref, name), f"host.{name}", self._raised)(*args)


def _declared_host_names(cls: type) -> frozenset[str]:
    """The names Lua may call on hosts of class ``cls``: its ``LUA_API``, checked."""
    from ._host import HOST_APIS, HOST_PROTOCOLS, host_kind

    where = f"{cls.__module__}.{cls.__qualname__}"
    api = getattr(cls, "LUA_API", None)
    kind = host_kind(api)
    if kind is None:
        kinds = ", ".join(f"{k.upper()}_API" for k in HOST_APIS)
        raise TypeError(
            f"host class {where} declares no host kind: give it the class attribute LUA_API "
            f"set to one of {kinds} (moonflow.lua._host), the names Lua may call on it"
        )
    names = HOST_APIS[kind]
    missing = sorted(n for n in names if not callable(getattr(cls, n, None)))
    if missing:
        proto = HOST_PROTOCOLS[kind]
        raise TypeError(
            f"host class {where} declares the {kind} host API but does not implement "
            f"{', '.join(missing)}: add the method(s) (see {proto.__module__}.{proto.__name__})"
        )
    return names


def weak_method(ref: weakref.ref[Any], name: str) -> Callable[..., Any]:
    """A callable calling ``ref().name(...)``, for Lua to hold without keeping the run alive."""
    return _WeakMethod(ref, name)


class _WeakMethod:
    """See :func:`weak_method`: an object with two slots instead of a closure (two cells and
    a function), since Lua holds several per idle run (benchmark M2)."""

    __slots__ = ("_ref", "_name")

    def __init__(self, ref: weakref.ref[Any], name: str) -> None:
        self._ref = ref
        self._name = name

    def __call__(self, *args: Any) -> Any:
        obj = self._ref()
        if obj is None:
            raise RuntimeError("the workflow run has ended")
        return getattr(obj, self._name)(*args)


def _deny_attributes(obj: Any, attr_name: Any, is_setting: bool) -> Any:
    # Lua code never gets to look inside Python objects (no python.eval-style escapes).
    raise AttributeError("access to Python attributes is not allowed from Lua")
