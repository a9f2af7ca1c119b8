"""The ``env`` Lua module (activity code only: function.lua, process.lua, library.lua run as an
activity), lua-api.md §2.12.

moonflow's environment is the **OS environment of the worker process** (``os.environ``), read
the way the ``${env:NAME}`` placeholders of entry YAML read it: a key that an ``env.variable``
entry of the app declares (its public name or its entry id) gives that variable's value (the
OS variable of its public name, or its ``env.storage.static`` value), else its ``default:``;
any other key is the OS variable of that name (:mod:`moonflow.registry._variables`).

* ``env.get(key)`` -> ``string, err``: the variable's value (an empty string when it is set
  empty). Not set -> ``nil, err`` kind ``NotFound`` naming the key; ``key`` not a non-empty
  string -> ``nil, err`` kind ``Invalid``.
* ``env.get_all()`` -> ``table, err``: a map of every variable of the worker process, name ->
  value (bytes that are not UTF-8 shown as U+FFFD; ``env.get`` returns them as they are).
  Unlike the reference runtime there is no ``env.get`` permission to filter it: the
  activity code sees everything the worker process was started with.
* ``env.set(key, value)`` -> ``false, err`` kind ``PermissionDenied``, always: the reference
  runtime writes to env storages, which moonflow does not have, and changing the worker
  process's own environment would leak into every other run of that worker. Set variables where
  the worker is started instead.

Workflow code may not list or ``require`` ``env`` (the values differ between workers, so a
replay could take another path): the registry refuses it at load time and ``require`` at run
time. Errors are not retryable.
"""

from __future__ import annotations

import os
from typing import Any

from ._binary import describe


def build(state: Any) -> Any:
    """Build the module table for one Lua state (see the module docstring for the API)."""

    def error(kind: str, message: str) -> tuple[None, Any]:
        return None, state.new_error(kind, message, False)

    def get(key: Any = None, *_: Any) -> Any:
        if isinstance(key, bytes):
            return error("Invalid", "env.get: the key is not valid UTF-8")
        if not isinstance(key, str):
            return error("Invalid", f"env.get: key must be a string, got {describe(key)}")
        if not key or "=" in key or "\0" in key:
            return error("Invalid", f"env.get: {key!r} is not a variable name")
        value = _environment(state).get(key)
        if value is None:
            return error(
                "NotFound", f"env.get: variable {key!r} is not set in the worker's environment"
            )
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # not UTF-8 in the OS: Lua gets the bytes as they are
            return os.fsencode(value), None
        return value, None

    def get_all(*_: Any) -> Any:
        variables = {_text(k): _text(v) for k, v in sorted(_environment(state).items())}
        return state.to_lua(variables), None

    def set_(key: Any = None, value: Any = None, *_: Any) -> Any:
        name = f" {key!r}" if isinstance(key, str) else ""
        return False, state.new_error(
            "PermissionDenied",
            f"env.set{name}: not supported: moonflow reads the worker's OS environment and has "
            "no env storage to write to; set the variable where the worker is started",
            False,
        )

    return state.module_table("env", {"get": get, "get_all": get_all, "set": set_})


def _environment(state: Any) -> Any:
    """The app's environment (declared env variables, then the OS), or the OS environment
    for a state without an app."""
    app = getattr(state, "app", None)
    return getattr(app, "environment", None) or os.environ


def _text(value: str) -> str:
    """An OS string as valid UTF-8 text (bytes that are not UTF-8 become U+FFFD)."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return os.fsencode(value).decode("utf-8", "replace")
