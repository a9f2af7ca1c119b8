"""The process benchmarks (issue 14, item 6): Lua processes on moonflow's process host
(``moonflow.process.ProcessNode``) side by side with the same actors as plain asyncio tasks
and queues.

P1 spawn + exit of N monitored processes, fan-in of their results; P2 ping-pong round trips;
P3 memory per idle process (in fresh OS processes, ``_p3.py``); P4 a process starting N
workflows and awaiting their EXITs vs the Python client doing the same.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

from temporalio.client import Client

from moonflow.process import ProcessNode

from ._apps import lua_worker
from ._proc_apps import write_process_app
from ._stats import pct
from ._workloads import SIDES, _order, _pair_line, in_fresh_process

Runs = dict[str, list[dict[str, float]]]


def _check(outcome: Any, what: str) -> Any:
    if not outcome.ok:
        raise RuntimeError(f"{what} failed: {outcome.error}")
    return outcome.value


# ---- P1: spawn + exit of N monitored processes, fan-in ----------------------------------
async def _native_fan_in(n: int) -> int:
    """N tasks each return a number; a done-callback (the monitor) puts it on one queue."""
    results: asyncio.Queue[int] = asyncio.Queue()

    async def child(i: int) -> int:
        return i

    def on_exit(task: asyncio.Task[int]) -> None:
        results.put_nowait(task.result())

    for i in range(1, n + 1):
        asyncio.create_task(child(i)).add_done_callback(on_exit)
    total = 0
    for _ in range(n):
        total += await results.get()
    return total


async def _p1_once(kind: str, node: ProcessNode, n: int) -> dict[str, float]:
    gc.collect()
    c0, t0 = time.process_time(), time.perf_counter()
    if kind == "lua":
        total = _check(await node.run("app:p1_parent", [n]), "P1 parent")
    else:
        total = await _native_fan_in(n)
    c1, t1 = time.process_time(), time.perf_counter()
    assert total == n * (n + 1) // 2, total
    return {"cpu_s": c1 - c0, "wall_s": t1 - t0, "cpu_us_per_process": (c1 - c0) * 1e6 / n}


async def run_p1(n: int, reps: int) -> dict[str, Any]:
    app, _ = write_process_app()
    runs: Runs = {s: [] for s in SIDES}
    async with ProcessNode(app, {}) as node:
        # warm-up: modules loaded into the node's Lua state, asyncio paths taken once
        _check(await node.run("app:p1_parent", [50]), "P1 warm-up")
        await _native_fan_in(50)
        for rep in range(reps):
            for s in _order(rep):
                runs[s].append(await _p1_once(s, node, n))
    line = _pair_line("P1", n, reps, runs)
    r = line["ratio"]["cpu_s"]
    lua_cpu = line["lua"]["cpu_s"]["median"]
    line["target"] = {
        "cpu_ratio_max": 3.0,
        "lua_cpu_s_max": 5.0,
        "met": r is not None and r <= 3.0 and lua_cpu < 5.0,
    }
    return line


# ---- P2: ping-pong round trips ----------------------------------------------------------
async def _native_ping_pong(warm: int, n: int) -> list[int]:
    """Two tasks, two queues; a message carries its sender's queue, like a PID."""
    to_pong: asyncio.Queue[tuple[str, Any, Any]] = asyncio.Queue()
    to_ping: asyncio.Queue[tuple[str, Any, Any]] = asyncio.Queue()

    async def pong() -> None:
        while True:
            topic, value, sender = await to_pong.get()
            if topic == "stop":
                return
            sender.put_nowait(("pong", value * 10, to_pong))

    task = asyncio.create_task(pong())
    trips = []
    for i in range(1, warm + n + 1):
        t0 = time.time_ns()
        to_pong.put_nowait(("ping", i, to_ping))
        _topic, value, _from = await to_ping.get()
        t1 = time.time_ns()
        if value != i * 10:
            raise AssertionError(f"bad pong {i}")
        if i > warm:
            trips.append(t1 - t0)
    to_pong.put_nowait(("stop", None, to_ping))
    await task
    return trips


