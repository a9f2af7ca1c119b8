"""``function.lua`` / ``process.lua`` entries as Temporal activities.

One dynamic activity per worker dispatches on the activity type (= entry id). Activities run
in the worker's thread pool; each thread keeps one Lua state per entry and reuses it across
calls (so module tables and compiled code are built once). The entry's function gets one Lua
argument per payload and returns ``value`` or ``nil, err``:

* ``value`` -> the activity result (one JSON payload);
* ``nil, err`` -> an ApplicationError with err's kind, message, retryable flag and details;
* an uncaught Lua error -> kind ``Internal``, not retryable (lua-api.md §3.8), with the Lua
  ``file:line`` message.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from .. import errors as mferrors
from ..errors import ErrorInfo
from ..lua import ConversionError, LuaState, MachineHost
from ._failures import to_application_error

if TYPE_CHECKING:
    from ..kinds import LuaCode
    from ..registry import App


class ActivityHost(MachineHost):
    """Host for activity code: the real clock; logs through the activity logger."""

    def log(self, level: str, message: str, fields: Any = None) -> None:
        try:
            where = activity.info().activity_type
        except RuntimeError:  # not inside an activity (state being built)
            where = "activity"
        super().log(level, f"[{where}] {message}", fields)


class ActivityRunner:
    """Runs Lua activity entries; thread-safe (one Lua state per entry per thread).

    Args:
        app: the loaded app.
        entries: activity entries served, keyed by entry id.
        max_memory: byte cap per Lua state.
    """

    def __init__(self, app: App, entries: dict[str, LuaCode], max_memory: int | None) -> None:
        self.app = app
        self.entries = entries
        self.max_memory = max_memory
        self._local = threading.local()

    def _state_for(self, code: LuaCode) -> tuple[LuaState, Any]:
        cache = getattr(self._local, "states", None)
        if cache is None:
            cache = self._local.states = {}
        hit = cache.get(code.entry.id)
        if hit is None:
            host = ActivityHost()
            state = LuaState("activity", host, self.app, max_memory=self.max_memory)
            host.state = state
            fn = state.load_code(code)
            hit = cache[code.entry.id] = (state, fn)
        return hit

    def call(self, entry_id: str, args: list[Any]) -> Any:
        """Run entry ``entry_id`` with JSON-like ``args``; returns the JSON-like result.

        Raises:
            ApplicationError: the entry is unknown, failed, or returned ``nil, err``.
        """
        code = self.entries.get(entry_id)
        if code is None:
            raise ApplicationError(
                f"activity {entry_id!r} is not registered on this worker",
                type=mferrors.NOT_FOUND,
                non_retryable=True,
            )
        try:
            state, fn = self._state_for(code)
        except mferrors.AppError as e:
            raise to_application_error(ErrorInfo(mferrors.INTERNAL, str(e), False)) from None
        state.runtime.reset_cap()  # the previous call's arguments raised it
        try:
            lua_args = [state.to_lua(a, f"argument {i}") for i, a in enumerate(args, 1)]
        except ConversionError as e:
            raise to_application_error(ErrorInfo(mferrors.INVALID, str(e), False)) from None
        ok, results, tb = state.pcall(fn, *lua_args)
        if not ok:
            if state.is_error(results):
                raise to_application_error(state.error_info(results), stack=tb)
            info = ErrorInfo(mferrors.INTERNAL, state.error_text(results), retryable=False)
            raise to_application_error(info, stack=tb)
        if len(results) >= 2 and results[1] is not None:
            err = results[1]
            if isinstance(err, str) or state.is_error(err):
                raise to_application_error(state.error_info(err))
        value = results[0] if results else None
        try:
            return state.to_python(value, "result")
        except ConversionError as e:
            raise to_application_error(
                ErrorInfo(mferrors.INVALID, f"activity {entry_id} result: {e}", False)
            ) from None


def make_activity(runner: ActivityRunner) -> Any:
    """The dynamic activity function for a worker (run in its thread pool)."""

    @activity.defn(dynamic=True)
    def lua_activity(args: Sequence[RawValue]) -> Any:
        converter = activity.payload_converter()
        values = [converter.from_payload(a.payload) for a in args]
        return runner.call(activity.info().activity_type, values)

    return lua_activity
