"""Activity stubs of Lua tests (``test.mock_activity``, run by ``moonflow test``).

How a stub reaches the activities of *one* test, and only those:

1. ``moonflow test`` spawns each test entry as a process with the context value
   :data:`TEST_KEY` set to a fresh token, and registers a :class:`TestStubs` for that token
   (:func:`open_test`). Context values travel (``worker/_context.py``, the ``wippy-context``
   header) into every workflow the process starts, their children and their activities.
2. ``test.mock_activity(id, stub)`` (``modules/_test.py``), called by the test process itself,
   records the stub under the process's token: plain data for ``{result = value}`` and
   ``{error = {...}}``, the Lua function itself for a function stub.
3. The activity runner (``worker/_activity.py``, a pool thread of a worker in this OS process)
   asks :func:`stub_for` before it runs a Lua activity: the call's context names the token, the
   token the stubs. A fixed result is returned and a fixed error raised as is; a function stub
   is run **inside the test's process** (only the loop thread may touch its Lua run): the
   runner thread submits a request to the loop, which starts a new kernel task in the test's
   run (:meth:`~moonflow.process.Process.run_in_step`) calling the function under ``pcall``;
   the task's end resolves a future the runner thread waits on (checking the activity's
   deadline and cancellation while it waits).

Tests running at the same time have different tokens, so one test's stubs never touch
another's workflows. Activities of workflows started by anything else carry no token.
"""

from __future__ import annotations

import concurrent.futures
import threading
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import errors as mferrors
from ..errors import ErrorInfo

if TYPE_CHECKING:
    from ..lua._outcome import Outcome
    from ._process import Process

#: The context value naming a test's stubs (a token; absent outside ``moonflow test``).
TEST_KEY = "moonflow.test"

#: Seconds between two looks at the activity's deadline / cancellation while a stub runs.
POLL_S = 0.2

_LOCK = threading.Lock()
_TESTS: dict[str, TestStubs] = {}


@dataclass
class Stub:
    """One stubbed activity.

    Attributes:
        mode: ``"result"`` (return ``value``), ``"error"`` (fail with ``error``),
            ``"function"`` (call the test's Lua function ``fn``) or ``"python"`` (call
            ``fn(args)``, a Python callable of :mod:`moonflow.testing`, on the runner's thread).
    """

    mode: str
    value: Any = None
    error: ErrorInfo | None = None
    fn: Any = None  # a Lua function of the test's run (touch on the loop thread only)


@dataclass
class TestStubs:
    """The stubs of one test process (keyed by activity entry id)."""

    __test__ = False  # not a pytest class

    token: str
    pid: str | None = None
    process: Process | None = None
    stubs: dict[str, Stub] = field(default_factory=dict)
    runner: Any = None  # the module's Lua run_stub function (loop thread only)
    pending: set[concurrent.futures.Future[Outcome]] = field(default_factory=set)
    calls: dict[str, int] = field(default_factory=dict)

    def set(self, activity_id: str, stub: Stub) -> None:
        with _LOCK:
            self.stubs[activity_id] = stub

    def remove(self, activity_id: str) -> bool:
        with _LOCK:
            return self.stubs.pop(activity_id, None) is not None

    def release(self) -> None:
        """Drop every Lua reference (the run is closing) and fail calls still waiting."""
        with _LOCK:
            self.stubs.clear()
            pending, self.pending = set(self.pending), set()
        self.runner = None
        for fut in pending:
            if not fut.done():
                fut.set_exception(_Ended())


class _Ended(Exception):
    """The test's process ended while one of its stubs ran."""


def open_test() -> TestStubs:
    """Register the stubs of a new test; spawn it with ``context={TEST_KEY: stubs.token}``,
    then set ``stubs.pid`` / ``stubs.process``."""
    stubs = TestStubs(uuid.uuid4().hex)
    with _LOCK:
        _TESTS[stubs.token] = stubs
    return stubs


def close_test(stubs: TestStubs) -> None:
    """Forget a test's stubs (after its process ended)."""
    with _LOCK:
        _TESTS.pop(stubs.token, None)
    stubs.release()


def stubs_of(token: Any) -> TestStubs | None:
    """The registered stubs for a context token, or None."""
    if not isinstance(token, str):
        return None
    with _LOCK:
        return _TESTS.get(token)


