"""Starting workflows of an app and reading their results.

* Workflow type = ``app.workflow_type(entry_id)``; task queue = ``app.task_queue(worker_id)``.
* Input: exactly one payload holding the JSON value when an input is given, no payload otherwise.
* Startup messages: the first with signal-with-start, the others right after, in order.
* A failed run becomes :class:`moonflow.errors.WorkflowFailure` (see :func:`failure_info`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from moonflow.client._messages import START_CONTEXT, _client_with_sender
from moonflow.client._request_ids import REQUEST_ID, client_with_request_ids, message_request_id
from moonflow.client._target import WorkflowNotFound, format_pid, is_not_found, workflow_id_of
from moonflow.client._values import check_value, check_values
from moonflow.errors import (
    CANCELED,
    TERMINATED,
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


def resolve_workflow_entry(
    app: App, entry_id: str, *, app_dir: str | None = None
) -> tuple[str, str, str]:
    """Find a ``workflow.lua`` entry and where it runs.

    Args:
        app: the loaded app.
        entry_id: ``"ns:name"``, or a bare ``"name"`` when exactly one entry has that name.
        app_dir: the app folder as the caller typed it, for messages (default: ``app.root``).

    Returns:
        ``(entry_id, worker_id, client_id)`` with full ids.

    Raises:
        AppError: the entry is a ``workflow.lua`` that no worker runs (it names no
            ``meta.temporal.workflow.worker``); located at the entry, the fix in the message.
        UsageError: no such workflow entry (with the nearest workflow id as a did-you-mean),
            or the id names an entry of another kind.
    """
    import difflib

    if not isinstance(entry_id, str):
        raise UsageError(f"entry_id must be a string like 'ns:name', got {entry_id!r}")
    ids = sorted(e.id for e in app.entries.values() if e.kind == "workflow.lua")
    found = entry_id
    if ":" not in entry_id:
        named = [i for i in ids if i.rpartition(":")[2] == entry_id]
        if not named:  # a bare name of another kind of entry: said as such below
            named = [e.id for e in app.entries.values() if e.name == entry_id]
        found = named[0] if len(named) == 1 else entry_id
    entry = app.entries.get(found)
    if entry is None:
        names = {i.rpartition(":")[2]: i for i in ids}
        lower = {i.lower(): i for i in ids}  # APP:HELLO -> app:hello
        close = (
            difflib.get_close_matches(entry_id, ids, n=1)
            or [names[n] for n in difflib.get_close_matches(entry_id, list(names), n=1)]
            or [lower[n] for n in difflib.get_close_matches(entry_id.lower(), list(lower), n=1)]
        )
        hint = f": did you mean {close[0]}?" if close else ""
        where = app_dir if app_dir is not None else app.root
        raise UsageError(
            f"no workflow entry {entry_id!r} in {where}{hint} (workflows: "
            f"{', '.join(ids) or 'none'})"
        )
    if entry.kind != "workflow.lua":
        raise UsageError(
            f"{found} is a {entry.kind} entry, not a workflow (workflows: "
            f"{', '.join(ids) or 'none'})"
        )
    worker_id = app.spec(found).workflow_worker
    if not worker_id:
        workers = ", ".join(w.entry.id for w in app.workers()) or "none yet: add a temporal.worker"
        raise entry.error(
            "no worker runs this workflow (it has no meta.temporal.workflow.worker): add meta: "
            "{temporal: {workflow: {worker: <id>}}} naming a temporal.worker entry (the app's "
            f"workers: {workers})",
            "meta.temporal",
        )
    client_id = app.client_of(worker_id).entry.id
    return found, worker_id, client_id


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


#: The server's words for a search attribute it does not know.
_UNMAPPED_ATTRIBUTE = re.compile(r"no mapping defined for search attribute (\S+)")

#: Option names that only mean something for a child workflow (refused at a top-level start).
_CHILD_ONLY = ("parent_close_policy", "wait_for_cancellation")


def start_options(options: Mapping[str, Any] | None) -> Any:
    """Parse a start option table (the keys Lua uses: ``workflow.id``,
    ``workflow.execution_timeout``, ``temporal.workflow.id_reuse_policy``, ...).

    Returns:
        A ``moonflow.worker._workflow_options.StartOptions``.

    Raises:
        UsageError: an unknown key, a bad value, or a child-only option; one line naming the key.
    """
    from temporalio.common import WorkflowIDReusePolicy

    from moonflow.worker._options import OptionError
    from moonflow.worker._workflow_options import workflow_options

    if options is not None and not isinstance(options, Mapping):
        raise UsageError(f"options: expected a mapping of option = value, got {options!r}")
    try:
        parsed = workflow_options(dict(options) if options is not None else None)
    except OptionError as exc:
        raise UsageError(f"options: {_naming_the_key(options or {}, str(exc))}") from None
    for name, value in parsed.durations.items():
        if value.total_seconds() < 0:
            raise UsageError(
                f"options: workflow.{name} must not be negative, got {value.total_seconds():g}s"
            )
    if (
        parsed.reuse_policy == WorkflowIDReusePolicy.TERMINATE_IF_RUNNING
        and parsed.conflict_policy is not None
    ):
        raise UsageError(
            "options: workflow.id_reuse_policy terminate_if_running cannot be combined "
            "with workflow.id_conflict_policy (use id_conflict_policy terminate_existing alone)"
        )
    for name in _CHILD_ONLY:
        if getattr(parsed, name) is not None:
            raise UsageError(
                f"options: workflow.{name} applies to child workflows only, not to a "
                "top-level start"
            )
    return parsed


def _naming_the_key(options: Mapping[str, Any], message: str) -> str:
    """``message`` of an invalid option table, prefixed with the bad key when it names none
    (``retry_policy: {"maximum_attempts": "x"}`` fails in ``int()``)."""
    from moonflow.worker._options import OptionError
    from moonflow.worker._workflow_options import workflow_options

    for key, value in options.items():
        try:
            workflow_options({key: value})
        except OptionError:
            short = str(key).rpartition(".")[2]
            return message if short in message else f"{key}: {message}"
    return message


async def _running_run_id(client: temporalio.client.Client, workflow_id: str) -> str | None:
    """The run id of the workflow id's running run, or None (no such id, or closed)."""
    import temporalio.client
    import temporalio.service

    try:
        desc = await client.get_workflow_handle(workflow_id).describe()
    except temporalio.service.RPCError as exc:
        if is_not_found(exc):
            return None
        raise
    if desc.status == temporalio.client.WorkflowExecutionStatus.RUNNING:
        return desc.run_id
    return None


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
    options: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    args: Sequence[Any] | None = None,
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
            as the reference runtime does. They carry no sender.
        search_attributes: initial search attributes, typed as for ``workflow.attrs``: the
            type declared in the app's ``temporal.client`` entry wins, otherwise it is
            inferred (string -> Keyword, boolean -> Bool, integer -> Int, float -> Double,
            list of strings -> KeywordList); a value of the wrong type is a UsageError.
        memo: initial memo (a JSON map).
        options: a start option table with the keys Lua uses for child workflows
            (``workflow.<name>`` or ``temporal.workflow.<name>``): ``id``, ``task_queue``,
            ``execution_timeout`` / ``run_timeout`` / ``task_timeout`` / ``start_delay`` (Go
            duration strings such as ``"72h"``, or milliseconds), ``id_conflict_policy``
            (``use_existing`` | ``fail`` | ``terminate_existing``),
            ``execution_error_when_already_started``, ``id_reuse_policy``, ``retry_policy``,
            ``cron_schedule``, ``memo``, ``search_attributes`` (typed as above), ``summary``,
            ``details``, ``request_id`` (see below). ``parent_close_policy`` and
            ``wait_for_cancellation`` are for child workflows and refused here. **An explicit
            argument wins** over the option that sets the same thing: ``workflow_id`` over
            ``workflow.id``, ``task_queue`` over ``workflow.task_queue``, ``memo`` over
            ``workflow.memo`` and ``search_attributes`` over ``workflow.search_attributes`` (the
            whole map is replaced, not merged).
        args: several inputs, one payload (one Lua argument) each; replaces ``input`` (what a
            process's ``process.spawn(id, host, a, b)`` sends).
        context: context values (a JSON map) the workflow reads with ``ctx.get`` /
            ``ctx.all`` and passes on to what it starts (the ``wippy-context`` header, as
            ``process.with_context`` sets it from Lua).

    When the workflow id is already running, the id-conflict behaviour decides:

    * ``use_existing``: nothing new starts; the running run's ids are returned and the
      startup messages are delivered to it (the input is then unused);
    * ``fail``: :class:`~moonflow.errors.UsageError`, nothing is delivered;
    * ``terminate_existing``: the running run is terminated and a new one starts.

    The behaviour is the ``workflow.id_conflict_policy`` option when given; else ``fail``
    with ``workflow.execution_error_when_already_started = true``; else ``use_existing``
    when the id comes from the ``workflow.id`` option (the reference runtime's default for an
    explicit id); else, as before options existed, ``use_existing`` with startup messages
    and ``fail`` without.

    With ``workflow.request_id``, a start retried after a lost response (or after the run
    completed) starts nothing new and delivers no startup message twice: Temporal keeps the
    request ids of each run's start and of each signal. Without an explicit id the workflow id
    is then ``"<entry name>-<request id>"``, so the retry finds the same workflow.

    A start without startup messages, ``start_delay`` or ``cron_schedule`` asks for eager
    workflow start (Temporal): when this process runs a worker of the task queue on ``client``
    (or a client sharing its connection), the server hands the first workflow task back in
    the start response (no wait in the task queue: ~50 ms less on a server with the default
    ``history.transferProcessorMaxPollRPS``); otherwise the SDK leaves the request out.

    Returns:
        ``(workflow_id, run_id, pid)``; ``pid`` is ``"{client@worker|workflow_id}"``.

    Raises:
        UsageError: unknown entry, a value that is not JSON (an int key, NaN, a set, bytes, an
            object: naming its path, ``input.d: keys must be strings, got 1``; checked before
            any request), a bad startup message, an invalid option (naming its
            key), the id is already running and the conflict behaviour is ``fail``, or the
            id reuse policy refuses a new run.
    """
    import temporalio.exceptions
    import temporalio.service
    from temporalio.common import WorkflowIDReusePolicy

    opts = start_options(options)
    messages = [signal_parts(m) for m in signals]
    entry_id, worker_id, client_id = resolve_workflow_entry(app, entry_id)
    if opts.conflict_policy is not None or opts.error_when_already_started or opts.id:
        conflict = opts.conflict
    else:
        conflict = "use_existing" if messages else "fail"
    name = entry_id.rpartition(":")[2]
    # With a request id and no id, the id comes from the request id: a retry must find the run.
    suffix = opts.request_id or uuid.uuid4().hex[:12]
    wf_id = workflow_id or opts.id or f"{name}-{suffix}"
    if args is not None:
        args = list(args)
        check_values(args, "args[{}]", "args")
    else:
        args = [] if input is NO_INPUT else [input]
        for arg in args:
            check_value(arg, "input")
    for i, (_, values) in enumerate(messages):
        for value in values:
            check_value(value, f"signals[{i}][1]")
    kwargs: dict[str, Any] = opts.client_kwargs()
    kwargs["id_conflict_policy"] = _conflict_policy(conflict)
    if opts.reuse_policy == WorkflowIDReusePolicy.TERMINATE_IF_RUNNING:
        conflict = "terminate_existing"
        del kwargs["id_conflict_policy"]
    if messages:
        kwargs["start_signal"] = messages[0][0]
        kwargs["start_signal_args"] = messages[0][1]
        if conflict == "fail":
            # Signal-with-start has no "fail" (servers refuse it or ignore it): look first.
            del kwargs["id_conflict_policy"]
    elif not kwargs.get("start_delay") and not kwargs.get("cron_schedule"):
        # Eager workflow start (issue 18): the server hands the first workflow task back in
        # the start response instead of queueing it (~50 ms less on a default server). The
        # SDK asks for it only when a worker of this task queue runs in this process on the
        # same connection (a client sharing `client`'s service client); otherwise the start
        # is the ordinary one. Signal-with-start has no eager form, and a delayed or cron
        # start has no first task to hand back.
        kwargs["request_eager_start"] = True
    attrs = search_attributes if search_attributes is not None else opts.search_attributes
    if attrs:
        from moonflow.worker._workflow_host import typed_search_attributes

        declared = dict(app.client_of(worker_id).search_attributes or {})
        try:
            kwargs["search_attributes"] = typed_search_attributes(declared, dict(attrs))
        except ValueError as exc:
            raise UsageError(f"search attributes: {exc}") from None
    if memo is not None:
        kwargs["memo"] = dict(memo)
    if not kwargs.get("memo"):
        kwargs.pop("memo", None)
    else:
        check_value(kwargs["memo"], "memo")

    if context is not None and not isinstance(context, Mapping):
        raise UsageError("context must be a map of name -> JSON value")
    if context:
        check_value(dict(context), "context")
    starter = _client_with_sender(client) if context else client
    request_id = opts.request_id
    if request_id:
        starter = client_with_request_ids(starter)
        earlier = await _run_of_request(client, wf_id, request_id)
        if earlier is not None:
            # This start was made before (its response was lost, or the caller retries):
            # nothing new starts; messages not yet recorded on a running run are delivered.
            run_id, running, current = earlier
            if running and current:
                # (a later run of the chain already had them: continue-as-new, retry)
                await _signal_rest(
                    starter.get_workflow_handle(wf_id), messages, request_id, retry=True
                )
            return wf_id, run_id, format_pid(client_id, worker_id, wf_id)

    async def start() -> Any:
        token = START_CONTEXT.set(context) if context else None
        rid_token = REQUEST_ID.set(request_id)
        try:
            return await starter.start_workflow(
                app.workflow_type(entry_id),
                args=args,
                id=wf_id,
                task_queue=task_queue or opts.task_queue or app.task_queue(worker_id),
                **kwargs,
            )
        finally:
            REQUEST_ID.reset(rid_token)
            if token is not None:
                START_CONTEXT.reset(token)

    before = (
        await _running_run_id(client, wf_id) if messages and conflict != "use_existing" else None
    )
    if before and conflict == "fail":
        raise _already_running(wf_id)
    try:
        handle = await start()
    except temporalio.exceptions.WorkflowAlreadyStartedError as exc:
        running = await _running_run_id(client, wf_id)
        if running and conflict == "use_existing" and not messages:
            # A server that ignores the conflict policy: the running run is the answer.
            return wf_id, running, format_pid(client_id, worker_id, wf_id)
        if running:
            raise _already_running(wf_id) from None
        raise UsageError(
            f"workflow id {wf_id!r} was used before and the id reuse policy refuses a new "
            f"run (run {exc.run_id or '?'}); set workflow.id_reuse_policy or pick another id"
        ) from None
    except temporalio.service.RPCError as exc:
        missing = _UNMAPPED_ATTRIBUTE.search(exc.message or "")
        if missing is None:
            raise
        raise UsageError(
            f"search attribute {missing.group(1)!r} is not registered on the server: declare "
            "it under search_attributes: in the temporal.client entry (moonflow registers "
            "declared ones on servers it starts), or register it on your cluster"
        ) from None
    if before and handle.result_run_id == before:
        # A server that ignores the conflict policy of signal-with-start (the time-skipping
        # test server) gave the first message to the running run: terminate it, as asked,
        # and start anew.
        await client.get_workflow_handle(wf_id, run_id=before).terminate(
            "replaced by a new start (terminate_existing)"
        )
        handle = await start()
    await _signal_rest(handle, messages, request_id)
    run_id = handle.first_execution_run_id or handle.result_run_id or ""
    return wf_id, run_id, format_pid(client_id, worker_id, wf_id)


async def _run_of_request(
    client: temporalio.client.Client, workflow_id: str, request_id: str
) -> tuple[str, bool, bool] | None:
    """``(first run id, running?, current run?)`` when a start with ``request_id`` made the
    latest run of ``workflow_id`` or the first run of its chain (a run continued-as-new or
    retried by Temporal keeps no request ids), else None."""
    import temporalio.client
    import temporalio.service

    try:
        desc = await client.get_workflow_handle(workflow_id).describe()
    except temporalio.service.RPCError as exc:
        if is_not_found(exc):
            return None
        raise
    running = desc.status == temporalio.client.WorkflowExecutionStatus.RUNNING
    first = desc.raw_description.workflow_execution_info.first_run_id or desc.run_id
    if request_id in desc.raw_description.workflow_extended_info.request_id_infos:
        return first, running, True
    if first and first != desc.run_id:
        try:
            origin = await client.get_workflow_handle(workflow_id, run_id=first).describe()
        except temporalio.service.RPCError as exc:
            if is_not_found(exc):  # past retention
                return None
            raise
        if request_id in origin.raw_description.workflow_extended_info.request_id_infos:
            return first, running, False
    return None


async def _signal_rest(
    handle: Any,
    messages: Sequence[tuple[str, list[Any]]],
    request_id: str | None,
    *,
    retry: bool = False,
) -> None:
    """Send the startup messages after the first (which went with the start), in order; with
    a request id, each carries one derived from it so a retry does not deliver it twice.

    On a ``retry`` the run's history decides: a message whose derived request id is recorded
    is not sent again. A server that records no request ids on signals (Temporal's
    time-skipping test server, which does not deduplicate them either) gets none of them
    again: they went out right after the first start."""
    rest = list(enumerate(messages[1:], 1))
    if retry and request_id and rest:
        recorded: set[str] = set()
        signals = 0
        async for event in handle.fetch_history_events():
            if event.HasField("workflow_execution_signaled_event_attributes"):
                signals += 1
                rid = event.workflow_execution_signaled_event_attributes.request_id
                if rid:
                    recorded.add(rid)
        if signals and not recorded:
            return
        rest = [(i, m) for i, m in rest if message_request_id(request_id, i) not in recorded]
    for index, (topic, values) in rest:
        token = REQUEST_ID.set(message_request_id(request_id, index) if request_id else None)
        try:
            await handle.signal(topic, args=values)
        finally:
            REQUEST_ID.reset(token)


async def _with_cancel_reason(handle: Any, info: ErrorInfo) -> ErrorInfo:
    """A Canceled result's ErrorInfo with the reason given to the cancel request (Temporal
    keeps it only on the request's history event, not on the close)."""
    from moonflow.worker._failures import _cancel_reason

    try:
        async for event in handle.fetch_history_events():
            if event.HasField("workflow_execution_cancel_requested_event_attributes"):
                raw = event.workflow_execution_cancel_requested_event_attributes.cause
                reason, _sender = _cancel_reason(raw)
                if reason:
                    message = f"workflow canceled: {reason}"
                    return ErrorInfo(info.kind, message, info.retryable, info.details)
                return info
    except Exception:  # noqa: BLE001 - the reason is a nicety; the failure stands as it is
        return info
    return info


def _conflict_policy(conflict: str) -> Any:
    from temporalio.common import WorkflowIDConflictPolicy

    return {
        "use_existing": WorkflowIDConflictPolicy.USE_EXISTING,
        "fail": WorkflowIDConflictPolicy.FAIL,
        "terminate_existing": WorkflowIDConflictPolicy.TERMINATE_EXISTING,
    }[conflict]


def _already_running(workflow_id: str) -> UsageError:
    return UsageError(
        f"a workflow with id {workflow_id!r} is already running; pick another id, or set "
        "workflow.id_conflict_policy to use_existing or terminate_existing"
    )


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
    (retryable); ``CancelledError`` gives kind ``Canceled`` and ``TerminatedError`` kind
    ``Terminated`` (not retryable).
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
            return ErrorInfo(TERMINATED, f"workflow terminated: {reason}", False)
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
    ``moonflow.devserver.open_server("time-skipping")``) time is skipped while waiting.

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

    from moonflow.client._time_skipping import await_skipping_time

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
        info = failure_info(exc)
        if info.kind == CANCELED:
            info = await _with_cancel_reason(handle, info)
        raise WorkflowFailure(info) from exc
    except temporalio.service.RPCError as exc:
        if is_not_found(exc):
            raise WorkflowNotFound(workflow_id, client.namespace) from None
        raise
