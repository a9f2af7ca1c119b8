"""``function.lua`` / ``process.lua`` entries as Temporal activities.

One dynamic activity per worker dispatches on the activity type (= entry id). Activities run
in the worker's thread pool. **Every call gets a fresh Lua run** in a Lua state of the process's
activity states (the one used last, see :func:`_take_vm`; ``lua/_vm.py``): its own globals,
library tables and module instances, with the entry's file loaded anew (from cached
bytecode), so nothing one call leaves behind (a global, a rewired ``string`` view, a
metatable) reaches the next call, whichever workflow makes it. The run, its entry's
environment, loading and the call take two calls into Lua (``lua/activity_call.lua``). The
entry's function gets one Lua argument per payload; how it ends is read by the shared result
rules (:mod:`moonflow.lua._outcome`):

* ``value`` -> the activity result (one JSON payload);
* ``nil, err`` -> an ApplicationError with err's kind, message, retryable flag and details
  (``nil, "text"``: kind ``Internal``, not retryable, as in workflows);
* an uncaught Lua error -> kind ``Internal``, not retryable (lua-api.md §3.8), with the Lua
  ``file:line`` message.

Limits per call (worker options, see ``_assembly.py``): ``lua_max_memory`` bytes the call may
allocate and ``lua_activity_instruction_budget`` Lua instructions (both -> ``ResourceExhausted``
failures naming the limit, not retryable). When the activity's deadline passes (start-to-close,
schedule-to-close, or the heartbeat timeout counted from the last ``activity.heartbeat``) or
Temporal cancels it, its Lua code is stopped within about a millisecond of Lua (a count hook
asks every 10 x 10,000 instructions) and the thread returns to the pool; ``time.sleep`` in
activity code wakes up for both. A timeout is reported as kind ``Timeout`` with
``details.timeout_type`` (as Temporal's own timeouts), retryable: the retry policy decides.

Worker shutdown (``worker_stop_timeout``, see ``_assembly.py``) is not the activity's failure:
an attempt still running when the stop timeout ends is stopped and reported as kind
``Unavailable``, retryable, so the retry policy runs it again at once on another worker of the
task queue (Temporal does not retry a cancelled attempt).
"""

from __future__ import annotations

import contextlib
import os
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lupa.lua54 as lupa
from temporalio import activity
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError, CancelledError

from .. import durations
from .. import errors as mferrors
from ..errors import ErrorInfo
from ..lua import (
    DEFAULT_ACTIVITY_INSTRUCTION_BUDGET,
    ConversionError,
    LuaRun,
    MachineHost,
    RunStopped,
)
from ..lua._host import ACTIVITY_API
from ..lua._outcome import raised, returned
from ..lua._run import _chunk_name, _Require
from ..lua._vm import LuaVM, read_source
from ..modules._catalogue import ACTIVITY
from ..process._stubs import stub_for
from ._context import ACTIVITY_CONTEXT
from ._failures import activity_timeout_message, to_application_error
from ._payloads import PayloadTooLarge, encode_checked

if TYPE_CHECKING:
    from ..kinds import LuaCode
    from ..registry import App

#: Kind of the failure when a call exceeds a limit of the worker's (not retryable: the same
#: input hits the same limit again).
RESOURCE_EXHAUSTED = mferrors.RESOURCE_EXHAUSTED


#: Seconds moonflow's deadline for a local activity's attempt comes after Temporal's (see
#: :class:`Deadline`).
LOCAL_GRACE_S = 0.5


