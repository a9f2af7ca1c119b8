"""``function.lua`` / ``process.lua`` entries as Temporal activities.

One dynamic activity per worker dispatches on the activity type (= entry id). Activities run
in the worker's thread pool. **Every call gets a fresh Lua run** in its thread's Lua state (see
``lua/_vm.py``): its own globals, library tables and module instances, with the entry's
file loaded anew (from cached bytecode), so nothing one call leaves behind (a global, a
rewired ``string`` view, a metatable) reaches the next call, whichever workflow makes it. The
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
schedule-to-close, or heartbeat timeout: Lua activities do not heartbeat yet) or Temporal
cancels it, its Lua code is stopped within about a millisecond of Lua (a count hook asks every
10 x 10,000 instructions) and the thread returns to the pool; ``time.sleep`` in activity code
wakes up for both.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
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
from ..process._stubs import stub_for
from ._context import ACTIVITY_CONTEXT
from ._failures import to_application_error

if TYPE_CHECKING:
    from ..kinds import LuaCode
    from ..registry import App

#: Kind of the failure when a call exceeds a limit of the worker's (not retryable: the same
#: input hits the same limit again).
RESOURCE_EXHAUSTED = mferrors.RESOURCE_EXHAUSTED


class Deadline:
    """When the current activity attempt ends for Temporal, on this machine's monotonic clock.

    The earliest of: start-to-close from now, schedule-to-close from the first schedule, and
    the heartbeat timeout from now (Lua activities cannot heartbeat yet, so an attempt with a
    heartbeat timeout times out after it). None: no timeout applies.
    """

    def __init__(self, info: activity.Info | None) -> None:
        self.at: float | None = None
        if info is None:
            return
        now = time.monotonic()
        limits: list[float] = []
        if info.start_to_close_timeout:
            limits.append(info.start_to_close_timeout.total_seconds())
        if info.heartbeat_timeout:
            limits.append(info.heartbeat_timeout.total_seconds())
        if info.schedule_to_close_timeout and info.scheduled_time:
            spent = max(0.0, time.time() - info.scheduled_time.timestamp())
            limits.append(info.schedule_to_close_timeout.total_seconds() - spent)
        if limits:
            self.at = now + max(0.0, min(limits))

    def passed(self) -> bool:
        return self.at is not None and time.monotonic() >= self.at

    def remaining(self) -> float | None:
        """Seconds left, or None without a deadline."""
        return None if self.at is None else max(0.0, self.at - time.monotonic())


class ActivityHost(MachineHost):
    """Host for activity code: the real clock; logs through the activity logger; sleeps
    that end early when the call's stop check says stop (deadline passed, cancelled).

    Args:
        check: the call's stop check (:func:`stop_check`), or None.
        deadline: the attempt's deadline, or None.
    """

    LUA_API = ACTIVITY_API  # the methods of ActivityHostAPI (moonflow.lua._host)

    def __init__(
        self, check: Callable[[], str | None] | None = None, deadline: Deadline | None = None
    ) -> None:
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

    def sleep(self, ns: int) -> None:
        """Block for ``ns`` nanoseconds, or until the stop check says stop (the run's count
        hook then stops the Lua code right after). Waits in slices of at most
        :data:`AUTO_HEARTBEAT_S`, asking the check (which heartbeats) after each."""
        end = time.monotonic() + ns / durations.SECOND
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            step = min(left, AUTO_HEARTBEAT_S)
            if activity.in_activity():
                activity.wait_for_cancelled_sync(step)
            else:
                time.sleep(step)
            if self.check is not None and self.check():
                return


#: Seconds between the heartbeats a call sends on its own (see :func:`stop_check`).
AUTO_HEARTBEAT_S = 1.0


def stop_check(deadline: Deadline) -> Callable[[], str | None]:
    """The stop check of a call (see ``LuaRun``'s ``stop_check``): "cancelled" once Temporal
    cancels the activity, "timeout" once its deadline passed, None otherwise.

    Temporal tells an activity of its cancellation only in the answer to a heartbeat. An
    activity without a heartbeat timeout therefore heartbeats from here, at most once a
    second (and the SDK throttles further), so that cancelling its workflow stops its Lua
    code. One with a heartbeat timeout is left alone: its heartbeats must keep meaning that
    its code made progress, which only the code can say.
    """
    in_activity = activity.in_activity()
    beat = in_activity and not activity.info().heartbeat_timeout
    last = [time.monotonic()]

    def check() -> str | None:
        if in_activity:
            if beat:
                now = time.monotonic()
                if now - last[0] >= AUTO_HEARTBEAT_S:
                    last[0] = now
                    activity.heartbeat()
            if activity.is_cancelled():
                return "cancelled"
        if deadline.passed():
            return "timeout"
        return None

    return check


class ActivityRunner:
    """Runs Lua activity entries; thread-safe (a fresh run per call, in the calling thread's
    Lua state).

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
            raise ApplicationError(
                f"activity {entry_id!r} is not registered on this worker",
                type=mferrors.NOT_FOUND,
                non_retryable=True,
            )
        deadline = deadline or Deadline(None)
        check = stop_check(deadline)
        host = ActivityHost(check, deadline)
        state = LuaRun(
            "activity",
            host,
            self.app,
            max_memory=self.max_memory,
            instruction_budget=self.instruction_budget,
            stop_check=check,
        )
        host.state = state
        try:
            state.arm_memory()
            try:
                fn = state.load_code(code)
            except mferrors.AppError as e:
                raise to_application_error(ErrorInfo(mferrors.INTERNAL, str(e), False)) from None
            try:
                lua_args = [state.to_lua(a, f"argument {i}") for i, a in enumerate(args, 1)]
            except ConversionError as e:
                raise to_application_error(ErrorInfo(mferrors.INVALID, str(e), False)) from None
            try:
                outcome = state.call(fn, lua_args, f"activity {entry_id} result")
            except lupa.LuaMemoryError:  # converting the result passed the memory cap
                raise RunStopped("memory") from None
        except RunStopped as e:
            raise self._stopped(entry_id, e.reason, e.where) from None
        finally:
            state.close()
        if outcome.ok:
            return outcome.value
        assert outcome.error is not None
        raise to_application_error(outcome.error, stack=outcome.stack)

    def _stopped(self, entry_id: str, reason: str, where: str | None) -> BaseException:
        at = f" (at {where})" if where else ""
        if reason == "cancelled":
            return CancelledError(f"activity {entry_id} was cancelled; its Lua code was stopped")
        if reason == "timeout":
            info = ErrorInfo(
                mferrors.TIMEOUT,
                f"activity {entry_id} ran past its timeout; its Lua code was stopped{at}",
                retryable=True,
            )
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


def make_activity(runner: ActivityRunner) -> Any:
    """The dynamic activity function for a worker (run in its thread pool)."""

    @activity.defn(dynamic=True)
    def lua_activity(args: Sequence[RawValue]) -> Any:
        converter = activity.payload_converter()
        values = [converter.from_payload(a.payload) for a in args]
        info = activity.info()
        return runner.call(info.activity_type, values, Deadline(info))

    return lua_activity
