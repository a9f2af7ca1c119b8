"""Context values that travel with a workflow (reference-runtime.md §2.13, lua-api.md §2.6).

Wire contract: the header ``wippy-context`` holds a JSON map. Besides the sender PID of a signal
(``temporal.signal.from``, see :mod:`._messages`) it carries the **context values**: set by
``process.with_context{...}`` when a workflow is started, read inside it with ``ctx.get(key)`` /
``ctx.all()``, and passed on by the workflow, unchanged, to everything it starts: activities
(plus the values of ``funcs.new():with_context{...}`` for that one call; the reference runtime
drops these, moonflow keeps them), child workflows (plus the spawn builder's
``:with_context{...}``), continue-as-new and external signals. Activities read the values of the
call that runs them.

How the per-call values reach the header: the driver sets :data:`EXTRA` (a context variable)
around the SDK call that schedules the command; the outbound interceptor merges it over the
run's own values.
"""

from __future__ import annotations

import contextvars
import inspect
from typing import Any

from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadConverter
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
)

CONTEXT_HEADER = "wippy-context"
FROM_KEY = "temporal.signal.from"

#: Values to add for the command being scheduled (a child's with_context, a call's).
EXTRA: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "moonflow_context_extra", default=None
)
#: The context values of the activity call running in this task/thread.
ACTIVITY_CONTEXT: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "moonflow_activity_context", default=None
)


def decode(headers: Any, converter: PayloadConverter) -> tuple[dict[str, Any], str | None]:
    """``(context values, sender PID or None)`` of a ``wippy-context`` header (empty when absent
    or unreadable: a foreign header must not break a run)."""
    payload = headers.get(CONTEXT_HEADER) if headers else None
    if payload is None:
        return {}, None
    try:
        data = converter.from_payload(payload)
    except Exception:  # noqa: BLE001
        return {}, None
    if not isinstance(data, dict):
        return {}, None
    sender = data.get(FROM_KEY)
    values = {k: v for k, v in data.items() if k != FROM_KEY and isinstance(k, str)}
    return values, sender if isinstance(sender, str) and sender else None


def encode(values: dict[str, Any], sender: str | None, converter: PayloadConverter) -> Payload:
    data = dict(values)
    if sender:
        data[FROM_KEY] = sender
    return converter.to_payload(data)


def with_header(headers: Any, values: dict[str, Any], sender: str | None = None) -> Any:
    """``headers`` plus a ``wippy-context`` holding ``values`` (and ``sender``), or unchanged
    when there is nothing to carry."""
    if not values and not sender:
        return headers
    out = dict(headers or {})
    out[CONTEXT_HEADER] = encode(values, sender, workflow.payload_converter())
    return out


def outgoing(run_values: dict[str, Any]) -> dict[str, Any]:
    """The values a command scheduled now carries: the run's, then :data:`EXTRA` over them."""
    extra = EXTRA.get()
    if not extra:
        return run_values
    return {**run_values, **extra}


class ActivityContextInterceptor(ActivityInboundInterceptor):
    """Makes the call's context values readable by its Lua run (``ctx`` module)."""

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        values, _ = decode(input.headers, activity.payload_converter())
        fn = input.fn
        # Set inside the function: a synchronous activity runs on a pool thread, where a value
        # set here (in the event loop's task) would not be seen.
        if inspect.iscoroutinefunction(fn):

            async def run_async(*args: Any) -> Any:
                token = ACTIVITY_CONTEXT.set(values)
                try:
                    return await fn(*args)
                finally:
                    ACTIVITY_CONTEXT.reset(token)

            input.fn = run_async
        else:

            def run(*args: Any) -> Any:
                token = ACTIVITY_CONTEXT.set(values)
                try:
                    return fn(*args)
                finally:
                    ACTIVITY_CONTEXT.reset(token)

            input.fn = run
        return await super().execute_activity(input)
