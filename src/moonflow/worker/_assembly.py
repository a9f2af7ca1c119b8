"""Build Temporal SDK workers for an app's ``temporal.worker`` entries.

Each worker entry gets one SDK ``Worker`` on its task queue (client ``tq_prefix`` + ``task_queue``)
with the dynamic Lua workflow and the dynamic Lua activity (plus one named activity per
``function.py`` entry of the worker, ``_python_activity.py``). ``worker_options`` keys of the
reference runtime (lua-api.md §1.6) are mapped onto the SDK's where one exists; moonflow adds
``max_cached_workflows``, ``activity_threads``, ``lua_max_memory`` (bytes one workflow
activation or one activity call may allocate), ``lua_instruction_budget`` (VM instructions per
workflow activation) and ``lua_activity_instruction_budget`` (VM instructions per activity
call; 0: none, its timeouts alone stop it).

``worker_stop_timeout`` (default :data:`DEFAULT_WORKER_STOP_TIMEOUT`, 5 s; ``0s``: none) is how
long a stopping worker (SIGTERM/Ctrl-C to ``moonflow run``) lets running activities finish;
the SDK then cancels the rest, and ``_activity.py`` reports each as a retryable ``Unavailable``
failure so that another worker runs it again at once. ``disable_workflow_worker`` (no
workflows polled) and ``local_activity_worker_only`` (no activity tasks polled) are honoured;
the keys moonflow cannot honour are refused when the app loads (``kinds/_temporal.py``).
"""

from __future__ import annotations

import contextlib
import os
import uuid
import warnings
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from .. import kinds
from .._logging import sdk_runtime
from ..durations import DurationError, option_duration
from ..errors import AppError
from ..lua import (
    DEFAULT_ACTIVITY_INSTRUCTION_BUDGET,
    DEFAULT_INSTRUCTION_BUDGET,
    DEFAULT_MAX_MEMORY,
)
from ._activity import ActivityRunner, make_activity
from ._deliver import deliver_to_process
from ._driver import DriverConfig, IssuedCommand
from ._messages import MessagesInterceptor
from ._python_activity import make_python_activities
from ._workflow import LuaWorkflow, bind_task_queue, unbind_task_queue

if TYPE_CHECKING:
    from temporalio.client import Client

    from ..kinds import LuaCode
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
    "max_heartbeat_throttle_interval": "max_heartbeat_throttle_interval",
    "default_heartbeat_throttle_interval": "default_heartbeat_throttle_interval",
}
_BOOL_OPTS = {
    "disable_eager_activities": "disable_eager_activity_execution",
    "local_activity_worker_only": "no_remote_activities",
}

#: How long a stopping worker waits for its running activities when ``worker_stop_timeout`` is
#: not set (the SDK's own default, 0, would cut every running activity short at once).
DEFAULT_WORKER_STOP_TIMEOUT = timedelta(seconds=5)
#: How often an activity without a heartbeat timeout sends its heartbeats to the server when
#: ``default_heartbeat_throttle_interval`` is not set. The SDK's default, 30 s, is also how
#: long such an activity takes to learn that it was cancelled (the cancellation rides on a
#: heartbeat's answer); 1 s makes ``future:cancel()`` and a workflow cancel stop it in ~1 s.
DEFAULT_HEARTBEAT_THROTTLE = timedelta(seconds=1)
_STR_OPTS = {"identity": "identity", "build_id": "build_id"}


def sdk_worker_kwargs(options: dict[str, Any], where: str) -> dict[str, Any]:
    """Map ``worker_options`` onto ``temporalio.worker.Worker`` keyword arguments.

    Zero for a rate or duration means "SDK default", as in the reference runtime, except
    ``worker_stop_timeout``: unset is :data:`DEFAULT_WORKER_STOP_TIMEOUT`, ``0s`` no wait, and
    ``default_heartbeat_throttle_interval``: unset or zero is :data:`DEFAULT_HEARTBEAT_THROTTLE`
    (1 s, not the SDK's 30 s).

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
            elif key == "worker_stop_timeout" and value is not None:
                stop = option_duration(value, key)  # 0: running activities are cut at once
                out["graceful_shutdown_timeout"] = max(timedelta(0), stop)
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
            elif key == "build_id_env" and value and not options.get("build_id"):
                # deprecated: the name of an OS variable holding the build id
                build_id = os.environ.get(str(value))
                if not build_id:
                    raise ValueError(
                        f"build_id_env: the variable {value!r} is not set in the worker's "
                        "environment: set it, or write build_id: ${env:NAME} instead"
                    )
                out["build_id"] = build_id
    except (TypeError, ValueError, DurationError) as e:
        raise AppError(f"worker_options: {e}", file=where) from None
    out.setdefault("graceful_shutdown_timeout", DEFAULT_WORKER_STOP_TIMEOUT)
    out.setdefault("default_heartbeat_throttle_interval", DEFAULT_HEARTBEAT_THROTTLE)
    return out


def _driver_config(
    options: dict[str, Any], command_log: list[IssuedCommand] | None = None
) -> DriverConfig:
    """The workflow runs' settings; pops the ``lua_*`` workflow keys from ``options``."""
    max_memory = options.pop("lua_max_memory", DEFAULT_MAX_MEMORY)
    budget = int(options.pop("lua_instruction_budget", DEFAULT_INSTRUCTION_BUDGET))
    return DriverConfig(
        max_memory=int(max_memory) if max_memory else None,
        instruction_budget=budget,
        command_log=command_log,
    )


