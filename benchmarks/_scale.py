"""W1x2 (issue 18 item 3): W1 drained by two worker processes on one task queue.

The parent (:func:`run_scale_out`) starts N one-activity workflows with no worker, then starts
two worker processes (``python -m benchmarks._scale SIDE ADDRESS TASK_QUEUE APP_DIR``), waits
until both have connected and built their worker, tells both to go, and waits for every result.
Each worker process measures its own CPU (``time.process_time``) from the moment it starts
polling until the parent says stop, and prints it as one JSON line. The figures: total CPU of
both worker processes per workflow, throughput and wall time of the drain. The parent's CPU
(client: starts, result polls) is not counted here, unlike W1 where the client shares the
worker's process: compare W1x2 with W1 by throughput first.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ._apps import Side
from ._workloads import SIDES, _order, _pair_line, _start_many

WORKERS = 2


async def _worker_process(kind: str, address: str, tq: str, app_dir: str) -> None:
    from temporalio.client import Client

    from moonflow.registry import load_app

    logging.getLogger("temporalio").setLevel(logging.ERROR)
    client = await Client.connect(address)
    side = Side(kind, client, address)
    side.tq = tq
    if kind == "lua":
        side.app = load_app(Path(app_dir))
    worker = side.worker()
    loop = asyncio.get_running_loop()
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # "go"
    c0 = time.process_time()
    async with worker:
        await loop.run_in_executor(None, sys.stdin.readline)  # "stop"
        c1 = time.process_time()
    print(json.dumps({"cpu_s": c1 - c0}), flush=True)


async def scale_out(side: Side, n: int) -> dict[str, float]:
    """One drain of n W1 workflows by two worker processes (see the module docstring)."""
    side.fresh()
    app_dir = str(side.app.root) if side.app is not None else ""
    handles = await _start_many(side, "w1", lambda i: [{"i": i}], n)
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks._scale",
            side.kind,
            side.address,
            side.tq,
            app_dir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for _ in range(WORKERS)
    ]
    try:
        for p in procs:
            line = await asyncio.wait_for(p.stdout.readline(), 120)  # type: ignore[union-attr]
            if line.strip() != b"ready":
                raise RuntimeError(f"W1x2 {side.kind} worker did not start: {line!r}")
        t0 = time.perf_counter()
        for p in procs:
            p.stdin.write(b"go\n")  # type: ignore[union-attr]
            await p.stdin.drain()  # type: ignore[union-attr]
        await asyncio.gather(*(h.result() for h in handles))
        t1 = time.perf_counter()
        cpu = 0.0
        for p in procs:
            p.stdin.write(b"stop\n")  # type: ignore[union-attr]
            await p.stdin.drain()  # type: ignore[union-attr]
        for p in procs:
            out = await asyncio.wait_for(p.stdout.readline(), 120)  # type: ignore[union-attr]
            cpu += json.loads(out)["cpu_s"]
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
            await p.wait()
    return {"cpu_ms_per_wf": cpu * 1000 / n, "wf_per_s": n / (t1 - t0), "wall_s": t1 - t0}


async def run_scale_out(sides: dict[str, Side], n: int, reps: int) -> dict[str, Any]:
    """W1x2: :func:`scale_out` on the Lua and the unsandboxed native side in alternation."""
    runs: dict[str, list[dict[str, float]]] = {s: [] for s in SIDES}
    for rep in range(reps):
        for s in _order(rep):
            runs[s].append(await scale_out(sides[s], n))
    line = _pair_line("W1x2", n, reps, runs)
    line["workers"] = WORKERS
    return line


if __name__ == "__main__":
    asyncio.run(_worker_process(*sys.argv[1:5]))
    # no interpreter teardown: the SDK's threads can abort it after the work is done
    sys.stdout.flush()
    os._exit(0)