async def run_p2(n: int, reps: int) -> dict[str, Any]:
    app, _ = write_process_app()
    warm = max(100, n // 10)
    runs: Runs = {s: [] for s in SIDES}
    every: dict[str, list[float]] = {s: [] for s in SIDES}
    async with ProcessNode(app, {}) as node:
        for rep in range(reps):
            for s in _order(rep):
                gc.collect()
                if s == "lua":
                    trips = _check(await node.run("app:p2_ping", [warm, n]), "P2 ping")
                else:
                    trips = await _native_ping_pong(warm, n)
                us = [t / 1000 for t in trips]
                assert len(us) == n, len(us)
                every[s].extend(us)
                runs[s].append({"p50_us": pct(us, 50), "p99_us": pct(us, 99)})
    line = _pair_line("P2", n, reps, runs)
    line["warm_up"] = warm
    for s in SIDES:
        line[s]["all_runs"] = {f"p{p}_us": round(pct(every[s], p), 2) for p in (50, 99)}
    r = line["ratio"]["p50_us"]
    line["target"] = {"p50_ratio_max": 3.0, "met": r is not None and r <= 3.0}
    return line


# ---- P3: memory per idle process (fresh OS process per side, _p3.py) ----------------------
async def run_p3(n: int, reps: int) -> dict[str, Any]:
    runs: Runs = {s: [] for s in SIDES}
    for rep in range(reps):
        for s in _order(rep):
            runs[s].append(await in_fresh_process(f"P3 {s}", "benchmarks._p3", s, str(n)))
    lua_heap = [r.pop("lua_heap_kb_per_process") for r in runs["lua"]]
    for r in runs["native"]:
        r.pop("lua_heap_kb_per_process", None)
    line = _pair_line("P3", n, reps, runs)
    line["lua"]["lua_heap_kb_per_process"] = {
        "median": round(sorted(lua_heap)[len(lua_heap) // 2], 3),
        "min": round(min(lua_heap), 3),
        "max": round(max(lua_heap), 3),
    }
    heap = line["lua"]["lua_heap_kb_per_process"]["median"]
    line["target"] = {"lua_heap_kb_max": 20, "met": heap <= 20}
    return line


# ---- P4: a process starting N workflows vs the Python client ------------------------------
async def _client_batch(client: Client, app: Any, n: int) -> int:
    from moonflow.client import get_result, start_workflow

    async def one(i: int) -> int:
        wf_id, _run, _pid = await start_workflow(client, app, "app:p4_wf", args=[i])
        return await get_result(client, wf_id)

    return sum(await asyncio.gather(*(one(i) for i in range(1, n + 1))))


async def _p4_once(kind: str, client: Client, address: str, n: int) -> dict[str, float]:
    app, _tq = write_process_app(address)
    clients = {c.entry.id: client for c in app.clients()}
    async with lua_worker(app, client), ProcessNode(app, clients) as node:
        # warm-up on this worker: a couple of workflows through the same path
        if kind == "lua":
            _check(await node.run("app:p4_driver", [2]), "P4 warm-up")
        else:
            await _client_batch(client, app, 2)
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        if kind == "lua":
            total = _check(await node.run("app:p4_driver", [n]), "P4 driver")
        else:
            total = await _client_batch(client, app, n)
        c1, t1 = time.process_time(), time.perf_counter()
    assert total == n * (n + 1) // 2, total
    return {"wall_s": t1 - t0, "cpu_s": c1 - c0, "cpu_ms_per_wf": (c1 - c0) * 1000 / n}


async def run_p4(client: Client, address: str, n: int, reps: int) -> dict[str, Any]:
    runs: Runs = {s: [] for s in SIDES}
    for rep in range(reps):
        for s in _order(rep):
            runs[s].append(await _p4_once(s, client, address, n))
    line = _pair_line("P4", n, reps, runs)
    r = line["ratio"]["wall_s"]
    line["target"] = {"wall_ratio_max": 1.2, "met": r is not None and r <= 1.2}
    return line
