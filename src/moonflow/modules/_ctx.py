"""The ``ctx`` Lua module (workflows and activities), lua-api.md §2.6, reference-runtime.md §2.13.

* ``ctx.get(key)`` -> ``value, nil``, or ``nil, err`` of kind ``NotFound`` naming the key (kind
  ``Invalid`` when ``key`` is not a string);
* ``ctx.all()`` -> a map table of every value (empty when there are none).

The values are the context the code runs with: in a workflow, what its starter set
(``process.with_context{...}`` on a spawn builder; a parent's context plus its own
``:with_context``); in an activity, the calling workflow's context plus the call's own
``funcs.new():with_context{...}`` values. How they travel: :mod:`moonflow.worker._context`.
Values are JSON-like (strings, numbers, booleans, arrays and maps); they are the same on every
replay (they come from the run's start).
"""

from __future__ import annotations

from typing import Any

from ._binary import describe


def build(state: Any) -> Any:
    """Build the module table for one Lua state (see the module docstring for the API)."""

    def values() -> dict[str, Any]:
        context = getattr(state.host, "context", None)
        return dict(context()) if context is not None else {}

    def get(key: Any = None, *_: Any) -> Any:
        if not isinstance(key, str) or not key:
            return None, state.new_error(
                "Invalid", f"ctx.get: key must be a non-empty string, got {describe(key)}", False
            )
        found = values()
        if key not in found:
            return None, state.new_error("NotFound", f"ctx.get: no context value {key!r}", False)
        return state.to_lua(found[key]), None

    def all_(*_: Any) -> Any:
        return state.to_lua(values()), None

    return state.module_table("ctx", {"get": get, "all": all_})
