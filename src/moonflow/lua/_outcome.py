"""How a run ends: the one set of result rules for workflow runs and activity calls.

The seed and the reference runtime (lua-api.md §3.8) give Lua code three ways to end:

* ``return value`` (or nothing): success with that value (``nil`` when nothing);
* ``return nil, err`` with ``err`` an error object or a string: failure with err's kind,
  message, retryable flag and details. A plain string carries no kind (``Internal``) and is
  not retryable, in workflows and activities alike; so does any other non-nil ``err`` after a
  ``nil`` (``nil, 42``, ``nil, {code = 1}``: its text, a table as JSON);
* an uncaught Lua error: an error object raised with ``error(e)`` keeps its kind; any other
  value is kind ``Internal``, not retryable, with the Lua ``file:line`` message and traceback.

The workflow driver, the activity runner and (next) the process host all read a finished run
through :func:`returned` / :func:`raised`, so the rules cannot drift apart between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import errors as mferrors
from ..errors import ErrorInfo
from ._convert import ConversionError


@dataclass
class Outcome:
    """What a finished run produced.

    Attributes:
        ok: True when the code returned a value (``value``), False when it failed (``error``).
        value: the result as a JSON-like Python value (None for ``nil`` / no value).
        error: the failure (kind, message, retryable, details) when not ok.
        stack: the Lua traceback of an uncaught error, None otherwise.
    """

    ok: bool
    value: Any = None
    error: ErrorInfo | None = None
    stack: str | None = None


def returned(state: Any, packed: Any, what: str) -> Outcome:
    """The outcome of code that returned normally.

    Args:
        state: the run's :class:`~moonflow.lua.LuaRun`.
        packed: the returned values as a Lua table ``{v1, v2, ..., n = count}``.
        what: names the value in messages (``"workflow result"``, ``"activity result"``).

    A result Lua cannot hand to JSON (a function, a cyclic table) is an ``Internal``
    failure that names the path of the bad value; it is not retryable.
    """
    n = packed["n"]
    if n >= 2 and packed[2] is not None:
        err = packed[2]
        if isinstance(err, str) or state.is_error(err) or packed[1] is None:
            info = state.error_info(err)
            if not state.is_error(err):
                # a plain message (or `nil, 42`, `nil, {...}`): no kind, and the same input
                # fails the same way; never a success that drops the error
                info.retryable = False
            return Outcome(False, error=info)
    if n == 0:
        return Outcome(True)
    try:
        return Outcome(True, value=state.to_python(packed[1], "result"))
    except ConversionError as e:
        message = f"{what} cannot be encoded: {e}"
        return Outcome(False, error=ErrorInfo(mferrors.INTERNAL, message, retryable=False))


def raised(state: Any, err: Any, traceback: Any) -> Outcome:
    """The outcome of code that raised ``err`` (an uncaught Lua error) with ``traceback``."""
    info = state.error_info(err)
    if not state.is_error(err):
        info.kind = mferrors.INTERNAL
        info.retryable = False
    return Outcome(False, error=info, stack=str(traceback) if traceback else None)
