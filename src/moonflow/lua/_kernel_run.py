"""The host half of a run with a kernel: what the workflow driver and the process host share.

A kernel run (``lua/kernel.lua``) is a set of Lua tasks that yield *commands*; its host carries
them out and later *completes* them. The lifecycle, the same for both hosts:

1. **start**: create the run (:class:`~moonflow.lua._run.LuaRun` with a kernel), load the
   entry, ``kernel.start(fn, args)``;
2. **step**: hand the completions (and events, messages) to Lua, ``kernel.run()``, issue the
   commands it returns (each a table with ``op`` and a ``tag``: ``activity``, ``sleep``,
   ``timer``, ``cancel_timer``, ``cancel_activity``, ``signal``, ``child``,
   ``cancel_external``, ``continue_as_new``, ``io_read``);
3. **complete**: when a command finishes, :meth:`complete` (or :meth:`complete_ok`,
   :meth:`complete_error`) queues the values Lua receives; they are built into Lua values at
   the next step, on the thread that owns the state (architecture.md: lupa pitfalls);
4. **outcome**: a step that ends with ``done`` / ``error`` is read by the shared result rules
   (:mod:`moonflow.lua._outcome`), ``budget`` / ``memory`` by :meth:`stopped_outcome`;
5. **close**: the owner releases the run (``LuaRun.close``).

What differs is what waiting means (a Temporal command or an asyncio future) and when a step
runs (a workflow activation, or a loop callback): that stays in each host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import errors as mferrors
from ..errors import ErrorInfo
from ._convert import ConversionError
from ._outcome import Outcome

if TYPE_CHECKING:
    from ._run import LuaRun


class KernelRun:
    """Completion queue and result tables of a kernel run (mixed into its host).

    Subclasses set ``state`` (the run) before the first completion is built, and may override
    :meth:`_completed` to schedule a step when a completion arrives.
    """

    state: LuaRun | None

    def __init__(self) -> None:
        # (tag, make): make() builds the completion's Lua values at the next step
        self._completions: list[tuple[int, Callable[[], list[Any]]]] = []

    # ---- completing commands ----------------------------------------------------------
    def complete(self, tag: int, make: Callable[[], list[Any]] = list) -> None:
        """Command ``tag`` finished; ``make()`` builds the values Lua receives (at the next
        step, on the state's thread; default: none)."""
        self._completions.append((tag, make))
        self._completed()

    def _completed(self) -> None:
        """Hook: a completion was queued (a process schedules its next step)."""

    def complete_ok(self, tag: int, value: Any = None, what: str = "result") -> None:
        """Complete ``tag`` with ``{ok = true, value = <value as Lua>}``; a value Lua cannot
        hold completes it with an ``Invalid`` error naming ``what``."""

        def make() -> list[Any]:
            if value is None:
                return [self.result_table(True)]
            try:
                lua_value = self._state().to_lua(value, what)
            except ConversionError as e:
                return [self.error_table(ErrorInfo(mferrors.INVALID, str(e), False))]
            return [self.result_table(True, value=lua_value)]

        self.complete(tag, make)

    def complete_error(self, tag: int, info: ErrorInfo) -> None:
        """Complete ``tag`` with ``{ok = false, err = <error of info>}``."""
        self.complete(tag, lambda: [self.error_table(info)])

    def take_completions(self) -> list[tuple[int, list[Any]]]:
        """The queued completions with their Lua values built (call on the state's thread,
        without the memory cap: ``state.vm.uncapped()``)."""
        ready, self._completions = self._completions, []
        return [(tag, make()) for tag, make in ready]

    # ---- result tables -----------------------------------------------------------------
    def result_table(self, ok: bool, value: Any = None, err: Any = None) -> Any:
        """``{ok = ok, value = value, err = err}`` as a Lua table (nil fields left out)."""
        # one call into lupa rather than one per field (a completion per activity and timer)
        if err is None:
            fields = {"ok": ok} if value is None else {"ok": ok, "value": value}
        elif value is None:
            fields = {"ok": ok, "err": err}
        else:
            fields = {"ok": ok, "value": value, "err": err}
        return self._state().rt.table_from(fields)

    def error_table(self, info: ErrorInfo) -> Any:
        """``{ok = false, err = <error object of info>}``. Details Lua cannot hold (an integer
        beyond 64 bits from a non-moonflow activity) are dropped, and the message says so,
        rather than failing the step on every replay."""
        state = self._state()
        try:
            err = state.new_error(info.kind, info.message, info.retryable, info.details)
        except ConversionError as e:
            message = f"{info.message} (details dropped: {e})"
            err = state.new_error(info.kind, message, info.retryable, None)
        return self.result_table(False, err=err)

    # ---- how a step ended ----------------------------------------------------------------
    @staticmethod
    def stopped_outcome(status: str, what: str, where: str | None, budget: int) -> Outcome:
        """The outcome of a step the kernel stopped: ``status`` ``"budget"`` (instruction
        budget, ``where`` = ``file:line``) or ``"memory"``. Kind ``ResourceExhausted`` (as an
        activity call over its limits), not retryable."""
        if status == "budget":
            at = f" at {where}" if where else ""
            message = (
                f"{what}: instruction budget exceeded{at} (one step may run at most "
                f"{budget:,} Lua instructions without waiting: let a long loop wait now and "
                'then, e.g. time.sleep("1ms") every few thousand items, so others run too)'
            )
        else:
            message = (
                f"{what}: out of memory (one step may allocate at most the run's memory cap, "
                "64 MiB by default, without waiting)"
            )
        return Outcome(False, error=ErrorInfo(mferrors.RESOURCE_EXHAUSTED, message, False))

    def _state(self) -> LuaRun:
        state = self.state
        if state is None:
            raise RuntimeError("the run has ended")
        return state
