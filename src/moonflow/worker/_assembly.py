"""Build Temporal SDK workers for an app's ``temporal.worker`` entries.

Each worker entry gets one SDK ``Worker`` on its task queue (client ``tq_prefix`` + ``task_queue``)
with the dynamic Lua workflow and the dynamic Lua activity. ``worker_options`` keys of the
reference runtime (lua-api.md §1.6) are mapped onto the SDK's where one exists; moonflow adds
``max_cached_workflows``, ``activity_threads``, ``lua_max_memory`` (bytes one workflow
activation or one activity call may allocate), ``lua_instruction_budget`` (VM instructions per
workflow activation) and ``lua_activity_instruction_budget`` (VM instructions per activity
call; 0: none, its timeouts alone stop it).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from ..durations import DurationError, option_duration
from ..errors import AppError
from ..lua import (
    DEFAULT_ACTIVITY_INSTRUCTION_BUDGET,
    DEFAULT_INSTRUCTION_BUDGET,
    DEFAULT_MAX_MEMORY,
)
from ._activity import ActivityRunner, make_activity
from ._deliver import deliver_to_process
from ._driver import DriverConfig
from ._messages import MessagesInterceptor
from ._workflow import LuaWorkflow, bind_task_queue

if TYPE_CHECKING:
    from temporalio.client import Client

    from ..registry import App

# reference-runtime key -> (SDK keyword, converter)
_INT_OPTS = {
    "max_concurrent_activity_execution_size": "max_concurrent_activities",
    "max_concurrent_workflow_task_execution_size": "max_concurrent_workflow_tasks",
    "max_concurrent_local_activity_execution_size": "max_concurrent_local_activities",
    "max_concurrent_activity_task_pollers": "max_concurrent_activity_task_polls",
    "max_concurrent_workflow_task_pollers": "max_concurrent_workflow_task_polls",
    "workflow_task_poller_count": "max_concurrent_workflow_task_polls",
    "activity_task_poller_count": "max_concurrent_activity_task_polls",
    "max_cached_workflows": "max_cached_workflows",
}
_RATE_OPTS = {
    "worker_activities_per_second": "max_activities_per_second",
    "task_queue_activities_per_second": "max_task_queue_activities_per_second",
}
_DURATION_OPTS = {
    "sticky_schedule_to_start_timeout": "sticky_queue_schedule_to_start_timeout",
    "worker_stop_timeout": "graceful_shutdown_timeout",
    "max_heartbeat_throttle_interval": "max_heartbeat_throttle_interval",
    "default_heartbeat_throttle_interval": "default_heartbeat_throttle_interval",
}
_BOOL_OPTS = {
    "disable_eager_activities": "disable_eager_activity_execution",
}
_STR_OPTS = {"identity": "identity", "build_id": "build_id"}


def sdk_worker_kwargs(options: dict[str, Any], where: str) -> dict[str, Any]:
    """Map ``worker_options`` onto ``temporalio.worker.Worker`` keyword arguments.

    Zero for a rate or duration means "SDK default", as in the reference runtime.

    Raises:
        AppError: a value of the wrong type (the key set itself is validated at load time).
    """
    out: dict[str, Any] = {}
    try:
        for key, value in options.items():
            if key == "max_cached_workflows" and value is not None:
                out["max_cached_workflows"] = int(value)  # 0 is meaningful: no cache
            elif key in _INT_OPTS and value:
                out[_INT_OPTS[key]] = int(value)
            elif key in _RATE_OPTS and value:
                out[_RATE_OPTS[key]] = float(value)
            elif key in _DURATION_OPTS and value:
                d = option_duration(value, key)
                if d > timedelta(0):
                    out[_DURATION_OPTS[key]] = d
            elif key in _BOOL_OPTS:
                out[_BOOL_OPTS[key]] = bool(value)
            elif key in _STR_OPTS and value:
                out[_STR_OPTS[key]] = str(value)
            elif key == "use_versioning":
                out["use_worker_versioning"] = bool(value)
    except (TypeError, ValueError, DurationError) as e:
        raise AppError(f"worker_options: {e}", file=where) from None
    return out


def build_workers(
    app: App, clients: dict[str, Client], *, worker_options: dict[str, Any] | None = None
) -> list[Worker]:
    """One SDK worker per ``temporal.worker`` entry of the app.

    Args:
        app: the loaded app.
        clients: connected clients keyed by ``temporal.client`` entry id.
        worker_options: overrides applied on top of every worker entry's ``worker_options``
            (e.g. ``{"max_cached_workflows": 0}`` to replay every workflow task from history).

    Returns:
        Workers, not yet started (``async with worker:`` or ``await worker.run()``).
    """
    workers = []
    for spec in app.workers():
        options = dict(spec.worker_options or {})
        options.update(worker_options or {})
        threads = int(options.pop("activity_threads", 0) or 0) or 16
        max_memory = options.pop("lua_max_memory", DEFAULT_MAX_MEMORY)
        budget = int(options.pop("lua_instruction_budget", DEFAULT_INSTRUCTION_BUDGET))
        activity_budget = int(
            options.pop("lua_activity_instruction_budget", DEFAULT_ACTIVITY_INSTRUCTION_BUDGET)
        )
        kwargs = sdk_worker_kwargs(options, spec.entry.where())
        config = DriverConfig(
            max_memory=int(max_memory) if max_memory else None, instruction_budget=budget
        )
        entries = {c.entry.id: c for c in app.activities(spec.entry.id)}
        runner = ActivityRunner(app, entries, config.max_memory, activity_budget)
        task_queue = app.task_queue(spec.entry.id)
        bind_task_queue(task_queue, app, spec.entry.id, config)
        workers.append(
            Worker(
                clients[spec.client],
                task_queue=task_queue,
                workflows=[LuaWorkflow],
                activities=[make_activity(runner), deliver_to_process],
                activity_executor=ThreadPoolExecutor(
                    max_workers=threads, thread_name_prefix=f"moonflow-{spec.entry.name}"
                ),
                workflow_runner=UnsandboxedWorkflowRunner(),
                interceptors=[MessagesInterceptor()],
                **kwargs,
            )
        )
    return workers
