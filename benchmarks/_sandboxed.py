"""W1-W3's Python workflows and the native side's activity, built once for two sides:

* **native** (every paired workload): run by ``UnsandboxedWorkflowRunner`` (``_apps.py``), which
  runs every workflow unsandboxed whatever its ``@workflow.defn`` says;
* **sandboxed** (W1-W3 and W6, issue 18 item 3): the same classes as a Python user writes them
  by default, ``@workflow.defn`` with the sandbox on, run by the SDK's default
  ``SandboxedWorkflowRunner``.

Kept in a module of its own that imports nothing but temporalio: the sandbox re-imports a
workflow's module for every run it starts, and ``benchmarks._apps`` would pull moonflow and
lupa into it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow

_ACT = {"start_to_close_timeout": timedelta(seconds=60)}


@activity.defn(name="noop")
def noop(x: Any) -> Any:
    """The activity of every native workflow: returns its argument (sync, on a thread pool)."""
    return x


@workflow.defn(name="NW1")
class NW1:
    @workflow.run
    async def run(self, x: Any) -> Any:
        return await workflow.execute_activity(noop, x, **_ACT)


@workflow.defn(name="NW2")
class NW2:
    @workflow.run
    async def run(self, n: int) -> Any:
        last = None
        for i in range(1, n + 1):
            last = await workflow.execute_activity(noop, i, **_ACT)
        return last


@workflow.defn(name="NW3")
class NW3:
    @workflow.run
    async def run(self, n: int) -> int:
        for _ in range(n):
            await asyncio.sleep(0.01)
        return n


SANDBOXED = {"w1": NW1, "w2": NW2, "w3": NW3}
