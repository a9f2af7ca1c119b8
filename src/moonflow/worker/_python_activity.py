"""``function.py`` entries as Temporal activities, and as functions processes call.

Each Python activity entry is its own named activity (``activity.defn(name=<entry id>)``) on its
worker, next to the dynamic Lua activity (a named activity wins over the dynamic one), so a
workflow's ``funcs.call("app:charge", ...)`` reaches it exactly as it reaches a Lua entry:
activity type = entry id, the entry's worker's task queue, ``local: true`` for a local
activity. A sync function runs in the worker's activity thread pool, an ``async def`` one on
the worker's event loop.

Values, as for Lua activities (``_activity.py``): each Lua argument is one JSON payload and
reaches the function as one positional argument, decoded by the SDK's JSON converter with no
type hints: ``dict``, ``list``, ``str``, ``int`` (64-bit exact), ``float`` (``1.0`` stays a
float), ``bool``, ``None``; ``{}`` and ``[]`` stay apart. The return value goes back the same
way; one that Lua cannot hold exactly (a set, bytes, an object, an int beyond 64 bits, NaN, a
map with non-string keys) fails the call with kind ``Invalid``, not retryable, naming its path,
and so does one over Temporal's payload limit (``_payloads.py``, 2 MB).

Errors (the error model of Lua activities, lua-api.md §3.8):

* a raised :class:`moonflow.errors.Error` (or any moonflow exception carrying an ``info``,
  e.g. a :class:`~moonflow.errors.WorkflowFailure`) keeps its kind, message, retryable flag
  and details;
* any other exception is kind ``Internal``, not retryable, with ``file:line: Type: message``
  (the innermost line in the app folder) and the Python traceback as the error's stack;
* ``temporalio`` failures (``ApplicationError``, ``CancelledError``...) and cancellation pass
  through unchanged: these are real Temporal activities, so ``temporalio.activity.info()``,
  ``temporalio.activity.heartbeat(...)`` and ``is_cancelled()`` work inside them. Temporal
  delivers a cancel only in a heartbeat's answer: a long Python activity should heartbeat
  (an async one is then cancelled at its next ``await``; a sync one sees ``is_cancelled()``).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import os
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError, FailureError

from .. import errors as mferrors
from ..client._values import check_value
from ..errors import ErrorInfo, UsageError
from ..kinds._python import user_frame
from ..lua._outcome import Outcome
from ..process._stubs import StubCall, stub_for
from ._activity import Deadline, shutdown_error, stop_check, worker_stopping
from ._context import ACTIVITY_CONTEXT
from ._failures import to_application_error
from ._payloads import PAYLOAD_LIMIT, PayloadTooLarge, encode_checked, encoded_size

if TYPE_CHECKING:
    from ..kinds import PythonCode

#: Characters of a Python traceback kept as an error's stack (the end, where it failed).
MAX_STACK = 8000


def error_of(exc: BaseException, code: PythonCode) -> tuple[ErrorInfo, str | None]:
    """``(error, stack)`` the caller sees for an exception the function raised (see the module
    doc): a moonflow error keeps its kind, anything else is ``Internal`` and not retryable."""
    info = getattr(exc, "info", None)
    if isinstance(exc, mferrors.MoonflowError) and isinstance(info, ErrorInfo):
        problem = _not_json(info.details, "details")
        if problem is None:
            return ErrorInfo(info.kind, info.message, info.retryable, info.details), None
        # keep what the caller relies on (kind, retryable); say why the details are gone
        message = f"{info.message} (details dropped: {problem})"
        return ErrorInfo(info.kind, message, info.retryable), None
    at = user_frame(exc.__traceback__, code.entry.root)
    where = f"{at[0]}:{at[1]}: " if at else ""
    stack = "".join(traceback.format_exception(exc))[-MAX_STACK:]
    message = f"{where}{type(exc).__name__}: {exc}"
    return ErrorInfo(mferrors.INTERNAL, message, retryable=False), stack


def _not_json(value: Any, path: str) -> str | None:
    try:
        check_value(value, path, sized=False)  # sizes: encode_checked, to_application_error
    except UsageError as e:
        return str(e)
    return None


def result_error(value: Any, code: PythonCode) -> ErrorInfo | None:
    """The ``Invalid`` error for a return value Lua cannot hold exactly, None when it can."""
    problem = _not_json(value, "result")
    if problem is None:
        return None
    return ErrorInfo(
        mferrors.INVALID,
        f"{code.entry.id} ({code.where}, {code.method}) returned a value moonflow cannot pass "
        f"to Lua: {problem}",
        retryable=False,
    )


def _finish(value: Any, code: PythonCode) -> Any:
    """The activity's result payload, or the ``Invalid`` failure for a value Lua cannot hold
    or one over the payload limit (``_payloads.py``: the server would refuse it out of sight)."""
    problem = result_error(value, code)
    if problem is not None:
        raise to_application_error(problem)
    converter = activity.payload_converter()
    try:
        (raw,) = encode_checked(converter, [value], f"activity {code.entry.id} result")
    except PayloadTooLarge as e:
        raise to_application_error(e.info) from None
    return raw


def _failure(exc: Exception, code: PythonCode) -> BaseException:
    """What the activity raises for an exception of the function."""
    if isinstance(exc, CancelledError) and worker_stopping():
        return shutdown_error(code.entry.id)  # retried at once elsewhere, as a Lua activity
    if isinstance(exc, ApplicationError) and _too_large(exc):
        # sent as it is, the server would drop it out of sight; the shrunk Invalid error of
        # to_application_error says so instead (kind, retryable and message start kept)
        info = ErrorInfo(
            exc.type or mferrors.INTERNAL,
            exc.message,
            retryable=not exc.non_retryable,
            details=list(exc.details),
        )
        return to_application_error(info)
    if isinstance(exc, FailureError):
        return exc  # the user's own Temporal failure (ApplicationError, CancelledError...)
    info, stack = error_of(exc, code)
    return to_application_error(info, stack=stack)


def _too_large(exc: ApplicationError) -> bool:
    """Whether the user's own ApplicationError (message, twice as sent, and details) is over
    the payload limit; details the SDK cannot encode are left for it to say so."""
    try:
        size = encoded_size([exc.message, list(exc.details)])
    except (TypeError, ValueError):
        return False
    return size + len(exc.message.encode("utf-8", "surrogatepass")) > PAYLOAD_LIMIT


def arguments_error(code: PythonCode, args: Sequence[Any]) -> ErrorInfo | None:
    """The ``Invalid`` error (not retryable: a retry sends the same arguments) for a call whose
    arguments the function cannot take, naming the entry, the function's ``file:line`` and what
    it takes; None when they fit. Checked before the call, so a ``TypeError`` raised inside the
    function is still the function's own ``Internal`` error."""
    fn = code.function
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature: let the call decide
        return None
    try:
        sig.bind(*args)
    except TypeError as e:
        target = inspect.unwrap(fn)
        where = ""
        func_code = getattr(target, "__code__", None)
        if func_code is not None:
            path = func_code.co_filename
            root = code.entry.root
            if root and path.startswith(str(root) + os.sep):
                path = os.path.relpath(path, root)
            where = f" ({path}:{func_code.co_firstlineno})"
        positional = [
            p.name
            for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        required = [p for p in positional if sig.parameters[p].default is inspect.Parameter.empty]
        if any(p.kind is p.VAR_POSITIONAL for p in sig.parameters.values()):
            takes = f"at least {len(required)}"
        elif len(required) == len(positional):
            takes = str(len(positional))
        else:
            takes = f"{len(required)} to {len(positional)}"
        names = f" ({', '.join(positional)})" if positional else ""
        plural = "" if takes.split()[-1] == "1" else "s"  # "1", "at least 1": one argument
        return ErrorInfo(
            mferrors.INVALID,
            f"{code.entry.id}: {getattr(target, '__name__', code.method)}{where} takes {takes} "
            f"argument{plural}{names}, called with {len(args)}: {e}",
            retryable=False,
        )
    return None


def _check_heartbeats(entry_id: str) -> None:
    """Make ``temporalio.activity.heartbeat(...)`` in this attempt check its details' size
    first, as Lua's ``activity.heartbeat`` does: details over the payload limit
    (``_payloads.py``) raise a :class:`moonflow.errors.Error` kind ``Invalid``, not retryable,
    naming the size and the limit (uncaught, it fails the activity with that error). Without
    this the SDK's encoder refuses them after the call returned and fails the attempt with an
    empty type, retryable, so the retry policy re-runs it forever.

    The SDK reads the heartbeat callable from the attempt's activity context at each call
    and itself sets that attribute per attempt (a sync function's thread has its own
    context), so wrapping it there reaches exactly this attempt's calls."""
    context = activity._Context.current()  # noqa: SLF001 - see above: the SDK's own hook
    send = context.heartbeat
    if send is None:
        return

    def heartbeat(*details: Any) -> None:
        if details:
            converter = activity.payload_converter()
            try:
                encode_checked(
                    converter, list(details), f"{entry_id}: temporalio.activity.heartbeat details"
                )
            except PayloadTooLarge as e:
                raise mferrors.Error(e.info.message, kind=e.info.kind, retryable=False) from None
        send(*details)

    context.heartbeat = heartbeat


def _stubbed(stub: StubCall, args: list[Any]) -> Any:
    """A test stub's answer (on a thread: a function stub waits for the test's process),
    stopped as a Lua activity's stub is when the attempt times out or is cancelled."""
    deadline = Deadline(activity.info())
    return stub.call(args, deadline, stop_check(deadline))


def make_python_activity(code: PythonCode) -> Any:
    """The named activity (type = entry id) that runs ``code``'s function.

    Test stubs of ``moonflow test`` (``process/_stubs.py``) answer instead, as for Lua
    activities.
    """
    fn = code.function
    entry_id = code.entry.id

    if code.is_async:

        async def run_async(*args: Any) -> Any:
            stub = stub_for(entry_id, ACTIVITY_CONTEXT.get())
            if stub is not None:
                return await asyncio.to_thread(_stubbed, stub, list(args))
            bad = arguments_error(code, args)
            if bad is not None:
                raise to_application_error(bad)
            _check_heartbeats(entry_id)
            try:
                value = await fn(*args)
            except asyncio.CancelledError:
                if worker_stopping():  # the worker's shutdown, not a cancel of the activity
                    raise shutdown_error(entry_id) from None
                raise
            except Exception as exc:  # noqa: BLE001 - every failure becomes an error value
                raise _failure(exc, code) from None
            return _finish(value, code)

        return activity.defn(name=entry_id)(run_async)

    def run(*args: Any) -> Any:
        stub = stub_for(entry_id, ACTIVITY_CONTEXT.get())
        if stub is not None:
            return _stubbed(stub, list(args))
        bad = arguments_error(code, args)
        if bad is not None:
            raise to_application_error(bad)
        _check_heartbeats(entry_id)
        try:
            value = fn(*args)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an error value
            raise _failure(exc, code) from None
        return _finish(value, code)

    return activity.defn(name=entry_id)(run)


def make_python_activities(codes: Sequence[PythonCode]) -> list[Any]:
    """One named activity per ``function.py`` entry (see :func:`make_python_activity`)."""
    return [make_python_activity(code) for code in codes]


async def call_in_process(code: PythonCode, args: list[Any], context: dict[str, Any]) -> Outcome:
    """Run ``code``'s function for ``funcs.call`` from a process (not an activity: in this OS
    process, as function.lua entries called from processes run locally): a sync function in
    the loop's default thread pool, an async one on the loop. ``context`` (the caller's context
    values) is what ``ACTIVITY_CONTEXT`` holds while it runs.

    Returns:
        The value, or the error under the same rules as for activities (``Invalid`` for a value
        Lua cannot hold, a moonflow error's kind, ``Internal`` for other exceptions). A
        ``temporalio`` ``ApplicationError`` keeps its type as the kind.

    Cancelling the awaiting task cancels an async function; a sync one runs to its end in its
    thread (Python cannot stop a thread), its result ignored.
    """
    bad = arguments_error(code, args)
    if bad is not None:
        return Outcome(False, error=bad)
    token = ACTIVITY_CONTEXT.set(context)
    try:
        if code.is_async:
            value = await code.function(*args)
        else:
            ctx = contextvars.copy_context()
            loop = asyncio.get_running_loop()
            value = await loop.run_in_executor(None, lambda: ctx.run(code.function, *args))
    except Exception as exc:  # noqa: BLE001 - every failure becomes an error value
        if isinstance(exc, ApplicationError):
            from ._failures import application_error_info

            return Outcome(False, error=application_error_info(exc))
        info, stack = error_of(exc, code)
        return Outcome(False, error=info, stack=stack)
    finally:
        ACTIVITY_CONTEXT.reset(token)
    problem = result_error(value, code)
    if problem is not None:
        return Outcome(False, error=problem)
    return Outcome(True, value=value)