@contextlib.contextmanager
def replayer_options(
    app: App,
    worker_id: str,
    *,
    by_type: Mapping[str, LuaCode] | None = None,
    command_log: list[IssuedCommand] | None = None,
) -> Iterator[dict[str, Any]]:
    """Keyword arguments for ``temporalio.worker.Replayer`` that run the workflows of worker
    entry ``worker_id`` as :func:`build_workers` runs them (the dynamic ``LuaWorkflow``, the
    unsandboxed runner, the messages interceptor, the worker's ``lua_max_memory`` and
    ``lua_instruction_budget``, the namespace of its client).

    The replayer polls its own task queue (``replay-<build id>``, a fresh build id per call);
    the block binds the app to it and unbinds it on exit, so replays never depend on the
    workers this process built before. Use the replayer inside the block::

        with replayer_options(app, "app:worker") as kwargs:
            result = await Replayer(**kwargs).replay_workflow(history)

    Args:
        app: the loaded app.
        worker_id: a ``temporal.worker`` entry id.
        by_type: workflow type -> ``workflow.lua`` entry to run for it, instead of the
            worker's own workflows (replay a history with a changed copy of an entry).
        command_log: a list each replayed run appends an
            :class:`~moonflow.worker._driver.IssuedCommand` to per command it issues, with the
            Lua ``file:line`` of the call; None records nothing.

    Yields:
        The keyword arguments (``runtime``, ``workflows``, ``workflow_runner``,
        ``interceptors``, ``namespace``, ``build_id``).
    """
    spec = app.spec(worker_id)
    options = dict(getattr(spec, "worker_options", None) or {})
    config = _driver_config(options, command_log)
    build_id = f"moonflow-replay-{uuid.uuid4().hex[:12]}"
    task_queue = f"replay-{build_id}"  # the queue the SDK's Replayer polls for this build id
    bind_task_queue(task_queue, app, worker_id, config, by_type=by_type)
    try:
        yield {
            "runtime": sdk_runtime(),  # as the workers' clients: core logs go to Python logging
            "workflows": [LuaWorkflow],
            "workflow_runner": UnsandboxedWorkflowRunner(),
            "interceptors": [MessagesInterceptor()],
            "namespace": app.client_of(worker_id).namespace or "default",
            "build_id": build_id,
        }
    finally:
        unbind_task_queue(task_queue)


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
    # The SDK warns when a cancel arrives for an attempt that already ended. moonflow stops an
    # activity's Lua code at its deadline and reports the timeout itself; the server's own
    # timeout, seen at the next heartbeat, then has nothing left to cancel. Harmless noise.
    warnings.filterwarnings(
        "ignore", message="Cannot find activity to cancel", category=UserWarning
    )
    workers = []
    for spec in app.workers():
        options = dict(spec.worker_options or {})
        options.update(worker_options or {})
        threads = int(options.pop("activity_threads", 0) or 0) or 16
        no_workflows = bool(options.pop("disable_workflow_worker", False))
        config = _driver_config(options)
        activity_budget = int(
            options.pop("lua_activity_instruction_budget", DEFAULT_ACTIVITY_INSTRUCTION_BUDGET)
        )
        kwargs = sdk_worker_kwargs(options, spec.entry.where())
        entries = {c.entry.id: c for c in app.activities(spec.entry.id)}
        runner = ActivityRunner(app, entries, config.max_memory, activity_budget)
        task_queue = app.task_queue(spec.entry.id)
        bind_task_queue(task_queue, app, spec.entry.id, config)
        workers.append(
            Worker(
                clients[spec.client],
                task_queue=task_queue,
                workflows=[] if no_workflows else [LuaWorkflow],
                activities=[
                    make_activity(runner),
                    deliver_to_process,
                    # function.py entries: one named activity each (they win over the dynamic one)
                    *make_python_activities(kinds.python_activities(app, spec.entry.id)),
                ],
                activity_executor=ThreadPoolExecutor(
                    max_workers=threads, thread_name_prefix=f"moonflow-{spec.entry.name}"
                ),
                workflow_runner=UnsandboxedWorkflowRunner(),
                interceptors=[MessagesInterceptor()],
                **kwargs,
            )
        )
    return workers