class Deadline:
    """When the current activity attempt ends for Temporal, on this machine's monotonic clock.

    The earliest of: start-to-close from now (the attempt's start), schedule-to-close from the
    first schedule, and the heartbeat timeout from the last heartbeat (:meth:`beat`; from the
    start until the first). None: no timeout applies.
    """

    def __init__(self, info: activity.Info | None) -> None:
        # Temporal's timeout type (the names of details.timeout_type) -> monotonic end.
        self._ends: dict[str, float] = {}
        self._heartbeat_s: float | None = None
        if info is None:
            return
        now = time.monotonic()
        if info.start_to_close_timeout:
            self._ends["start_to_close"] = now + info.start_to_close_timeout.total_seconds()
        if info.schedule_to_close_timeout and info.scheduled_time:
            spent = max(0.0, time.time() - info.scheduled_time.timestamp())
            left = max(0.0, info.schedule_to_close_timeout.total_seconds() - spent)
            self._ends["schedule_to_close"] = now + left
        if info.heartbeat_timeout:
            self._heartbeat_s = info.heartbeat_timeout.total_seconds()
            self._ends["heartbeat"] = now + self._heartbeat_s
        if info.is_local:
            # The SDK's core times a local activity out itself and then cancels the attempt
            # (the stop check stops its Lua code). Had moonflow stopped and completed it first,
            # that cancel would find nothing ("UserWarning: Cannot find activity to cancel"):
            # moonflow's own deadline comes a little after core's.
            self._ends = {k: end + LOCAL_GRACE_S for k, end in self._ends.items()}

    @property
    def at(self) -> float | None:
        """The monotonic time the attempt ends at, or None."""
        return min(self._ends.values()) if self._ends else None

    @property
    def timeout_type(self) -> str | None:
        """Which timeout ends the attempt first (``start_to_close``, ``schedule_to_close``,
        ``heartbeat``), or None."""
        return min(self._ends, key=self._ends.__getitem__) if self._ends else None

    def beat(self) -> None:
        """The code heartbeated: the heartbeat timeout counts from now."""
        if self._heartbeat_s is not None:
            self._ends["heartbeat"] = time.monotonic() + self._heartbeat_s

    def passed(self) -> bool:
        return self.at is not None and time.monotonic() >= self.at

    def remaining(self) -> float | None:
        """Seconds left, or None without a deadline."""
        at = self.at
        return None if at is None else max(0.0, at - time.monotonic())

    def unix(self) -> float | None:
        """The end as Unix seconds (float; the wall clock's view of :attr:`at`), or None."""
        left = self.remaining()
        return None if left is None else time.time() + left


class ActivityHost(MachineHost):
    """Host for activity code: the real clock; logs through the activity logger; sleeps
    that end early when the call's stop check says stop (deadline passed, cancelled).

    Args:
        check: the call's stop check (:func:`stop_check`), or None.
        deadline: the attempt's deadline, or None.
    """

    LUA_API = ACTIVITY_API  # the methods of ActivityHostAPI (moonflow.lua._host)

    def __init__(self, check: StopCheck | None = None, deadline: Deadline | None = None) -> None:
        self.check = check
        self.deadline = deadline

    def context(self) -> dict[str, Any]:
        """The call's context values (the calling workflow's, plus its per-call ones)."""
        return ACTIVITY_CONTEXT.get() or {}

    def time_left(self) -> float | None:
        """Seconds until the attempt's deadline (http_client caps its timeouts with it)."""
        return self.deadline.remaining() if self.deadline is not None else None

    def log(self, level: str, message: str, fields: Any = None) -> None:
        try:
            where = activity.info().activity_type
        except RuntimeError:  # not inside an activity (state being built)
            where = "activity"
        super().log(level, f"[{where}] {message}", fields)

    #: Why the stop check stopped the call from a host method (:meth:`stop_now`), or None.
    stopped: str | None = None

    def sleep(self, ns: int) -> None:
        """Block for ``ns`` nanoseconds, or until the stop check says stop (the Lua code is
        then stopped at its next instruction, :meth:`stop_now`). Waits in slices of at most
        :data:`AUTO_HEARTBEAT_S` that end by the deadline, asking the check (which
        heartbeats) after each."""
        end = time.monotonic() + ns / durations.SECOND
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            step = min(left, AUTO_HEARTBEAT_S)
            remaining = self.deadline.remaining() if self.deadline is not None else None
            if remaining is not None:
                step = min(step, remaining + 0.001)
            if activity.in_activity():
                activity.wait_for_cancelled_sync(step)
            else:
                time.sleep(step)
            why = self.check() if self.check is not None else None
            if why:
                self.stop_now(why)
                return

    def stop_now(self, why: str) -> None:
        """Stop the call's Lua code at its next instruction, not up to 10,000 instructions
        later when its count hook would ask the stop check (the code after a ``time.sleep``
        must not run on, e.g. send a request, once the attempt is over). The runner also
        reads :attr:`stopped` should the code return first."""
        self.stopped = why
        state = self.state
        guard = getattr(state, "_guard", None)
        if guard is None:
            return
        if not guard["stopped"]:
            guard["stopped"] = why
        raw = state.sys.raw
        hook, mask, count = raw.gethook()  # the guard's count hook (this is its thread)
        if hook is None:
            return
        # A one-shot hook on the next instruction: raises the uncatchable stop, after putting
        # the guard's own hook back (a hook left at every instruction would fire again in
        # guarded_call's own code, outside its protected call).
        once = state.rt.execute(_STOP_NOW, raw.sethook, raw.error, state.vm.stop, hook, mask, count)
        raw.sethook(once, "", 1)

    # ---- the ``activity`` module (modules/_activity.py) --------------------------------------
    def heartbeat(self, details: Any = None) -> Any:
        """Heartbeat with ``details`` (JSON-like, None for none); True, or ``nil, err`` kind
        ``Invalid`` (nothing sent) for details over the payload limit (``_payloads.py``),
        which Temporal would refuse out of sight."""
        if self.check is None or not activity.in_activity():
            return super().heartbeat(details)
        if details is not None:
            try:
                converter = activity.payload_converter()
                encode_checked(converter, [details], "activity.heartbeat details")
            except PayloadTooLarge as e:
                return None, self.state.new_error(e.info.kind, e.info.message, False)
        self.check.heartbeat(details)
        return True

    def activity_info(self) -> Any:
        """The attempt's facts as a Lua table (see the ``activity`` module)."""
        if not activity.in_activity():
            return super().activity_info()
        info = activity.info()
        details = list(info.heartbeat_details or ())
        facts = {
            "activity_id": info.activity_id,
            "activity_type": info.activity_type,
            "attempt": info.attempt,
            "workflow_id": info.workflow_id,
            "workflow_run_id": info.workflow_run_id,
            "workflow_type": info.workflow_type,
            "namespace": info.namespace,
            "task_queue": info.task_queue,
            "is_local": info.is_local,
            "heartbeat_details": details[0] if details else None,
            "deadline": self.deadline.unix() if self.deadline is not None else None,
        }
        return self.state.to_lua({k: v for k, v in facts.items() if v is not None}, "info")

    def is_cancelled(self) -> bool:
        return activity.in_activity() and activity.is_cancelled()


