"""The rest of a workflow's life from outside: describe, list, cancel, terminate, history.

Workflows are described as plain JSON maps (the shape of :func:`describe`), so the CLI can
print them as they are and scripts need no SDK types.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from moonflow.client._target import WorkflowNotFound, is_not_found, target_error, workflow_id_of
from moonflow.errors import UsageError

if TYPE_CHECKING:
    import temporalio.client

#: Default number of workflows :func:`list_workflows` returns.
DEFAULT_LIST_LIMIT = 100


def rfc3339(value: datetime | None) -> str | None:
    """A time as RFC 3339 text in UTC (``"2026-01-02T15:04:05.123456Z"``), None for None."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def search_attributes_json(execution: Any) -> dict[str, Any]:
    """The search attributes of a workflow execution as a plain JSON map.

    Keyword, Text, Int, Double and Bool values stay as they are, KeywordList values are
    arrays, Datetime values RFC 3339 strings. Attributes the server keeps for itself
    (``BuildIds``, and every name starting with ``Temporal``, such as the
    ``TemporalChangeVersion`` of patch markers) are left out: a listing reports some of them
    and a description others, and the app declares none of them.
    """
    typed = getattr(execution, "typed_search_attributes", None)
    out: dict[str, Any] = {}
    for pair in getattr(typed, "search_attributes", None) or []:
        out[pair.key.name] = _json_value(pair.value)
    for name, values in (getattr(execution, "search_attributes", None) or {}).items():
        if name not in out:  # an attribute the typed decoding skipped
            out[name] = _json_value(list(values))
    return dict(sorted((k, v) for k, v in out.items() if not _server_internal(k)))


def _server_internal(name: str) -> bool:
    """A search attribute the server sets for itself (not one the app declares)."""
    return name == "BuildIds" or name.startswith("Temporal")


async def memo_json(execution: Any) -> dict[str, Any]:
    """The memo of a workflow execution, decoded as JSON (``{}`` when it has none).

    A value that does not decode becomes ``{"undecodable": "<encoding>"}`` instead of failing
    the whole description.
    """
    try:
        memo = await execution.memo()
        return dict(sorted(memo.items()))
    except Exception:
        pass
    out: dict[str, Any] = {}
    for key, payload in execution.raw_info.memo.fields.items():
        try:
            out[key] = await execution.memo_value(key)
        except Exception:
            encoding = payload.metadata.get("encoding", b"").decode(errors="replace")
            out[key] = {"undecodable": encoding or "unknown"}
    return dict(sorted(out.items()))


async def execution_json(execution: Any, *, memo: bool = True) -> dict[str, Any]:
    """Describe a workflow execution (``WorkflowExecution`` or its description) as JSON.

    Args:
        execution: a ``temporalio.client.WorkflowExecution`` (from a listing) or a
            ``WorkflowExecutionDescription``.
        memo: include the decoded memo.

    Returns:
        The map documented in :func:`describe`.
    """
    status = getattr(execution.status, "name", None) or "UNSPECIFIED"
    out: dict[str, Any] = {
        "workflow_id": execution.id,
        "run_id": execution.run_id,
        "workflow_type": execution.workflow_type,
        "status": status,
        "task_queue": execution.task_queue,
        "start_time": rfc3339(execution.start_time),
        "execution_time": rfc3339(execution.execution_time),
        "close_time": rfc3339(execution.close_time),
        "history_length": execution.history_length,
        "parent_workflow_id": execution.parent_id,
        "search_attributes": search_attributes_json(execution),
    }
    if memo:
        out["memo"] = await memo_json(execution)
    return out


async def describe(client: temporalio.client.Client, target: str) -> dict[str, Any]:
    """Describe a workflow's latest run.

    Args:
        client: a client of the workflow's namespace.
        target: the workflow's PID or bare workflow id.

    Returns:
        A JSON map::

            {"workflow_id": "order-1", "run_id": "...", "workflow_type": "app:order",
             "status": "RUNNING", "task_queue": "orders",
             "start_time": "2026-01-02T15:04:05.123Z", "execution_time": "...",
             "close_time": None, "history_length": 12, "parent_workflow_id": None,
             "search_attributes": {"status": "waiting"}, "memo": {"note": "x"}}

        ``status`` is one of RUNNING, COMPLETED, FAILED, CANCELED, TERMINATED,
        CONTINUED_AS_NEW, TIMED_OUT; times are RFC 3339 in UTC (``close_time`` None while
        running).

    Raises:
        WorkflowNotFound: no workflow with that id (a :class:`moonflow.errors.UsageError`).
        temporalio.service.RPCError: any other refusal by the server.
    """
    import temporalio.service

    workflow_id = workflow_id_of(target)
    try:
        desc = await client.get_workflow_handle(workflow_id).describe()
    except temporalio.service.RPCError as exc:
        if is_not_found(exc):
            raise WorkflowNotFound(workflow_id, client.namespace) from None
        raise
    return await execution_json(desc)


