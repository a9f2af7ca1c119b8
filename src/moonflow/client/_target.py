"""Targets: workflow PIDs, bare workflow ids, and the one-line errors for a target that is not
there (unknown id, or a workflow that already closed)."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from moonflow.errors import UsageError

if TYPE_CHECKING:
    import temporalio.client
    import temporalio.service


def format_pid(client_id: str, worker_id: str, workflow_id: str) -> str:
    """Format a workflow PID.

    Args:
        client_id: the ``temporal.client`` entry id, e.g. ``"app:temporal_client"``.
        worker_id: the ``temporal.worker`` entry id, e.g. ``"app:worker"``.
        workflow_id: the Temporal workflow id.

    Returns:
        ``"{app:temporal_client@app:worker|<workflow id>}"``.
    """
    return f"{{{client_id}@{worker_id}|{workflow_id}}}"


def parse_pid(text: str) -> tuple[str, str, str] | None:
    """Parse a workflow PID made by :func:`format_pid`.

    Args:
        text: a string such as ``"{app:client@app:worker|order-1}"``. Surrounding white space
            is ignored. The workflow id may contain any character (``|``, ``}`` included).

    Returns:
        ``(client_id, worker_id, workflow_id)``, or None when ``text`` is not a workflow PID
        (for example a bare workflow id, or a non-workflow PID like ``{update|id}``).
    """
    s = text.strip()
    if len(s) < 2 or s[0] != "{" or s[-1] != "}":
        return None
    head, sep, workflow_id = s[1:-1].partition("|")
    if not sep or not workflow_id:
        return None
    client_id, at, worker_id = head.partition("@")
    if not at or not client_id or not worker_id or "{" in head:
        return None
    return client_id, worker_id, workflow_id


def workflow_id_of(target: str) -> str:
    """The workflow id a target names.

    Args:
        target: a workflow PID ``"{client@worker|order-1}"`` or a bare workflow id
            ``"order-1"``.

    Returns:
        The workflow id (``"order-1"`` for both examples).

    Raises:
        UsageError: ``target`` is empty or only white space.
    """
    pid = parse_pid(target)
    if pid is not None:
        return pid[2]
    if not target.strip():
        raise UsageError("the target is empty: give a workflow id or a PID {client@worker|id}")
    return target


class WorkflowNotFound(UsageError):
    """No workflow with that id exists in the client's namespace. ``str()`` is one line.

    Attributes:
        workflow_id: the id that was looked up.
        namespace: the namespace it was looked up in.
    """

    def __init__(self, workflow_id: str, namespace: str, app_dir: str = "APP_DIR") -> None:
        self.workflow_id = workflow_id
        self.namespace = namespace
        where = f" in namespace {namespace!r}" if namespace != "default" else ""
        super().__init__(
            f"no workflow with id {workflow_id!r}{where}: "
            f"list them with `moonflow list {shlex.quote(app_dir)}`"
        )

    def for_app(self, app_dir: str) -> WorkflowNotFound:
        """The same error, its hint naming the app directory ``app_dir``."""
        return WorkflowNotFound(self.workflow_id, self.namespace, app_dir)


def is_not_found(exc: BaseException) -> bool:
    """True for an RPC error with status ``NOT_FOUND``."""
    import temporalio.service

    return (
        isinstance(exc, temporalio.service.RPCError)
        and exc.status == temporalio.service.RPCStatusCode.NOT_FOUND
    )


async def target_error(
    client: temporalio.client.Client,
    workflow_id: str,
    exc: temporalio.service.RPCError,
    action: str,
) -> UsageError:
    """Explain a ``NOT_FOUND`` answer to a call on a workflow, in one line.

    Servers answer ``NOT_FOUND`` both for an unknown id and for a signal or update sent to a
    workflow that already closed; a ``describe`` tells the two apart.

    Args:
        client: the client the call was made with.
        workflow_id: the workflow it targeted.
        exc: the ``NOT_FOUND`` error.
        action: what was tried, e.g. ``"send signal 'approve'"``.

    Returns:
        :class:`WorkflowNotFound`, or a UsageError saying the workflow is closed (and how).
    """
    import temporalio.service

    try:
        desc = await client.get_workflow_handle(workflow_id).describe()
    except temporalio.service.RPCError as err:
        if is_not_found(err):
            return WorkflowNotFound(workflow_id, client.namespace)
        return UsageError(f"workflow {workflow_id!r}: cannot {action}: {exc.message}")
    status = desc.status.name if desc.status is not None else "UNKNOWN"
    if status != "RUNNING":
        return UsageError(f"workflow {workflow_id!r} is closed (status {status}): cannot {action}")
    return UsageError(f"workflow {workflow_id!r}: cannot {action}: {exc.message}")
