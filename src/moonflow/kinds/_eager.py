"""What in an app's options keeps Temporal from dispatching activities eagerly (issue 18).

With eager activity dispatch, the server hands an activity the workflow schedules back to the
worker in the answer to the workflow task, instead of putting it on the task queue for a poller.
On a server with the default ``history.transferProcessorMaxPollRPS`` (20), every queued task
waits up to 50 ms: a one-activity workflow then takes ~100 ms instead of ~20 ms (measured with
the bundled dev server; the servers moonflow starts poll faster, where the cost is smaller).

The Temporal SDK dispatches an activity eagerly only when the worker running the workflow also
polls the activity's task queue, eager execution is not disabled, and no task-queue rate limit
is set (a per-worker limit makes it refuse some). ``moonflow check`` prints one warning per
option that gets in the way (:func:`eager_dispatch_warnings`); moonflow itself sets none of them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from moonflow.errors import AppError

if TYPE_CHECKING:
    from moonflow.registry import App

#: worker_options keys that turn eager activity dispatch off (or thin it out), with why.
_WORKER_OPTIONS: dict[str, str] = {
    "disable_eager_activities": "turns eager activity dispatch off",
    "task_queue_activities_per_second": (
        "is a task-queue rate limit, which turns eager activity dispatch off"
    ),
    "worker_activities_per_second": (
        "is a per-worker rate limit, which makes the SDK refuse eager dispatch of some activities"
    ),
}

_COST = (
    "each such activity waits for the server to queue it (up to 50 ms more per activity on a "
    "server with the default history.transferProcessorMaxPollRPS)"
)


def _is_set(value: Any) -> bool:
    """Whether an option value differs from "not set" (None, 0, false, "", "0s")."""
    if value is None or value is False or value == 0 or value == "":
        return False
    return not (isinstance(value, str) and value.strip() in ("0", "0s", "0ms", "false"))


def eager_dispatch_warnings(app: App) -> list[str]:
    """One ``warning: FILE:LINE: ENTRY: ...`` line per option of ``app`` that keeps activities
    from being dispatched eagerly (what, where, how to fix), as ``moonflow check`` prints them.

    Found statically: a ``temporal.worker`` whose ``worker_options`` set
    ``disable_eager_activities``, ``task_queue_activities_per_second`` or
    ``worker_activities_per_second``; and a ``workflow.lua`` entry whose own source file names
    (as a string literal, e.g. ``funcs.call("app:charge", ...)``) a non-local activity entry
    whose worker polls another task queue than the workflow's worker. Calls built at run time
    and per-call ``task_queue`` options are not seen.
    """
    lines: list[str] = []
    for worker in app.workers():
        entry = worker.entry
        for key, why in _WORKER_OPTIONS.items():
            value = worker.worker_options.get(key)
            if not _is_set(value):
                continue
            path = f"worker_options.{key}"
            lines.append(
                f"warning: {entry.relfile}:{entry.line_of(path)}: {entry.id}: {path} = "
                f"{json.dumps(value)} {why}: {_COST}; remove it unless the limit is meant"
            )
    # every activity entry, whatever its kind (Lua or Python code), that runs remotely
    activities: dict[str, Any] = {}
    for eid in app.entries:
        try:
            spec = app.spec(eid)
        except (KeyError, AppError):  # an entry of a kind moonflow skips
            continue
        if getattr(spec, "activity_worker", None) and not getattr(spec, "activity_local", False):
            activities[eid] = spec
    for flow in app.workflows():
        if not flow.workflow_worker or not activities:
            continue
        queue = app.task_queue(flow.workflow_worker)
        for activity_id, line in _named_ids(flow.source, activities):
            target = activities[activity_id].activity_worker
            other = app.task_queue(target)
            if other == queue:
                continue
            lines.append(
                f"warning: {flow.chunkname}:{line}: {flow.entry.id}: calls activity "
                f"{activity_id}, which runs on task queue {other!r} (worker {target}), not on "
                f"the workflow's {queue!r} (worker {flow.workflow_worker}): {_COST}; give "
                f"{activity_id} meta.temporal.activity.worker {flow.workflow_worker}, or "
                "local: true, unless the other queue is meant"
            )
    return lines


def _named_ids(source: Any, ids: dict[str, Any]) -> list[tuple[str, int]]:
    """``(id, line)`` for each string literal of the Lua file ``source`` that is one of
    ``ids`` (first mention of each); nothing when the file does not read or lex."""
    from moonflow.determinism._lexer import STRING, tokenize

    try:
        tokens = tokenize(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return []  # the loader reports unreadable or broken files itself
    seen: dict[str, int] = {}
    for token in tokens:
        if token.kind == STRING and token.value in ids and token.value not in seen:
            seen[token.value] = token.line
    return list(seen.items())
