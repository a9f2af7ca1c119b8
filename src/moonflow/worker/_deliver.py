"""Messages from workflows to local processes (``process.send`` to ``{host|0x0000N}``).

A workflow cannot reach a process directly: the send is recorded as a local activity,
:data:`DELIVER`, run by the worker in this OS process, which puts the message into the
process's mailbox on the process node (``moonflow.process``). Temporal records the local
activity's result, so a replay does not send again; a retried attempt (a workflow task that
failed after the delivery) is dropped by the node's key ``workflow id/run id/command tag``, so
the process sees each message exactly once (architecture.md, "Crossing between processes and
workflows"). A process PID of another OS process cannot be reached: ``NotFound``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from .. import errors as mferrors

#: The local activity's type name (not an entry id: no app entry can be named so).
DELIVER = "moonflow.deliver_to_process"

#: How long one delivery may take and how often it is tried (the node answers at once).
DELIVER_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=10),
    "retry_policy": RetryPolicy(maximum_attempts=3),
}


@activity.defn(name=DELIVER)
async def deliver_to_process(
    target: str, topic: str, values: Sequence[Any], sender: str | None, key: str
) -> bool:
    """Put ``topic, *values`` from ``sender`` into the mailbox of the local process ``target``.

    Raises:
        ApplicationError: kind ``NotFound`` (not retryable) when no process ``target`` runs
            on a node of this OS process.
    """
    from ..process import node_for

    node = node_for(target)
    if node is None or not node.deliver_once(key, target, topic, list(values), sender):
        raise ApplicationError(
            f"no process {target} is running in this moonflow process",
            type=mferrors.NOT_FOUND,
            non_retryable=True,
        )
    return True
