"""The ``activity`` Lua module: what activity code may know of, and tell, its Temporal attempt
(moonflow's own; the reference runtime has no heartbeat API, reference-runtime.md §2.5).

Allowed in activity code (function.lua / library.lua run as an activity) and in processes;
workflow code may not list or ``require`` it (the registry refuses it at load time, ``require``
at run time).

* ``activity.heartbeat(details?)`` -> ``true`` or ``nil, err``: tells Temporal the attempt is
  alive. ``details`` (optional; any JSON-like value) is kept by Temporal and given to the next
  attempt as ``info().heartbeat_details``: save progress there to resume after a retry. An
  activity scheduled with ``activity.heartbeat_timeout`` must call this more often than that
  timeout, or Temporal times the attempt out (kind ``Timeout``, ``details.timeout_type =
  "heartbeat"``) and moonflow stops its Lua code. Heartbeats are also how a cancellation
  reaches the attempt: the answer to one carries it, and the code is then stopped. The Temporal
  SDK sends at most one heartbeat per 80 % of the heartbeat timeout (the last details win), so
  calling it often is cheap. A value that does not convert to JSON, or details over
  Temporal's payload limit (2 MiB encoded, ``worker/_payloads.py``; the server would refuse
  the heartbeat) -> ``nil, err`` kind ``Invalid`` naming the size and the limit, and nothing
  is sent.
* ``activity.info()`` -> ``table`` or ``nil, err``: ``activity_id``, ``activity_type`` (the
  entry id), ``attempt`` (1 for the first), ``workflow_id``, ``workflow_run_id``,
  ``workflow_type``, ``namespace``, ``task_queue``, ``heartbeat_details`` (what the previous
  attempt last sent to ``heartbeat``; nil when it sent none or this is the first attempt),
  ``deadline`` (when this attempt times out, **Unix seconds** as a float, like
  ``time.now():unix()`` with a fraction; it moves forward with each heartbeat when a heartbeat
  timeout is set; nil when no timeout applies) and ``is_local`` (a local activity).
* ``activity.is_cancelled()`` -> boolean: whether Temporal cancelled the attempt (its workflow
  cancelled the call or was cancelled itself, or the worker is stopping). moonflow stops a
  cancelled attempt's Lua code on its own within about a millisecond of Lua (at once inside
  ``time.sleep``), so code rarely sees ``true``; it needs no polling loop.

In a process (``funcs.call`` from a process, ``moonflow run -x``), which is not a Temporal
activity: ``heartbeat`` and ``info`` return ``nil, err`` kind ``NotFound`` (code shared with
activities that ignores the result runs unchanged) and ``is_cancelled`` returns ``false``.
Errors are not retryable.
"""

from __future__ import annotations

from typing import Any

from ..lua._convert import ConversionError


def build(state: Any) -> Any:
    """Build the module table for one Lua state (see the module docstring for the API)."""

    def heartbeat(details: Any = None, *_: Any) -> Any:
        try:
            value = state.to_python(details, "activity.heartbeat details")
        except ConversionError as e:
            return None, state.new_error("Invalid", f"activity.heartbeat: {e}", False)
        return state.host.heartbeat(value)

    def info(*_: Any) -> Any:
        return state.host.activity_info()

    def is_cancelled(*_: Any) -> Any:
        return bool(state.host.is_cancelled())

    return state.module_table(
        "activity", {"heartbeat": heartbeat, "info": info, "is_cancelled": is_cancelled}
    )