#: ``stop_now``'s one-shot hook: put the guard's hook back, raise the stop control error.
_STOP_NOW = """
local sethook, raise, stop, hook, mask, count = ...
return function()
    sethook(hook, mask, count)
    raise(stop, 0)
end
"""

#: Seconds between the heartbeats a call sends on its own (see :func:`stop_check`).
AUTO_HEARTBEAT_S = 1.0


class StopCheck:
    """The stop check of a call (see ``LuaRun``'s ``stop_check``): calling it returns
    "cancelled" once Temporal cancels the activity (its workflow, or the worker stopping),
    "timeout" once its deadline passed, None otherwise; it also sends the call's heartbeats.

    Temporal tells an activity of its cancellation only in the answer to a heartbeat. An
    activity without a heartbeat timeout therefore heartbeats from here, at most once a
    second (and the SDK throttles further), so that cancelling its workflow stops its Lua
    code; those heartbeats repeat the details the code last sent, so they never erase them.
    One with a heartbeat timeout is left alone: its heartbeats must keep meaning that its
    code made progress, which only the code can say (``activity.heartbeat``).
    """

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self.in_activity = activity.in_activity()
        self.auto = self.in_activity and not activity.info().heartbeat_timeout
        self.last = time.monotonic()
        self.details: tuple[Any, ...] = ()

    def heartbeat(self, details: Any = None) -> None:
        """A heartbeat from the code (``activity.heartbeat``): sent (the SDK throttles), and
        the heartbeat timeout counts from now. ``details``: JSON-like, None for none."""
        self.details = () if details is None else (details,)
        self.last = time.monotonic()
        self.deadline.beat()
        if self.in_activity:
            activity.heartbeat(*self.details)

    def __call__(self) -> str | None:
        if self.in_activity:
            if self.auto:
                now = time.monotonic()
                if now - self.last >= AUTO_HEARTBEAT_S:
                    self.last = now
                    activity.heartbeat(*self.details)
            if activity.is_cancelled():
                return "cancelled"
        if self.deadline.passed():
            return "timeout"
        return None


def stop_check(deadline: Deadline) -> StopCheck:
    """The stop check of a call with deadline ``deadline`` (see :class:`StopCheck`)."""
    return StopCheck(deadline)


