"""Messages to a workflow from outside: signals (with an optional sender PID) and updates.

Wire contract (shared with the reference runtime):

* A message is a Temporal **signal** named after the topic, one JSON payload per value.
* The sender's PID travels in the ``wippy-context`` header: a JSON map whose key
  ``temporal.signal.from`` holds the PID string. Without a sender the header is left out.
* An update is a Temporal **update** named after the topic, one JSON payload per value; the
  workflow accepts or rejects it and answers with a value or an error.
* Topics starting with ``@`` are internal to the runtime and cannot be sent.
"""

from __future__ import annotations

import contextvars
import functools
import weakref
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from moonflow.client._target import target_error, workflow_id_of
from moonflow.client._values import check_values
from moonflow.errors import UNAVAILABLE, ErrorInfo, UsageError, WorkflowFailure

if TYPE_CHECKING:
    import temporalio.client

#: Header carrying the context map (reference runtime ``wippy-context``).
CONTEXT_HEADER = "wippy-context"
#: Key of the sender PID inside the context map.
SENDER_KEY = "temporal.signal.from"

#: The sender PID of the signal being sent by the current task (None: no header).
#: Context values for the workflow being started (``start_workflow(..., context=)``): the
#: interceptor puts them in its ``wippy-context`` header, where ``ctx.get`` finds them.
START_CONTEXT: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "moonflow_start_context", default=None
)
_SENDER: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "moonflow_signal_sender", default=None
)


def check_topic(topic: str, what: str = "topic") -> str:
    """Validate a message topic or update name.

    Args:
        topic: the topic, e.g. ``"approve"``.
        what: how to call it in the error (``"topic"``, ``"update name"``, ``"--signal"``).

    Returns:
        ``topic`` unchanged.

    Raises:
        UsageError: the topic is empty or starts with ``@`` (kind Invalid: reserved for the
            runtime's own topics such as ``@pid/events``).
    """
    if not isinstance(topic, str) or not topic:
        raise UsageError(f"{what}: the topic is empty; give a name such as 'approve'")
    if topic.startswith("@"):
        raise UsageError(
            f"{what}: topic {topic!r} is invalid: topics starting with '@' are reserved "
            "for the runtime"
        )
    return topic


@functools.cache
def _sender_interceptor_class() -> type:
    import temporalio.client
    import temporalio.converter

    class _Outbound(temporalio.client.OutboundInterceptor):
        async def start_workflow(self, input: temporalio.client.StartWorkflowInput) -> Any:
            context = START_CONTEXT.get()
            if context:
                converter = temporalio.converter.PayloadConverter.default
                payload = converter.to_payloads([dict(context)])[0]
                input.headers = {**input.headers, CONTEXT_HEADER: payload}
            return await super().start_workflow(input)

        async def signal_workflow(self, input: temporalio.client.SignalWorkflowInput) -> None:
            sender = _SENDER.get()
            if sender is not None:
                converter = temporalio.converter.PayloadConverter.default
                payload = converter.to_payloads([{SENDER_KEY: sender}])[0]
                input.headers = {**input.headers, CONTEXT_HEADER: payload}
            await super().signal_workflow(input)

    class SenderInterceptor(temporalio.client.Interceptor):
        """Adds the ``wippy-context`` header naming the sender to signals sent by
        :func:`moonflow.client.signal` with ``sender=``, and holding the context values of
        workflows started with ``context=``; other calls pass unchanged."""

        moonflow_sender = True

        def intercept_client(
            self, next: temporalio.client.OutboundInterceptor
        ) -> temporalio.client.OutboundInterceptor:
            return _Outbound(next)

    return SenderInterceptor


def sender_interceptor() -> temporalio.client.Interceptor:
    """A client interceptor that lets :func:`signal` set the sender header."""
    interceptor: temporalio.client.Interceptor = _sender_interceptor_class()()
    return interceptor


def with_sender_interceptor(
    interceptors: Sequence[temporalio.client.Interceptor],
) -> list[temporalio.client.Interceptor]:
    """``interceptors`` plus the sender interceptor (unless one is there already)."""
    out = list(interceptors)
    if not any(getattr(i, "moonflow_sender", False) for i in out):
        out.append(sender_interceptor())
    return out


_WITH_SENDER: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _client_with_sender(client: temporalio.client.Client) -> temporalio.client.Client:
    """``client``, or a client sharing its connection plus the sender interceptor."""
    import temporalio.client

    config = client.config()
    if any(getattr(i, "moonflow_sender", False) for i in config.get("interceptors", [])):
        return client
    derived = _WITH_SENDER.get(client)
    if derived is None:
        options: dict[str, Any] = dict(config)
        options["interceptors"] = with_sender_interceptor(config.get("interceptors", []))
        derived = temporalio.client.Client(**options)
        _WITH_SENDER[client] = derived
    return derived


def _check_values(values: tuple[Any, ...]) -> None:
    check_values(values, "values[{}]", "values")


