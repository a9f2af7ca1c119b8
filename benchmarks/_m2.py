"""M2 in a fresh process: ``python -m benchmarks._m2 lua|native ADDRESS N``.

Starts a worker with a cache large enough for N workflows, starts N workflows that sleep 1 h,
waits until every one has completed its first workflow task (timer started), and prints one JSON
line: RSS growth per workflow, and (Lua) the Lua heap per workflow: the growth of every Lua
state's collectgarbage("count") after a full collection, divided by N (runs share a few states;
states created meanwhile count in full).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import time

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from ._apps import Side
from ._stats import rss_kb
from ._workloads import _start_many


async def _timer_started(h) -> bool:  # noqa: ANN001
    hist = await h.fetch_history()
    return any(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in hist.events)


def _lua_heap_kb() -> float:
    """KB held by every workflow Lua state of this process, each after a full collection."""
    from moonflow.lua import _vm

    total = 0.0
    for pool in list(_vm._pools.values()):
        for runtime in list(pool):
            runtime.collectgarbage("collect")
            total += float(runtime.collectgarbage("count"))
    return total


async def main(kind: str, address: str, n: int) -> None:
    client = await Client.connect(address)
    side = Side(kind, client, address)
    side.fresh()
    async with side.worker(max_cached_workflows=n + 100, max_concurrent_workflow_tasks=100):
        # warm the worker: run and finish one workflow so lazy imports/allocations are done
        warm = await _start_many(side, "w1", lambda i: [{"i": i}], 1)
        await warm[0].result()
        gc.collect()
        heap_before = _lua_heap_kb() if kind == "lua" else 0.0
        before = rss_kb()
        t0 = time.perf_counter()
        handles = await _start_many(side, "idle", lambda i: [i], n)
        sample = handles[:: max(1, n // 40)] + handles[-10:]
        while True:
            done = await asyncio.gather(*(_timer_started(h) for h in sample))
            if all(done):
                break
            await asyncio.sleep(0.5)
        # give the worker a moment to finish any in-flight activations
        await asyncio.sleep(1.0)
        del handles, sample
        gc.collect()
        after = rss_kb()
        lua_kb = 0.0
        live_runs = n
        if kind == "lua":
            from moonflow.lua import LuaRun

            lua_kb = _lua_heap_kb() - heap_before
            live_runs = sum(1 for o in gc.get_objects() if isinstance(o, LuaRun))
        print(
            json.dumps(
                {
                    "rss_kb_per_wf": (after - before) / n,
                    "rss_before_mb": before / 1024,
                    "rss_after_mb": after / 1024,
                    "lua_state_kb_per_wf": lua_kb / n,
                    "live_runs": live_runs,
                    "settle_s": time.perf_counter() - t0,
                }
            ),
            flush=True,
        )
        # the 1 h timers are left to the in-memory server, which is discarded with the run


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    # no interpreter teardown: the SDK's threads can abort it after the work is done
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