class ActivityRunner:
    """Runs Lua activity entries; thread-safe (a fresh run per call, in a Lua state no other
    call uses meanwhile).

    Args:
        app: the loaded app.
        entries: activity entries served, keyed by entry id.
        max_memory: bytes one call may allocate (None: no cap).
        instruction_budget: Lua VM instructions one call may run, loading its file included
            (0: none; the activity's timeouts still stop it).
    """

    def __init__(
        self,
        app: App,
        entries: dict[str, LuaCode],
        max_memory: int | None,
        instruction_budget: int = DEFAULT_ACTIVITY_INSTRUCTION_BUDGET,
    ) -> None:
        self.app = app
        self.entries = entries
        self.max_memory = max_memory
        self.instruction_budget = instruction_budget
        # entry id -> what is kept of its file between calls
        self._entry_files: dict[str, _Entry] = {}

    def call(self, entry_id: str, args: list[Any], deadline: Deadline | None = None) -> Any:
        """Run entry ``entry_id`` with JSON-like ``args`` in a fresh run; returns the JSON-like
        result.

        Args:
            deadline: when the attempt ends (None: never); the code is stopped then.

        Raises:
            ApplicationError: the entry is unknown, failed, returned ``nil, err`` or exceeded a
                limit (kind ``ResourceExhausted``) or its deadline (kind ``Timeout``).
            CancelledError: Temporal cancelled the activity.
        """
        stub = stub_for(entry_id, ACTIVITY_CONTEXT.get())  # a `moonflow test` stub
        if stub is not None:
            deadline = deadline or Deadline(None)
            return stub.call(args, deadline, stop_check(deadline))
        code = self.entries.get(entry_id)
        if code is None:
            # Retryable, as Temporal treats an activity type a worker does not register:
            # another deployment (a newer version of the app) may serve it; the caller's
            # retry policy decides how long to keep trying.
            raise ApplicationError(
                f"activity {entry_id!r} is not registered on this worker (task queue "
                f"{activity.info().task_queue if activity.in_activity() else '?'})",
                type=mferrors.NOT_FOUND,
                non_retryable=False,
            )
        deadline = deadline or Deadline(None)
        # The SDK cancels a thread-pool activity by raising CancelledError in its thread,
        # wherever that is (inside Lua, a host method, lupa's own code): it would reach the
        # code as a Lua error, or worse. It is held back until the call has ended; the stop
        # check sees the cancellation and stops the Lua code meanwhile.
        shield = (
            activity.shield_thread_cancel_exception()
            if activity.in_activity()
            else contextlib.nullcontext()
        )
        try:
            with shield:
                result = self._run(entry_id, code, args, deadline)
            time.monotonic()  # a C call: a held-back cancellation is raised here at the latest
        except CancelledError:
            raise self._stopped(entry_id, "cancelled", None, deadline) from None
        return result

    def _run(self, entry_id: str, code: LuaCode, args: list[Any], deadline: Deadline) -> Any:
        """:meth:`call` of a registered entry, once the SDK's thread cancellation is held.

        Two calls into Lua: the run (``LuaRun``), then its entry environment, the entry's
        file loaded and run, its function looked up and called, all in one (see
        :data:`ACTIVITY_CALL`), where a call made step by step took eight or more."""
        check = stop_check(deadline)
        host = ActivityHost(check, deadline)
        vm = _take_vm()
        state = LuaRun(
            "activity",
            host,
            self.app,
            max_memory=self.max_memory,
            instruction_budget=self.instruction_budget,
            stop_check=check,
            vm=vm,
        )
        host.state = state
        res: Any = None
        lua_args: list[Any] = []
        err: Any = None
        try:
            # The arguments first (the state is uncapped between calls, see below, as to_lua
            # builds values); a conversion error is reported once the file has loaded, as a
            # call made step by step did (a load error comes first).
            bad_args: ConversionError | None = None
            try:
                to_lua = vm.convert.to_lua
                lua_args = [to_lua(a, f"argument {i}") for i, a in enumerate(args, 1)]
            except ConversionError as e:
                bad_args, lua_args = e, []
            state.arm_memory()
            entry = self._entry(code)
            try:
                res = _entry_caller(vm)(
                    state.sys,
                    state._guard,
                    _Require(weakref.ref(state), code, ACTIVITY),
                    entry.source(),
                    entry.chunk_name,
                    code.method,
                    bad_args is None,
                    *lua_args,
                )
            except lupa.LuaMemoryError:  # the environment (outside the guarded calls)
                raise RunStopped("memory") from None
            how = res[0]
            if how == "returned":
                packed = {"n": res[1], 1: res[2], 2: res[3]}
                try:
                    outcome = returned(state, packed, f"activity {entry_id} result")
                except lupa.LuaMemoryError:  # converting the result passed the memory cap
                    raise RunStopped("memory") from None
            elif how == "raised" or how == "load":
                _, err, tb, stopped, where = res
                if stopped:
                    raise RunStopped(str(stopped), where or None)
                if err == "not enough memory":
                    raise RunStopped("memory")
                if how == "load":
                    msg = f"error while loading {entry.file_name}: {state.error_text(err)}"
                    raise _load_failed(code, msg)
                outcome = raised(state, err, tb)
            elif how == "compile":
                raise _load_failed(code, str(res[1]))
            elif how == "method":
                raise _load_failed(
                    code, f"method {code.method!r} is not exported by {entry.file_name}"
                )
            else:  # "loaded": the arguments could not be converted
                assert bad_args is not None
                info = ErrorInfo(mferrors.INVALID, str(bad_args), False)
                raise to_application_error(info) from None
            if host.stopped:  # the attempt ended (timeout, cancel) before the code returned
                raise RunStopped(host.stopped)
        except RunStopped as e:
            raise self._stopped(entry_id, e.reason, e.where, deadline) from None
        finally:
            state.close()
            # No Lua value of this call may outlive it here: the state goes back to the pool,
            # and another thread may be using it when this frame is released.
            res = lua_args = err = packed = None
            # Idle, the state needs no cap (the next call arms its own): the next run's
            # set-up and arguments, built uncapped anyway, skip lifting and restoring it.
            vm.disarm_memory()
            _give_vm(vm)
        if outcome.ok:
            return outcome.value
        assert outcome.error is not None
        raise to_application_error(outcome.error, stack=outcome.stack)

    def _entry(self, code: LuaCode) -> _Entry:
        """What is kept of an entry between calls (see :class:`_Entry`)."""
        entry = self._entry_files.get(code.entry.id)
        if entry is None or entry.code is not code:
            root = self.app.root if self.app is not None else None
            entry = self._entry_files[code.entry.id] = _Entry(code, _chunk_name(root, code.source))
        return entry

    def _stopped(
        self, entry_id: str, reason: str, where: str | None, deadline: Deadline
    ) -> BaseException:
        at = f" (at {where})" if where else ""
        if reason == "cancelled" and worker_stopping():
            return shutdown_error(entry_id, at)
        if reason == "cancelled":
            return CancelledError(f"activity {entry_id} was cancelled; its Lua code was stopped")
        if reason == "timeout":
            kind = deadline.timeout_type or "unknown"
            info = ErrorInfo(
                mferrors.TIMEOUT,
                f"{activity_timeout_message(kind)}: {entry_id} ran past it; its Lua code was "
                f"stopped{at}",
                retryable=False,
                details={"timeout_type": kind},
            )
            # As Temporal's own timeout, which this one usually beats to the server: the retry
            # policy retries it, and the workflow sees the last one as not retryable.
            err = to_application_error(info)
            return ApplicationError(err.message, *err.details, type=err.type, non_retryable=False)
        elif reason == "budget":
            info = ErrorInfo(
                RESOURCE_EXHAUSTED,
                f"activity {entry_id} ran more than {self.instruction_budget} Lua instructions"
                f"{at} (worker option lua_activity_instruction_budget; an endless loop?)",
                retryable=False,
            )
        else:
            info = ErrorInfo(
                RESOURCE_EXHAUSTED,
                f"activity {entry_id} exceeded its Lua memory cap ({self.max_memory} bytes, "
                "worker option lua_max_memory)",
                retryable=False,
            )
        return to_application_error(info)


