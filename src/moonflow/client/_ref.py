"""A handle on one workflow: :class:`WorkflowRef`, from :func:`start` or :func:`get_workflow`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from moonflow.client import _manage, _messages, _run
from moonflow.client._run import NO_INPUT, StartSignal
from moonflow.client._target import parse_pid, workflow_id_of

if TYPE_CHECKING:
    import temporalio.client

    from moonflow.registry import App


@dataclass(frozen=True)
class WorkflowRef:
    """A workflow started by :func:`start` (or found by :func:`get_workflow`).

    Messages, updates, describe, cancel, terminate and history go to the workflow id's latest
    run (the one a continue-as-new leads to); :meth:`result` waits for the run this handle
    was made for and follows its continue-as-new chain.

    Attributes:
        client: the client everything is sent with.
        workflow_id: the Temporal workflow id.
        run_id: the run :func:`start` started (None from :func:`get_workflow`).
        pid: ``"{client@worker|workflow_id}"``, or None when :func:`get_workflow` was given a
            bare id.
    """

    client: temporalio.client.Client
    workflow_id: str
    run_id: str | None = None
    pid: str | None = None

    async def signal(self, topic: str, *values: Any, sender: str | None = None) -> None:
        """Send a message; see :func:`moonflow.client.signal`."""
        await _messages.signal(self.client, self.workflow_id, topic, *values, sender=sender)

    async def update(self, name: str, *values: Any) -> Any:
        """Send an update and return its result; see :func:`moonflow.client.update`."""
        return await _messages.update(self.client, self.workflow_id, name, *values)

    async def result(self) -> Any:
        """Wait for the result; see :func:`moonflow.client.get_result`."""
        return await _run.get_result(self.client, self.workflow_id, run_id=self.run_id or None)

    async def describe(self) -> dict[str, Any]:
        """Describe the latest run; see :func:`moonflow.client.describe`."""
        return await _manage.describe(self.client, self.workflow_id)

    async def cancel(self, reason: str | None = None) -> None:
        """Request cancellation; see :func:`moonflow.client.cancel`."""
        await _manage.cancel(self.client, self.workflow_id, reason)

    async def terminate(self, reason: str | None = None) -> None:
        """Terminate; see :func:`moonflow.client.terminate`."""
        await _manage.terminate(self.client, self.workflow_id, reason)

    async def history(self) -> list[dict[str, Any]]:
        """The latest run's events; see :func:`moonflow.client.history`."""
        return await _manage.history(self.client, self.workflow_id)


async def start(
    client: temporalio.client.Client,
    app: App,
    entry_id: str,
    input: Any = NO_INPUT,
    *,
    workflow_id: str | None = None,
    task_queue: str | None = None,
    signals: Sequence[StartSignal] = (),
    search_attributes: Mapping[str, Any] | None = None,
    memo: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> WorkflowRef:
    """Start a workflow entry and return a handle on it.

    Same arguments and errors as :func:`moonflow.client.start_workflow`.

    Returns:
        A :class:`WorkflowRef` with ``workflow_id``, ``run_id`` and ``pid`` set.
    """
    wf_id, run_id, pid = await _run.start_workflow(
        client,
        app,
        entry_id,
        input,
        workflow_id=workflow_id,
        task_queue=task_queue,
        signals=signals,
        search_attributes=search_attributes,
        memo=memo,
        options=options,
    )
    return WorkflowRef(client, wf_id, run_id or None, pid)


def get_workflow(client: temporalio.client.Client, target: str) -> WorkflowRef:
    """A handle on an existing workflow (nothing is checked until it is used).

    Args:
        client: a client of the workflow's namespace.
        target: the workflow's PID (kept as ``pid``) or bare workflow id (``pid`` None).

    Raises:
        UsageError: ``target`` is empty.
    """
    workflow_id = workflow_id_of(target)
    pid = target.strip() if parse_pid(target) is not None else None
    return WorkflowRef(client, workflow_id, None, pid)
