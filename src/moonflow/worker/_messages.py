"""Messages into and out of a workflow run: signals, updates, the sender PID header.

Wire contract (reference runtime §2.7, §2.11): a message is a Temporal signal named after its
topic with one JSON payload per value; the sender's PID travels in the header ``wippy-context``
(a JSON map) under ``temporal.signal.from``. An update is delivered to Lua as a message whose
sender is ``{update|<update id>}``; Lua answers with ``process.send(from, "ack" | "nak" | "ok" |
"error", value)`` and the update caller gets the result or the rejection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ContinueAsNewInput,
    ExecuteWorkflowInput,
    HandleSignalInput,
    Interceptor,
    SignalExternalWorkflowInput,
    StartActivityInput,
    StartChildWorkflowInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from ._context import CONTEXT_HEADER, FROM_KEY, ActivityContextInterceptor, outgoing, with_header
from ._context import decode as decode_context

#: Header on a continue-as-new carrying the messages the old run received but never consumed,
#: as a JSON list of ``[topic, [values...], from_pid]``; the new run queues them first.
CARRY_HEADER = "moonflow-carry"


def sender_from_headers(headers: Any) -> str | None:
    """The sender PID carried in a signal's ``wippy-context`` header, if any."""
    payload = headers.get(CONTEXT_HEADER) if headers else None
    if payload is None:
        return None
    try:
        ctx = workflow.payload_converter().from_payload(payload)
    except Exception:  # noqa: BLE001 - a foreign header must not break delivery
        return None
    value = ctx.get(FROM_KEY) if isinstance(ctx, dict) else None
    return value if isinstance(value, str) and value else None


def context_header(pid: str) -> Payload:
    return workflow.payload_converter().to_payload({FROM_KEY: pid})


@dataclass(slots=True)
class UpdateRecord:
    """One Temporal update waiting for Lua's reply."""

    state: str = "pending"  # pending -> accepted -> done
    result: Any = None
    error: str | None = None
    done: bool = False
    name: str = ""  # the update's name (its message topic)
    kind: str | None = None  # the error kind when the run ended it (driver: end_updates)
    retryable: bool = False


@dataclass(slots=True)  # one per cached run: no __dict__ (idle-run memory, benchmark M2)
class Mailbox:
    """Per-run queue of incoming messages, shared by the workflow's handlers and its driver.

    ``messages`` holds ``(topic, values, from_pid)`` in arrival order; ``values`` is a list of
    JSON-like Python values (one per payload).
    """

    pid: str = ""
    messages: list[tuple[str, list[Any], str | None]] = field(default_factory=list)
    carry: list[list[Any]] | None = None  # set just before a continue-as-new
    updates: dict[str, UpdateRecord] = field(default_factory=dict)
    sender: str | None = None  # set by the interceptor around a signal handler
    context: dict[str, Any] = field(default_factory=dict)  # the run's context values (ctx)
    query: Any = None  # the driver's query answerer, once the run started

    def push_signal(self, name: str, args: Sequence[RawValue]) -> None:
        conv = workflow.payload_converter()
        values = [conv.from_payload(a.payload) for a in args]
        self.messages.append((name, values, self.sender))

    async def run_update(self, name: str, args: Sequence[RawValue]) -> Any:
        info = workflow.current_update_info()
        uid = info.id if info else workflow.uuid4().hex
        pid = "{update|" + uid + "}"
        rec = UpdateRecord(name=name)
        self.updates[pid] = rec
        conv = workflow.payload_converter()
        self.messages.append((name, [conv.from_payload(a.payload) for a in args], pid))
        try:
            await workflow.wait_condition(lambda: rec.done)
        finally:
            self.updates.pop(pid, None)
        if rec.error is not None:
            # nak -> kind Invalid (the update was rejected); error -> kind Internal; ended by
            # the run's end -> the kind the driver set (Unavailable).
            kind = rec.kind or ("Invalid" if rec.state == "pending" else "Internal")
            raise ApplicationError(rec.error, type=kind, non_retryable=not rec.retryable)
        return rec.result

    def all_handlers_finished(self) -> bool:
        """True when every update received has been answered (workflow.all_handlers_finished)."""
        return all(rec.done for rec in self.updates.values())

    def unfinished_updates(self) -> list[tuple[str, UpdateRecord]]:
        """``(update id, record)`` of each update not answered yet, in arrival order."""
        return [(pid[8:-1], rec) for pid, rec in self.updates.items() if not rec.done]

    def reply(self, pid: str, topic: str, value: Any) -> str | None:
        """Apply Lua's reply to an update; returns an error message or None."""
        rec = self.updates.get(pid)
        if rec is None or rec.done:
            return f"no pending update {pid}"
        if topic == "ack":
            if rec.state != "pending":
                return f"update {pid} was already accepted"
            rec.state = "accepted"
        elif topic == "nak":
            if rec.state != "pending":
                return f"update {pid} was already accepted; reply with ok or error"
            rec.error = "update rejected" if value is None else str(value)
            rec.done = True
        elif topic == "ok":
            rec.result = value
            rec.state = "accepted"
            rec.done = True
        elif topic == "error":
            rec.error = "update failed" if value is None else str(value)
            rec.state = "accepted"
            rec.done = True
        else:
            return f"unknown update reply {topic!r}: use ack, nak, ok or error"
        return None