async def signal(
    client: temporalio.client.Client,
    target: str,
    topic: str,
    *values: Any,
    sender: str | None = None,
) -> None:
    """Send a message to a running workflow (a Temporal signal named ``topic``).

    Returns once the server recorded the signal; it does not wait for the workflow to read it.
    The message goes to the workflow's current run.

    Args:
        client: a client of the workflow's namespace.
        target: the workflow's PID ``"{client@worker|id}"`` or its bare workflow id.
        topic: the topic, e.g. ``"approve"``; must not be empty or start with ``@``.
        *values: JSON-safe values, one payload each; none = a message without payload.
        sender: the PID the workflow sees as the sender (``msg:from()``), put in the
            ``wippy-context`` header; None (default) sends no header and the sender is nil.

    Raises:
        UsageError: a bad topic (kind Invalid), a value that is not JSON (naming its path,
            ``values[0].d: keys must be strings, got 1``), an empty target, no workflow with that id
            (:class:`moonflow.client.WorkflowNotFound`), or the workflow is closed.
        temporalio.service.RPCError: any other refusal by the server.
    """
    import temporalio.service

    check_topic(topic)
    _check_values(values)
    workflow_id = workflow_id_of(target)
    if sender is not None:
        if not isinstance(sender, str) or not sender.strip():
            raise UsageError("sender: expected a PID string such as '{app:client@app:worker|id}'")
        client = _client_with_sender(client)
    token = _SENDER.set(sender)
    try:
        await client.get_workflow_handle(workflow_id).signal(topic, args=list(values))
    except temporalio.service.RPCError as exc:
        if exc.status != temporalio.service.RPCStatusCode.NOT_FOUND:
            raise
        raise await target_error(client, workflow_id, exc, f"send signal {topic!r}") from None
    finally:
        _SENDER.reset(token)


#: The failure type the server gives an accepted update whose run closed before it finished.
_CLOSED_BEFORE_UPDATE = "AcceptedUpdateCompletedWorkflow"


async def update(
    client: temporalio.client.Client,
    target: str,
    name: str,
    *values: Any,
    update_id: str | None = None,
) -> Any:
    """Send a Temporal update named ``name`` to a running workflow and wait for its answer.

    A moonflow workflow receives it as a message from the PID ``{update|<update id>}`` and
    answers with ``process.send(from, "ack" | "nak" | "ok" | "error", payload)``. The call
    waits as long as the workflow takes to answer (there is no timeout of its own; cancel
    the task to stop waiting).

    Args:
        client: a client of the workflow's namespace.
        target: the workflow's PID or bare workflow id.
        name: the update name (the message topic); must not be empty or start with ``@``.
        *values: JSON-safe arguments, one payload each.
        update_id: the update's id (default: a new UUID). Temporal deduplicates updates by id
            within a run, so sending again with the same id waits for the same update instead
            of sending a second one.

    Returns:
        The decoded JSON result the workflow completed the update with (None for none).

    Raises:
        WorkflowFailure: the workflow rejected the update (``nak``) or completed it with an
            error; ``.info`` holds kind, message and retryable as for a failed workflow. An
            update its run ended before answering is kind ``Unavailable`` (retryable after a
            continue-as-new: the new run can take it).
        UsageError: a bad name, a value that is not JSON (naming its path), an empty target,
            no workflow with that id (:class:`moonflow.client.WorkflowNotFound`), or the
            workflow is closed.
        temporalio.service.RPCError: any other refusal by the server.
    """
    import temporalio.client
    import temporalio.service

    from moonflow.client._run import failure_info

    check_topic(name, "update name")
    _check_values(values)
    workflow_id = workflow_id_of(target)
    try:
        return await client.get_workflow_handle(workflow_id).execute_update(
            name, args=list(values), id=update_id
        )
    except temporalio.client.WorkflowUpdateFailedError as exc:
        info = failure_info(exc)
        if getattr(exc.cause, "type", None) == _CLOSED_BEFORE_UPDATE:
            # The server ended the update with its run (terminated, timed out, or a run from
            # before moonflow answered such updates itself: worker/_updates.py).
            info = ErrorInfo(
                UNAVAILABLE,
                f"update {name!r} was not finished: workflow {workflow_id} closed before its "
                "handler answered (terminated, timed out, or it returned without "
                "workflow.wait_handlers())",
                False,
            )
        raise WorkflowFailure(info) from exc
    except temporalio.service.RPCError as exc:
        if exc.status != temporalio.service.RPCStatusCode.NOT_FOUND:
            raise
        raise await target_error(client, workflow_id, exc, f"send update {name!r}") from None


#: :func:`update_stage` answers, from Temporal's update lifecycle (WorkflowUpdateStage).
UPDATE_NOT_ADMITTED = "not admitted"
UPDATE_ADMITTED = "admitted"
UPDATE_ACCEPTED = "accepted"
UPDATE_COMPLETED = "completed"


