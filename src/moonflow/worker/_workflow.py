"""The one dynamic Temporal workflow that serves every ``workflow.lua`` entry.

Workflow type = entry id (or ``meta.temporal.workflow.name``); the run is handed to a
:class:`~moonflow.worker._driver.WorkflowDriver`. The class runs unsandboxed: Temporal's Python
sandbox knows nothing of Lua, and determinism of Lua code is the Lua sandbox's job.

The SDK requires workflow classes at module level, so the class finds its app through a
binding keyed by task queue, registered by :func:`bind_task_queue` when a worker is built (one
app per task queue per process; the latest binding wins).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from ._driver import DriverConfig, WorkflowDriver, _client_facts
from ._messages import Mailbox

if TYPE_CHECKING:
    from ..kinds import LuaCode
    from ..registry import App


@dataclass(frozen=True)
class _Binding:
    app: App
    worker_id: str
    config: DriverConfig
    by_type: dict[str, LuaCode]


_BINDINGS: dict[str, _Binding] = {}


def bind_task_queue(
    task_queue: str,
    app: App,
    worker_id: str,
    config: DriverConfig,
    *,
    by_type: Mapping[str, LuaCode] | None = None,
) -> None:
    """Serve the workflows of worker entry ``worker_id`` on ``task_queue`` (or those of
    ``by_type``: workflow type -> entry, for replays of a changed entry)."""
    if by_type is None:
        by_type = {app.workflow_type(c.entry.id): c for c in app.workflows(worker_id)}
    _BINDINGS[task_queue] = _Binding(app, worker_id, config, dict(by_type))


def unbind_task_queue(task_queue: str) -> None:
    """Forget the binding of ``task_queue`` (a replayer's queue, once it is done)."""
    _BINDINGS.pop(task_queue, None)


def _find_binding(task_queue: str, workflow_type: str) -> _Binding | None:
    binding = _BINDINGS.get(task_queue)
    if binding is not None:
        return binding
    # A Replayer runs on its own task queue: fall back to the one app serving this type.
    found = [b for b in _BINDINGS.values() if workflow_type in b.by_type]
    return found[-1] if found else None


@workflow.defn(dynamic=True, sandboxed=False)
class LuaWorkflow:
    """Runs the ``workflow.lua`` entry whose type matches the started workflow type.

    Signals, updates and the built-in ``pid`` query are accepted from the first activation on;
    messages wait in the run's mailbox until the Lua code subscribes.
    """

    def __init__(self) -> None:
        self.mailbox = Mailbox()
        # Temporal's __stack_trace query is answered by on_query (the Lua tasks' stacks, once
        # the run started): without the SDK's own handler (Python stacks), it reaches there.
        workflow.set_query_handler("__stack_trace", None)
        info = workflow.info()
        self._binding = _find_binding(info.task_queue, info.workflow_type)
        if self._binding is not None:
            client, _ = _client_facts(self._binding.app, self._binding.worker_id)
            self.mailbox.pid = "{" + f"{client}@{self._binding.worker_id}|{info.workflow_id}" + "}"

    @workflow.signal(dynamic=True)
    def on_signal(self, name: str, args: Sequence[RawValue]) -> None:
        self.mailbox.push_signal(name, args)

    # ABANDON: a run may end with an update Lua never answered (the caller then gets an
    # error); the SDK's warning about it gives Python-only advice.
    @workflow.update(dynamic=True, unfinished_policy=workflow.HandlerUnfinishedPolicy.ABANDON)
    async def on_update(self, name: str, args: Sequence[RawValue]) -> Any:
        return await self.mailbox.run_update(name, args)

    @workflow.query(dynamic=True)
    def on_query(self, name: str, args: Sequence[RawValue]) -> Any:
        if name == "pid":
            return self.mailbox.pid
        query = self.mailbox.query
        if query is not None:
            conv = workflow.payload_converter()
            try:
                return query(name, [conv.from_payload(a.payload) for a in args])
            except KeyError:
                pass
        if name == "state":
            return {}
        if name == "__stack_trace":
            return ""  # the run never started: no Lua task
        raise ApplicationError(f"unknown query type {name!r}", type="NotFound", non_retryable=True)

    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> Any:
        info = workflow.info()
        binding = self._binding
        code = binding.by_type.get(info.workflow_type) if binding else None
        if binding is None or code is None:
            known = ", ".join(sorted(binding.by_type)) if binding else ""
            raise ApplicationError(
                f"workflow type {info.workflow_type!r} is not registered on task queue "
                f"{info.task_queue!r} (registered: {known or 'none'})",
                type="NotFound",
                non_retryable=True,
            )
        driver = WorkflowDriver(binding.app, code, binding.config, self.mailbox)
        return await driver.run(args)