class _Entry:
    """An activity entry's file as calls read it: its chunk name, and its text (the dialect
    erased, ``read_source``) while the file's size and mtime are those it was read at. The
    file is looked at on every call (a changed file is read anew, as ``read_source`` does),
    with ``os.stat`` on a kept path string rather than ``Path.stat`` and a cache lookup."""

    __slots__ = ("code", "chunk_name", "file_name", "_path", "_text")

    def __init__(self, code: LuaCode, chunk_name: str) -> None:
        self.code = code
        self.chunk_name = chunk_name
        self.file_name = code.source.name
        self._path = str(code.source)
        self._text: tuple[int, int, str] | None = None

    def source(self) -> str:
        """The file's text (see :func:`moonflow.lua._vm.read_source`)."""
        st = os.stat(self._path)
        text = self._text
        if text is None or text[0] != st.st_mtime_ns or text[1] != st.st_size:
            text = self._text = (st.st_mtime_ns, st.st_size, read_source(self.code.source))
        return text[2]


#: Idle activity Lua states, the one used last at the end (see :func:`_take_vm`).
_idle_vms: list[LuaVM] = []
#: Idle states kept at most; more (after a burst of concurrent calls) are dropped.
MAX_IDLE_VMS = 64


def _take_vm() -> LuaVM:
    """A Lua state for one activity call, the caller's alone until :func:`_give_vm`.

    The state used last, rather than one per thread: the worker's pool hands calls to its
    threads in turn, so a state per thread was touched once every 16 calls and its memory was
    out of the CPU caches each time (benchmark W2: about a sixth of a noop call's CPU). There
    are as many states as calls ever ran at once (at most the pool's threads), as before.
    """
    try:
        return _idle_vms.pop()  # atomic (the GIL): no lock
    except IndexError:
        return LuaVM(ACTIVITY, max_memory=None)


