"""The third side of W1-W3 and W6 (issue 18 item 3): the native workflows as a Python user
writes them by default, run by the SDK's default sandboxed workflow runner.

Kept in a module of its own that imports nothing but temporalio: the sandbox re-imports a
workflow's module for every run it starts, and ``benchmarks._apps`` would pull moonflow and
lupa into it. The activity is referred to by name (``noop``, the native side's sync activity).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow

_ACT = {"start_to_close_timeout": timedelta(seconds=60)}


@workflow.defn(name="SW1")
class SW1:
    @workflow.run
    async def run(self, x: Any) -> Any:
        return await workflow.execute_activity("noop", x, **_ACT)


@workflow.defn(name="SW2")
class SW2:
    @workflow.run
    async def run(self, n: int) -> Any:
        last = None
        for i in range(1, n + 1):
            last = await workflow.execute_activity("noop", i, **_ACT)
        return last


@workflow.defn(name="SW3")
class SW3:
    @workflow.run
    async def run(self, n: int) -> int:
        for _ in range(n):
            await asyncio.sleep(0.01)
        return n


SANDBOXED = {"w1": SW1, "w2": SW2, "w3": SW3}