async def update_stage(
    client: temporalio.client.Client, target: str, update_id: str, *, timeout: float = 5.0
) -> str:
    """How far the update ``update_id`` of a workflow got, asked of the server once.

    Temporal's stages: *admitted* (the server holds the update, no worker took it yet: no
    worker runs the workflow, or it is busy), *accepted* (the workflow's handler took it and
    has not answered; for moonflow, the update is waiting in the workflow's inbox or for
    ``process.send(from, ...)``), *completed* (answered).

    Args:
        client: a client of the workflow's namespace.
        target: the workflow's PID or bare workflow id.
        update_id: the id the update was sent with.
        timeout: seconds to wait for the server's answer.

    Returns:
        ``"not admitted"`` (the server has no such update, or did not answer in time),
        ``"admitted"``, ``"accepted"`` or ``"completed"``.
    """
    from datetime import timedelta

    import temporalio.api.common.v1 as common
    import temporalio.api.enums.v1 as enums
    import temporalio.api.update.v1 as upd
    import temporalio.api.workflowservice.v1 as ws
    import temporalio.service

    stage = enums.UpdateWorkflowExecutionLifecycleStage
    request = ws.PollWorkflowExecutionUpdateRequest(
        namespace=client.namespace,
        update_ref=upd.UpdateRef(
            workflow_execution=common.WorkflowExecution(workflow_id=workflow_id_of(target)),
            update_id=update_id,
        ),
        identity=client.identity,
        # the least stage: the server answers at once with the stage the update is at
        wait_policy=upd.WaitPolicy(
            lifecycle_stage=stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED
        ),
    )
    try:
        response = await client.workflow_service.poll_workflow_execution_update(
            request, retry=False, timeout=timedelta(seconds=timeout)
        )
    except temporalio.service.RPCError:
        return UPDATE_NOT_ADMITTED
    return {
        stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED: UPDATE_ADMITTED,
        stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED: UPDATE_ACCEPTED,
        stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED: UPDATE_COMPLETED,
    }.get(response.stage, UPDATE_NOT_ADMITTED)


async def update_original(
    client: temporalio.client.Client, target: str, update_id: str
) -> tuple[str, list[Any] | None]:
    """An update already sent with ``update_id``: how far it got and its arguments. Temporal
    dedupes updates by id, so sending the id again waits on that update, whatever its data.

    Args:
        client: a client of the workflow's namespace.
        target: the workflow's PID or bare workflow id.
        update_id: the id to look for.

    Returns:
        ``(stage, args)``: ``stage`` as :func:`update_stage` gives it; ``args`` the decoded
        arguments the workflow accepted it with (from the history's UpdateAccepted event), or
        None when not known (not admitted, or admitted only: the server keeps its arguments
        out of the history until the workflow accepts it).
    """
    stage = await update_stage(client, target, update_id)
    if stage in (UPDATE_NOT_ADMITTED, UPDATE_ADMITTED):
        return stage, None
    import temporalio.service

    handle = client.get_workflow_handle(workflow_id_of(target))
    try:
        async for event in handle.fetch_history_events():
            if not event.HasField("workflow_execution_update_accepted_event_attributes"):
                continue
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            if request.meta.update_id == update_id:
                payloads = list(request.input.args.payloads)
                return stage, list(await client.data_converter.decode(payloads))
    except temporalio.service.RPCError:
        pass  # the history is gone (retention): the arguments are not known
    return stage, None


async def query(
    client: temporalio.client.Client,
    target: str,
    name: str,
    *values: Any,
) -> Any:
    """Ask a running (or closed) workflow a read-only question.

    A moonflow workflow answers queries registered with ``workflow.on_query(name, fn)`` plus
    the built-ins ``pid`` and ``__stack_trace`` (the Lua traceback of each coroutine).

    Args:
        client: a client of the workflow's namespace.
        target: the workflow's PID or bare workflow id.
        name: the query name.
        *values: JSON-safe arguments, one payload each.

    Returns:
        The decoded JSON answer.

    Raises:
        WorkflowFailure: the handler failed or does not exist (kind ``NotFound``/``Internal``).
        UsageError: a value that is not JSON (naming its path), or no workflow with that id.
    """
    import temporalio.client
    import temporalio.service

    _check_values(values)
    workflow_id = workflow_id_of(target)
    try:
        return await client.get_workflow_handle(workflow_id).query(name, *values)
    except temporalio.client.WorkflowQueryFailedError as exc:
        kind = "NotFound" if "unknown query" in str(exc) else "Internal"
        raise WorkflowFailure(ErrorInfo(kind, str(exc), retryable=False)) from exc
    except temporalio.service.RPCError as exc:
        if exc.status != temporalio.service.RPCStatusCode.NOT_FOUND:
            raise
        raise await target_error(client, workflow_id, exc, f"query {name!r}") from None
