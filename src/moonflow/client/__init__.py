"""The Python API for talking to Temporal about an app: connect, start, message, wait, manage.

Everything here takes a :class:`temporalio.client.Client` (from :func:`connect`, or from
``moonflow.devserver.open_server(...).clients``) and, where an entry is named, the loaded
:class:`moonflow.registry.App`. Wherever a workflow is the *target*, its PID
``{client@worker|id}`` or its bare workflow id works.

Wire contracts (shared with the reference runtime, so both can work on one namespace):

* Workflow type = ``app.workflow_type(entry_id)`` (the entry id ``ns:name`` unless
  ``meta.temporal.workflow.name`` overrides it); task queue = ``app.task_queue(worker_id)``.
* Input: exactly one payload holding the JSON value when an input is given, no payload otherwise.
  Payloads use the SDK's default converter (``json/plain``; ``None`` -> ``binary/null``).
* A workflow's PID is ``{<client entry id>@<worker entry id>|<workflow id>}``.
* A message is a Temporal signal named after its topic, one payload per value; the sender's PID,
  when there is one, is ``temporal.signal.from`` in the JSON map of the ``wippy-context``
  header. Startup messages use signal-with-start for the first, then plain signals, in order.
  Topics starting with ``@`` are reserved.
* An update is a Temporal update named after its topic; the workflow answers it.
* A failed run (or update) becomes :class:`moonflow.errors.WorkflowFailure`: kind from the
  failure's ``ApplicationError.type`` (through :func:`moonflow.errors.kind_from_type`),
  retryable = ``not non_retryable``; a timeout is kind ``Timeout``, a cancel or terminate kind
  ``Canceled``.
* An unknown workflow id raises :class:`WorkflowNotFound` (a
  :class:`moonflow.errors.UsageError`, one line).

Example::

    client = await connect("localhost:7233")
    ref = await start(client, app, "app:order_workflow", {"id": 1}, signals=[("go", None)])
    await ref.signal("approve", {"by": "ada"})
    print(await ref.describe())
    result = await ref.result()
"""

from __future__ import annotations

from moonflow.client._connect import (
    DEFAULT_CONNECT_TIMEOUT,
    ConnectionFailed,
    connect,
    connect_entry,
)
from moonflow.client._manage import (
    DEFAULT_LIST_LIMIT,
    cancel,
    describe,
    history,
    list_workflows,
    terminate,
)
from moonflow.client._messages import (
    CONTEXT_HEADER,
    SENDER_KEY,
    check_topic,
    query,
    sender_interceptor,
    signal,
    update,
)
from moonflow.client._ref import WorkflowRef, get_workflow, start
from moonflow.client._run import (
    NO_INPUT,
    StartSignal,
    failure_info,
    get_result,
    resolve_workflow_entry,
    start_workflow,
)
from moonflow.client._target import (
    WorkflowNotFound,
    format_pid,
    parse_pid,
    workflow_id_of,
)

__all__ = [
    "CONTEXT_HEADER",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_LIST_LIMIT",
    "NO_INPUT",
    "SENDER_KEY",
    "ConnectionFailed",
    "StartSignal",
    "WorkflowNotFound",
    "WorkflowRef",
    "cancel",
    "check_topic",
    "connect",
    "connect_entry",
    "describe",
    "failure_info",
    "format_pid",
    "get_result",
    "get_workflow",
    "history",
    "list_workflows",
    "parse_pid",
    "query",
    "resolve_workflow_entry",
    "sender_interceptor",
    "signal",
    "start",
    "start_workflow",
    "terminate",
    "update",
    "workflow_id_of",
]
