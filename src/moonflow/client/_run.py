"""Starting workflows of an app and reading their results.

* Workflow type = ``app.workflow_type(entry_id)``; task queue = ``app.task_queue(worker_id)``.
* Input: exactly one payload holding the JSON value when an input is given, no payload otherwise.
* Startup messages: the first with signal-with-start, the others right after, in order.
* A failed run becomes :class:`moonflow.errors.WorkflowFailure` (see :func:`failure_info`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from moonflow.client._target import WorkflowNotFound, format_pid, is_not_found, workflow_id_of
from moonflow.errors import (
    CANCELED,
    TIMEOUT,
    UNKNOWN,
    ErrorInfo,
    UsageError,
    WorkflowFailure,
)

if TYPE_CHECKING:
    import temporalio.client

    from moonflow.registry import App


class _NoInput:
    def __repr__(self) -> str:
        return "NO_INPUT"


#: Sentinel for "start the workflow with no input payload" (``None`` sends a JSON null payload).
NO_INPUT: Any = _NoInput()


def resolve_workflow_entry(app: App, entry_id: str) -> tuple[str, str, str]:
    """Find a ``workflow.lua`` entry and where it runs.

    Args:
        app: the loaded app.
        entry_id: ``"ns:name"``, or a bare ``"name"`` when exactly one entry has that name.

    Returns:
        ``(entry_id, worker_id, client_id)`` with full ids.

    Raises:
        UsageError: no such workflow entry, or it names no ``meta.temporal.workflow.worker``.
    """
    codes = {code.entry.id: code for code in app.workflows()}
    if entry_id not in codes and ":" not in entry_id:
        matches = [i for i in codes if i.rpartition(":")[2] == entry_id]
        if len(matches) == 1:
            entry_id = matches[0]
    code = codes.get(entry_id)
    if code is None:
        known = ", ".join(sorted(codes)) or "none"
        if entry_id in app.entries:
            kind = app.entries[entry_id].kind
            raise UsageError(f"{entry_id} is a {kind} entry, not a workflow (workflows: {known})")
        raise UsageError(f"no workflow entry {entry_id!r} in {app.root} (workflows: {known})")
    worker_id = code.workflow_worker
    if not worker_id:
        raise UsageError(
            f"{code.entry.where()}: {entry_id} has no meta.temporal.workflow.worker; "
            "add one naming a temporal.worker entry"
        )
    client_id = app.client_of(worker_id).entry.id
    return entry_id, worker_id, client_id


#: A startup message: ``(topic, value)``, or ``(topic,)`` / ``(topic, NO_INPUT)`` for none.
StartSignal = tuple[str] | tuple[str, Any]


def signal_parts(message: Sequence[Any]) -> tuple[str, list[Any]]:
    """Split a startup message into ``(topic, payload values)`` (checks the topic).

    Raises:
        UsageError: not a ``(topic,)`` / ``(topic, value)`` tuple, or a bad topic.
    """
    from moonflow.client._messages import check_topic

    if isinstance(message, str | bytes) or not 1 <= len(message) <= 2:
        raise UsageError(f"signals: expected (topic, value) or (topic,) items, got {message!r}")
    topic = check_topic(message[0], "signals")
    values = [] if len(message) == 1 or message[1] is NO_INPUT else [message[1]]
    return topic, values


async def start_workflow(
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
) -> tuple[str, str, str]:
    """Start a ``workflow.lua`` entry of ``app`` as a Temporal workflow (does not wait).

    Args:
        client: a client of the namespace the workflow's worker polls.
        app: the loaded app.
        entry_id: workflow entry id (``"app:order_workflow"``; a unique bare name also works).
        input: JSON-safe value passed as the one argument of the Lua method; leave out
            (:data:`NO_INPUT`) to send no argument, ``None`` sends JSON null.
        workflow_id: Temporal workflow id; default ``"<entry name>-<12 hex chars>"``.
        task_queue: override the task queue (default: the worker entry's, with the client's
            ``tq_prefix``).
        signals: startup messages, ``[(topic, value), ...]`` (``(topic,)`` for no payload),
            delivered in this order before any message sent later: the first atomically
            with the start (signal-with-start), the others right after as separate signals,
            as the reference runtime does. They carry no sender. With messages, an id that
            is already running is not an error: the running workflow receives them (the
            input is then unused) and its ids are returned.
        search_attributes: initial search attributes, typed as for ``workflow.attrs``: the
            type declared in the app's ``temporal.client`` entry wins, otherwise it is
            inferred (string -> Keyword, boolean -> Bool, integer -> Int, float -> Double,
            list of strings -> KeywordList); a value of the wrong type is a UsageError.
        memo: initial memo (a JSON map).

    Returns:
        ``(workflow_id, run_id, pid)``; ``pid`` is ``"{client@worker|workflow_id}"``.

    Raises:
        UsageError: unknown entry, a bad startup message, or (without ``signals``) the
            workflow id is already running.
    """
    import temporalio.exceptions

    messages = [signal_parts(m) for m in signals]
    entry_id, worker_id, client_id = resolve_workflow_entry(app, entry_id)
    wf_id = workflow_id or f"{entry_id.rpartition(':')[2]}-{uuid.uuid4().hex[:12]}"
    args = [] if input is NO_INPUT else [input]
    options: dict[str, Any] = {}
    if messages:
        options = {"start_signal": messages[0][0], "start_signal_args": messages[0][1]}
    if search_attributes:
        from moonflow.worker._workflow_host import typed_search_attributes

        declared = dict(app.client_of(worker_id).search_attributes or {})
        try:
            options["search_attributes"] = typed_search_attributes(
                declared, dict(search_attributes)
            )
        except ValueError as exc:
            raise UsageError(f"search attributes: {exc}") from None
    if memo:
        options["memo"] = dict(memo)
    try:
        handle = await client.start_workflow(
            app.workflow_type(entry_id),
            args=args,
            id=wf_id,
            task_queue=task_queue or app.task_queue(worker_id),
            **options,
        )
    except temporalio.exceptions.WorkflowAlreadyStartedError:
        raise UsageError(
            f"a workflow with id {wf_id!r} is already running; pick another --id"
        ) from None
    for topic, values in messages[1:]:
        await handle.signal(topic, args=values)
    run_id = handle.first_execution_run_id or handle.result_run_id or ""
    return wf_id, run_id, format_pid(client_id, worker_id, wf_id)


def _application_info(err: Any) -> ErrorInfo:
    """ErrorInfo of an ``ApplicationError`` (the one rule set, shared with the worker)."""
    from moonflow.worker._failures import application_error_info

    return application_error_info(err)


def failure_info(exc: BaseException) -> ErrorInfo:
    """Reduce a workflow failure (``WorkflowFailureError`` or its cause chain) to an ErrorInfo.

    The first ``ApplicationError`` in the chain gives kind, message, retryable and details:
    from moonflow's error chain in its details when present (see :func:`_application_info`),
    else kind ``kind_from_type(type)``, retryable ``not non_retryable`` and the single detail
    value (a list when there are several). A ``TimeoutError`` gives kind ``Timeout``
    (retryable); ``CancelledError`` and ``TerminatedError`` give kind ``Canceled`` (not
    retryable).
    """
    import temporalio.client
    import temporalio.exceptions as tex

    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 32:
        chain.append(current)
        current = getattr(current, "cause", None) or current.__cause__
    for err in chain:
        if isinstance(err, tex.ApplicationError):
            return _application_info(err)
        if isinstance(err, tex.TimeoutError):
            return ErrorInfo(TIMEOUT, err.message or "workflow timed out", True)
        if isinstance(err, tex.CancelledError):
            return ErrorInfo(CANCELED, err.message or "workflow canceled", False)
        if isinstance(err, tex.TerminatedError):
            reason = err.message or "terminated"
            return ErrorInfo(CANCELED, f"workflow terminated: {reason}", False)
    last = chain[-1]
    if isinstance(last, temporalio.client.WorkflowFailureError):
        return ErrorInfo(UNKNOWN, str(last) or "workflow failed", None)
    message = getattr(last, "message", None) or str(last) or type(last).__name__
    return ErrorInfo(UNKNOWN, message, None)


async def get_result(
    client: temporalio.client.Client,
    workflow_id: str,
    *,
    run_id: str | None = None,
) -> Any:
    """Wait for a workflow and return its result.

    Follows continue-as-new runs. On a time-skipping server (a client from
    ``devserver.open_server("time-skipping")``) time is skipped while waiting.

    Args:
        client: a client of the workflow's namespace.
        workflow_id: Temporal workflow id (a PID is accepted too).
        run_id: a specific run; default the latest.

    Returns:
        The decoded JSON result (None for a nil result).

    Raises:
        WorkflowFailure: the run failed, timed out, was canceled or terminated.
        WorkflowNotFound: no workflow with that id exists in the client's namespace.
    """
    import temporalio.client
    import temporalio.service

    from moonflow.devserver import await_skipping_time

    workflow_id = workflow_id_of(workflow_id)
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)

    async def poll() -> Any:
        while True:
            try:
                return await handle.result()
            except RuntimeError as exc:
                # The time-skipping server ends a history long poll after ~20 s without
                # an event; the SDK reports that as "No completion event found". Poll again.
                if "No completion event found" not in str(exc):
                    raise

    try:
        return await await_skipping_time(client, poll())
    except temporalio.client.WorkflowFailureError as exc:
        raise WorkflowFailure(failure_info(exc)) from exc
    except temporalio.service.RPCError as exc:
        if is_not_found(exc):
            raise WorkflowNotFound(workflow_id, client.namespace) from None
        raise
