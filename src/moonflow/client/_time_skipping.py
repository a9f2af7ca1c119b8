"""Clients of a time-skipping test server: time skips only while a client waits on a result.

A client counts as time-skipping when it carries :func:`time_skipping_interceptor` (made by
:meth:`moonflow.devserver.Server.connect` for a time-skipping server) or comes from
``temporalio.testing.WorkflowEnvironment.start_time_skipping``. It lives in the client package
because waiting on a result (:func:`moonflow.client.get_result`) is where time is unlocked;
:mod:`moonflow.devserver` only launches the server and builds such clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import temporalio.client

T = TypeVar("T")

#: Seconds ``result()`` on a time-skipping server waits before it lets time skip.
LOCKED_WAIT_S = 0.25


@functools.cache
def _time_skipping_interceptor_class() -> type:
    import temporalio.client

    class _Handle(temporalio.client.WorkflowHandle):  # type: ignore[type-arg]
        async def result(self, **kwargs: Any) -> Any:
            return await await_skipping_time(self._client, super().result(**kwargs))

    class _Outbound(temporalio.client.OutboundInterceptor):
        async def start_workflow(self, input: Any) -> Any:
            handle = await super().start_workflow(input)
            handle.__class__ = _Handle
            return handle

    class TimeSkippingInterceptor(temporalio.client.Interceptor):
        """Marks a client of a time-skipping server and unlocks time in ``result()``."""

        moonflow_time_skipping = True

        def intercept_client(
            self, next: temporalio.client.OutboundInterceptor
        ) -> temporalio.client.OutboundInterceptor:
            return _Outbound(next)

    return TimeSkippingInterceptor


def time_skipping_interceptor() -> Any:
    """A client interceptor marking a time-skipping client (see :func:`time_skipping_unlocked`)."""
    return _time_skipping_interceptor_class()()


async def await_skipping_time(client: temporalio.client.Client, aw: Awaitable[T]) -> T:
    """Await ``aw`` (a wait for a workflow's result), letting a time-skipping server skip time
    while it waits, but only after :data:`LOCKED_WAIT_S` seconds with time locked.

    Once unlocked, the server skips to its next pending timer: for a run with an activity,
    its 10-year default run timeout, even when the run was about to finish. A run that
    finishes in real time therefore moves the clock by nothing; without the locked moment,
    every such run moved it ten years, and past 2262 (nanosecond timestamps overflow 64
    bits) the server's workflow tasks stop completing. Other clients: just ``await aw``.
    """
    task = asyncio.ensure_future(aw)
    try:
        done, _ = await asyncio.wait({task}, timeout=LOCKED_WAIT_S)
        if task in done:
            return task.result()
        async with time_skipping_unlocked(client):
            return await task
    finally:
        if not task.done():
            task.cancel()


@contextlib.asynccontextmanager
async def time_skipping_unlocked(client: temporalio.client.Client) -> AsyncIterator[None]:
    """Let time skip on a time-skipping server while the block runs; no-op for other clients.

    A client counts as time-skipping when it carries :func:`time_skipping_interceptor` (or
    comes from ``temporalio.testing.WorkflowEnvironment.start_time_skipping``).
    """
    from temporalio.api.testservice.v1 import LockTimeSkippingRequest, UnlockTimeSkippingRequest

    interceptors = client.config().get("interceptors", [])
    ours = any(getattr(i, "moonflow_time_skipping", False) for i in interceptors)
    sdk_env = next((getattr(i, "env", None) for i in interceptors if hasattr(i, "env")), None)
    if not ours and sdk_env is not None and hasattr(sdk_env, "time_skipping_unlocked"):
        async with sdk_env.time_skipping_unlocked():
            yield
        return
    if not ours:
        yield
        return
    # The server counts locks: concurrent waiters (tests run with --jobs, process watchers)
    # unlocking one each would drive the count below zero, and then the locks the server
    # takes itself (a running activity) no longer hold time: a workflow whose activity ran
    # saw its run timeout fire. Only the first waiter of a server unlocks, the last one
    # locks again.
    key = client.service_client.config.target_host
    waiting = _UNLOCKED.get(key, 0)
    _UNLOCKED[key] = waiting + 1
    try:
        if waiting == 0:
            await client.test_service.unlock_time_skipping(UnlockTimeSkippingRequest())
        yield
    finally:
        _UNLOCKED[key] -= 1
        if _UNLOCKED[key] == 0:
            del _UNLOCKED[key]
            with contextlib.suppress(Exception):
                await client.test_service.lock_time_skipping(LockTimeSkippingRequest())


#: Waiters with time unlocked, per time-skipping server address (see time_skipping_unlocked).
_UNLOCKED: dict[str, int] = {}
