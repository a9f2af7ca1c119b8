"""P3 in a fresh process: ``python -m benchmarks._p3 lua|native N``.

Lua: N ``process.lua`` processes on one ``ProcessNode``, each waiting on its inbox. Native: N
asyncio tasks, each waiting on its own queue. After a warm-up (one process started and ended,
so modules are loaded), prints one JSON line: VmRSS growth per process and (Lua) the growth of
the node's Lua state (``collectgarbage("count")`` after a full collection) per process.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import time
from typing import Any

from ._stats import rss_kb


def _heap_kb(node: Any) -> float:
    node.vm.collectgarbage("collect")
    return float(node.vm.collectgarbage("count"))


async def _lua(n: int) -> dict[str, float]:
    from moonflow.process import ProcessNode

    from ._proc_apps import write_process_app

    app, _ = write_process_app()
    async with ProcessNode(app, {}) as node:
        warm = node.spawn("app:p3_idle")
        await asyncio.sleep(0.05)
        node.deliver(warm.pid, "stop", [], None)
        assert (await warm.done).ok
        gc.collect()
        heap0, rss0 = _heap_kb(node), rss_kb()
        t0 = time.perf_counter()
        procs = [node.spawn("app:p3_idle") for _ in range(n)]
        await asyncio.sleep(0)
        while not node.settled:  # every one has run up to its receive
            await asyncio.sleep(0.01)
        settle = time.perf_counter() - t0
        assert not any(p.closed for p in procs)
        gc.collect()
        heap1, rss1 = _heap_kb(node), rss_kb()
        return {
            "rss_kb_per_process": (rss1 - rss0) / n,
            "lua_heap_kb_per_process": (heap1 - heap0) / n,
            "rss_after_mb": rss1 / 1024,
            "settle_s": settle,
        }


async def _native(n: int) -> dict[str, float]:
    async def idle(q: asyncio.Queue[Any]) -> Any:
        return await q.get()

    warm: asyncio.Queue[Any] = asyncio.Queue()
    task = asyncio.create_task(idle(warm))
    await asyncio.sleep(0)
    warm.put_nowait("stop")
    await task
    gc.collect()
    rss0 = rss_kb()
    t0 = time.perf_counter()
    queues: list[asyncio.Queue[Any]] = [asyncio.Queue() for _ in range(n)]
    tasks = [asyncio.create_task(idle(q)) for q in queues]
    await asyncio.sleep(0.01)  # each task has run up to its get()
    settle = time.perf_counter() - t0
    assert not any(t.done() for t in tasks)
    gc.collect()
    rss1 = rss_kb()
    return {
        "rss_kb_per_process": (rss1 - rss0) / n,
        "rss_after_mb": rss1 / 1024,
        "settle_s": settle,
    }


if __name__ == "__main__":
    kind, count = sys.argv[1], int(sys.argv[2])
    line = asyncio.run(_lua(count) if kind == "lua" else _native(count))
    print(json.dumps(line), flush=True)
    sys.stderr.flush()
    os._exit(0)