def _give_vm(vm: LuaVM) -> None:
    """Put a state back once nothing of its call is left in Python (see :func:`_take_vm`)."""
    if len(_idle_vms) < MAX_IDLE_VMS:
        _idle_vms.append(vm)


#: The Lua half of an activity call (see :func:`_entry_caller`).
ACTIVITY_CALL = Path(__file__).parent.parent / "lua" / "activity_call.lua"
_entry_callers: weakref.WeakKeyDictionary[LuaVM, Any] = weakref.WeakKeyDictionary()


def _entry_caller(vm: LuaVM) -> Any:
    """The function of :data:`ACTIVITY_CALL` in ``vm``'s state (made once per state; the
    file is compiled once per process and stripped, as moonflow's own Lua files are, so its
    frames stay out of users' tracebacks)."""
    fn = _entry_callers.get(vm)
    if fn is None:
        raw = vm.sys.raw
        chunk = vm.chunk(ACTIVITY_CALL, vm.module_env)
        fn = chunk(
            vm.new_env, vm.wrap_require, vm._load_code, vm.guarded_call, raw.load, raw.string_dump
        )
        _entry_callers[vm] = fn
    return fn


def _load_failed(code: LuaCode, message: str) -> ApplicationError:
    """The failure of an activity whose entry file did not load (kind ``Internal``, not
    retryable), with the message ``LuaRun.load_code`` gives."""
    e = mferrors.AppError(message, file=code.entry.where(), entry_id=code.entry.id)
    return to_application_error(ErrorInfo(mferrors.INTERNAL, str(e), False))


def shutdown_error(entry_id: str, at: str = "") -> ApplicationError:
    """The failure of an attempt cut short by its worker's shutdown (Lua and Python
    activities): kind ``Unavailable``, retryable, ``details.worker_shutdown = true``. Not the
    activity's failure, so the retry policy runs it again at once on another worker (a
    cancellation would end it for good)."""
    info = ErrorInfo(
        mferrors.UNAVAILABLE,
        f"activity {entry_id} was stopped because its worker shut down (the worker's "
        f"worker_stop_timeout ended while it ran){at}; another worker may run it again",
        retryable=True,
        details={"worker_shutdown": True},
    )
    return to_application_error(info)


def worker_stopping() -> bool:
    """Whether the running activity's cancellation comes from its worker shutting down."""
    if not activity.in_activity():
        return False
    details = activity.cancellation_details()
    if details is not None:
        return details.worker_shutdown and not details.cancel_requested
    return activity.is_worker_shutdown()


def make_activity(runner: ActivityRunner) -> Any:
    """The dynamic activity function for a worker (run in its thread pool)."""

    @activity.defn(dynamic=True)
    def lua_activity(args: Sequence[RawValue]) -> Any:
        converter = activity.payload_converter()
        values = [converter.from_payload(a.payload) for a in args]
        info = activity.info()
        result = runner.call(info.activity_type, values, Deadline(info))
        # A result over the server's payload limit would fail every attempt's completion call
        # out of sight: fail the attempt here with kind Invalid (not retryable) instead.
        try:
            (raw,) = encode_checked(converter, [result], f"activity {info.activity_type} result")
        except PayloadTooLarge as e:
            raise to_application_error(e.info) from None
        return raw

    return lua_activity