def stub_for(activity_id: str, context: dict[str, Any] | None) -> StubCall | None:
    """What to run instead of activity ``activity_id`` for a call with ``context``: None when
    the call belongs to no test, or its test did not stub that activity. Thread-safe."""
    if not context:
        return None
    stubs = stubs_of(context.get(TEST_KEY))
    if stubs is None:
        return None
    with _LOCK:
        stub = stubs.stubs.get(activity_id)
        if stub is None:
            return None
        stubs.calls[activity_id] = stubs.calls.get(activity_id, 0) + 1
    return StubCall(stubs, activity_id, stub)


@dataclass
class StubCall:
    """One activity call answered by a stub (made by :func:`stub_for`)."""

    stubs: TestStubs
    activity_id: str
    stub: Stub

    def call(self, args: list[Any], deadline: Any = None, check: Any = None) -> Any:
        """The activity's result (on the runner's thread).

        Args:
            args: the activity's arguments (JSON-like values).
            deadline: the attempt's ``Deadline`` (``worker/_activity.py``) or None.
            check: the attempt's stop check (``"cancelled"`` / ``"timeout"`` / None).

        Raises:
            ApplicationError: the stub's error, or the function stub's failure.
            CancelledError: the activity was cancelled while the function stub ran.
        """
        from temporalio.exceptions import ApplicationError, CancelledError

        from ..worker._failures import to_application_error

        stub = self.stub
        if stub.mode == "result":
            return stub.value
        if stub.mode == "error":
            assert stub.error is not None
            raise to_application_error(stub.error)
        if stub.mode == "python":
            return stub.fn(args)
        future = self._submit(args)
        what = f"stub of {self.activity_id}"
        while True:
            try:
                outcome = future.result(timeout=POLL_S)
                break
            except concurrent.futures.TimeoutError:
                reason = check() if check is not None else None
                if reason is None and deadline is not None and deadline.passed():
                    reason = "timeout"
                if reason == "cancelled":
                    raise CancelledError(f"activity {self.activity_id} was cancelled") from None
                if reason == "timeout":
                    raise to_application_error(
                        ErrorInfo(mferrors.TIMEOUT, f"{what} ran past the activity's timeout")
                    ) from None
            except _Ended:
                raise ApplicationError(
                    f"{what}: the test ended while the stub ran",
                    type=mferrors.CANCELED,
                    non_retryable=True,
                ) from None
        if outcome.ok:
            return outcome.value
        assert outcome.error is not None
        raise to_application_error(outcome.error, stack=outcome.stack)

    def _submit(self, args: list[Any]) -> concurrent.futures.Future[Outcome]:
        """Ask the test's process (on its loop) to run the function stub with ``args``."""
        stubs = self.stubs
        process = stubs.process
        future: concurrent.futures.Future[Outcome] = concurrent.futures.Future()
        if process is None or process.closed:
            future.set_exception(_Ended())
            return future
        with _LOCK:
            stubs.pending.add(future)
        future.add_done_callback(lambda f: _discard(stubs, f))
        fn = self.stub.fn
        what = f"stub of {self.activity_id}"

        def start(state: Any) -> None:  # on the loop thread, in the process's step
            from ..lua._outcome import Outcome, raised, returned

            if future.done():
                return
            runner = stubs.runner
            if runner is None or fn is None:
                future.set_exception(_Ended())
                return

            def done(ok: Any, values: Any) -> None:
                if future.done():
                    return
                try:
                    if ok:
                        outcome = returned(state, values, f"{what} result")
                    else:
                        outcome = raised(state, values, None)
                except Exception as exc:  # noqa: BLE001 - the stub's values, not ours
                    outcome = Outcome(False, error=ErrorInfo(mferrors.INTERNAL, f"{what}: {exc}"))
                future.set_result(outcome)

            try:
                lua_args = state.pack([state.to_lua(a, f"{what} argument") for a in args])
            except Exception as exc:  # noqa: BLE001 - a value Lua cannot hold
                future.set_result(
                    Outcome(False, error=ErrorInfo(mferrors.INVALID, f"{what}: {exc}", False))
                )
                return
            state.kernel.spawn(runner, fn, lua_args, state.lua_function(done, "test stub"))

        process.node.loop.call_soon_threadsafe(_start_in, process, start, future)
        return future


def _start_in(process: Process, start: Any, future: concurrent.futures.Future[Outcome]) -> None:
    if process.closed:
        if not future.done():
            future.set_exception(_Ended())
        return
    process.run_in_step(start)


def _discard(stubs: TestStubs, future: concurrent.futures.Future[Outcome]) -> None:
    with _LOCK:
        stubs.pending.discard(future)