async def list_workflows(
    client: temporalio.client.Client,
    query: str | None = None,
    *,
    limit: int | None = DEFAULT_LIST_LIMIT,
    memo: bool = True,
) -> list[dict[str, Any]]:
    """List workflows of the client's namespace, newest first.

    Args:
        client: a client of the namespace.
        query: a Temporal visibility query, e.g. ``"status = 'waiting'"`` (a custom search
            attribute), ``"WorkflowType = 'app:order' AND ExecutionStatus = 'Running'"``;
            None lists all. Visibility is eventually consistent: a workflow may show up (or
            change status) a moment after it started (or closed).
        limit: at most this many (default 100); None for all.
        memo: include each workflow's decoded memo.

    Returns:
        One map per workflow, shaped as :func:`describe`'s (``memo`` only with ``memo``).
        ``history_length`` is the run's real count, as :func:`describe` gives it: the
        server's listing counts only closed runs, so a running one is described (one more
        request each).

    Raises:
        UsageError: the server rejected the query, or cannot list workflows (the
            time-skipping test server has no visibility store).
        temporalio.service.RPCError: any other refusal by the server.
    """
    import temporalio.service

    codes = temporalio.service.RPCStatusCode
    if limit is not None and limit < 1:
        raise UsageError(f"limit: expected a positive number, got {limit}")
    out: list[dict[str, Any]] = []
    try:
        async for execution in client.list_workflows(query or None, limit=limit):
            info = await execution_json(execution, memo=memo)
            if info["status"] == "RUNNING":
                info["history_length"] = await _history_length(client, execution)
            out.append(info)
    except temporalio.service.RPCError as exc:
        if exc.status == codes.INVALID_ARGUMENT:
            raise UsageError(f"invalid visibility query {query!r}: {exc.message}") from None
        if exc.status == codes.UNIMPLEMENTED:
            raise UsageError(
                "this server cannot list workflows (the time-skipping test server has no "
                "visibility store); use the dev server or a cluster"
            ) from None
        raise
    return out


async def _history_length(client: temporalio.client.Client, execution: Any) -> int:
    """The real event count of a listed run (a listing reports 0 while it runs)."""
    import temporalio.service

    handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
    try:
        return int((await handle.describe()).history_length)
    except temporalio.service.RPCError:  # gone since the listing: keep what it said
        return int(execution.history_length)


async def cancel(client: temporalio.client.Client, target: str, reason: str | None = None) -> None:
    """Ask a running workflow to cancel (it may clean up; its result becomes kind Canceled).

    Returns once the server recorded the request; use :func:`moonflow.client.get_result` to
    wait for the run to end.

    Args:
        client: a client of the workflow's namespace.
        target: the workflow's PID or bare workflow id.
        reason: recorded with the request in the history.

    Raises:
        UsageError: no workflow with that id (:class:`moonflow.client.WorkflowNotFound`), or
            it is already closed.
        temporalio.service.RPCError: any other refusal by the server.
    """
    import temporalio.service

    workflow_id = workflow_id_of(target)
    handle = client.get_workflow_handle(workflow_id)
    try:
        desc = await handle.describe()
        if desc.status is not None and desc.status.name != "RUNNING":
            raise UsageError(
                f"workflow {workflow_id!r} is closed (status {desc.status.name}): cannot cancel it"
            )
        await handle.cancel(reason=reason or "")
    except temporalio.service.RPCError as exc:
        if is_not_found(exc):
            raise await target_error(client, workflow_id, exc, "cancel it") from None
        raise


async def terminate(
    client: temporalio.client.Client, target: str, reason: str | None = None
) -> None:
    """Terminate a running workflow at once (no cleanup runs; its result becomes kind Canceled).

    Args:
        client: a client of the workflow's namespace.
        target: the workflow's PID or bare workflow id.
        reason: recorded in the history (and in the failure message callers see).

    Raises:
        UsageError: no workflow with that id (:class:`moonflow.client.WorkflowNotFound`), or
            it is already closed.
        temporalio.service.RPCError: any other refusal by the server.
    """
    import temporalio.service

    workflow_id = workflow_id_of(target)
    try:
        await client.get_workflow_handle(workflow_id).terminate(reason=reason or None)
    except temporalio.service.RPCError as exc:
        if is_not_found(exc):
            raise await target_error(client, workflow_id, exc, "terminate it") from None
        raise


async def history(client: temporalio.client.Client, target: str) -> list[dict[str, Any]]:
    """The event history of a workflow's latest run.

    Args:
        client: a client of the workflow's namespace.
        target: the workflow's PID or bare workflow id.

    Returns:
        The events in order, each the proto3 JSON form of a ``HistoryEvent`` as Temporal
        exports it (``{"eventId": "1", "eventTime": "...", "eventType":
        "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED", "workflowExecutionStartedEventAttributes":
        {...}}``; 64-bit numbers are strings, payload data is base64). ``{"events": [...]}``
        of these is what ``temporalio.client.WorkflowHistory.from_json`` replays.

    Raises:
        WorkflowNotFound: no workflow with that id (a :class:`moonflow.errors.UsageError`).
        temporalio.service.RPCError: any other refusal by the server.
    """
    import temporalio.service
    from google.protobuf.json_format import MessageToDict

    workflow_id = workflow_id_of(target)
    try:
        fetched = await client.get_workflow_handle(workflow_id).fetch_history()
    except temporalio.service.RPCError as exc:
        if is_not_found(exc):
            raise WorkflowNotFound(workflow_id, client.namespace) from None
        raise
    return [MessageToDict(event) for event in fetched.events]