def _run_context() -> dict[str, Any]:
    mailbox = getattr(workflow.instance(), "mailbox", None)
    return mailbox.context if mailbox is not None else {}


class _Outbound(WorkflowOutboundInterceptor):
    # Everything the workflow starts or signals carries its context values (_context.py).
    def signal_external_workflow(self, input: SignalExternalWorkflowInput) -> Any:
        mailbox = getattr(workflow.instance(), "mailbox", None)
        pid = mailbox.pid if mailbox is not None else None
        input.headers = with_header(input.headers, _run_context(), pid)
        return super().signal_external_workflow(input)

    def start_activity(self, input: StartActivityInput) -> Any:
        input.headers = with_header(input.headers, outgoing(_run_context()))
        return super().start_activity(input)

    def start_local_activity(self, input: StartLocalActivityInput) -> Any:
        input.headers = with_header(input.headers, outgoing(_run_context()))
        return super().start_local_activity(input)

    async def start_child_workflow(self, input: StartChildWorkflowInput) -> Any:
        input.headers = with_header(input.headers, outgoing(_run_context()))
        return await super().start_child_workflow(input)

    def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:
        mailbox = getattr(workflow.instance(), "mailbox", None)
        input.headers = with_header(input.headers, _run_context())
        if mailbox is not None and mailbox.carry:
            headers = dict(input.headers or {})
            headers[CARRY_HEADER] = workflow.payload_converter().to_payload(mailbox.carry)
            input.headers = headers
        super().continue_as_new(input)


class _Inbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_Outbound(outbound))

    def execute_workflow(self, input: ExecuteWorkflowInput) -> Awaitable[Any]:  # type: ignore[override]
        # Not a coroutine of its own: it hands the next interceptor's coroutine back for the
        # SDK to await, so a cached run does not keep two suspended frames more (this one and
        # the base class's pass-through) for as long as it lives (benchmark M2).
        mailbox = getattr(workflow.instance(), "mailbox", None)
        if mailbox is not None:
            mailbox.context, _ = decode_context(input.headers, workflow.payload_converter())
        carried = (input.headers or {}).get(CARRY_HEADER)
        if mailbox is not None and carried is not None:
            items = workflow.payload_converter().from_payload(carried)
            # Carried messages came first: they go before anything that arrived since.
            mailbox.messages[:0] = [(str(t), list(v), f) for t, v, f in items]
        return self.next.execute_workflow(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        mailbox = getattr(workflow.instance(), "mailbox", None)
        if mailbox is None:
            return await super().handle_signal(input)
        mailbox.sender = sender_from_headers(input.headers)
        try:
            await super().handle_signal(input)
        finally:
            mailbox.sender = None


class MessagesInterceptor(Interceptor):
    """Worker interceptor: reads the sender PID of incoming signals and stamps ours on outgoing
    external signals; carries context values (``_context.py``) into and out of runs and into
    activity calls."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return ActivityContextInterceptor(next)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _Inbound
