"""The paired workloads (W1..W7, M2) and the Lua micro benchmarks (M1)."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import time
import uuid
from typing import Any

from temporalio.client import Client, WorkflowHandle

from ._apps import Side
from ._stats import pct, ratio, summary

SIDES = ("lua", "native")


async def _start_many(
    side: Side, name: str, args_of: Any, n: int, conc: int = 50
) -> list[WorkflowHandle]:
    sem = asyncio.Semaphore(conc)
    wf_type = side.wf_type(name)

    async def one(i: int) -> WorkflowHandle:
        async with sem:
            return await side.client.start_workflow(
                wf_type,
                args=args_of(i),
                id=f"{side.kind}-{name}-{uuid.uuid4().hex}",
                task_queue=side.tq,
            )

    return await asyncio.gather(*(one(i) for i in range(n)))


#: W1-W3 and W6 also run native Python on the SDK's default sandboxed runner (issue 18 item 3)
WITH_SANDBOXED = ("lua", "native", "sandboxed")


def _order(rep: int, kinds: tuple[str, ...] = SIDES) -> tuple[str, ...]:
    """Alternate which side goes first in each repetition."""
    return kinds if rep % 2 == 0 else kinds[::-1]


async def drain(side: Side, name: str, args_of: Any, n: int) -> dict[str, float]:
    """Start n workflows with no worker, then one worker drains them; CPU/wall of the drain."""
    side.fresh()
    handles = await _start_many(side, name, args_of, n)
    gc.collect()
    worker = side.worker()
    c0, t0 = time.process_time(), time.perf_counter()
    async with worker:
        await asyncio.gather(*(h.result() for h in handles))
        c1, t1 = time.process_time(), time.perf_counter()
    return {
        "cpu_ms_per_wf": (c1 - c0) * 1000 / n,
        "wf_per_s": n / (t1 - t0),
        "wall_s": t1 - t0,
    }


def _pair_line(
    name: str,
    n: int,
    reps: int,
    runs: dict[str, list[dict[str, float]]],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"workload": name, "n": n, "reps": reps}
    for s in runs:
        out[s] = {k: summary([r[k] for r in runs[s]]) for k in runs[s][0]}
    out["ratio"] = {
        k: ratio(out["lua"][k]["median"], out["native"][k]["median"]) for k in runs["lua"][0]
    }
    if "sandboxed" in runs:  # lua median / sandboxed native median
        out["ratio_vs_sandboxed"] = {
            k: ratio(out["lua"][k]["median"], out["sandboxed"][k]["median"]) for k in runs["lua"][0]
        }
    if extra:
        out.update(extra)
    return out


async def run_drain(
    label: str,
    sides: dict[str, Side],
    name: str,
    args_of: Any,
    n: int,
    reps: int,
    kinds: tuple[str, ...] = WITH_SANDBOXED,
) -> dict[str, Any]:
    """W1-W3: :func:`drain` on each side of ``kinds`` in alternation. Target (issue 18): Lua
    CPU per workflow <= 1.05 x unsandboxed native and below the sandboxed side."""
    runs: dict[str, list[dict[str, float]]] = {s: [] for s in kinds}
    for rep in range(reps):
        for s in _order(rep, kinds):
            runs[s].append(await drain(sides[s], name, args_of, n))
    line = _pair_line(label, n, reps, runs)
    r = line["ratio"]["cpu_ms_per_wf"]
    met = r is not None and r <= 1.05
    if "sandboxed" in runs:
        rs = line["ratio_vs_sandboxed"]["cpu_ms_per_wf"]
        met = met and rs is not None and rs < 1.0
    line["target"] = {"cpu_ms_per_wf_ratio_max": 1.05, "below_sandboxed": True, "met": met}
    return line


#: Latency targets (issue 18): W6 p50 / p95 on the tuned server with eager start, W7 p50.
LATENCY_TARGETS: dict[str, dict[str, float]] = {
    "W6": {"p50_ms_max": 20.0, "p95_ms_max": 40.0, "p50_ratio_max": 1.10},
    "W7": {"p50_ms_max": 12.0},
}


async def _one_run(side: Side, wf: str, name: str, arg: Any) -> bool:
    """One start->result run, started as ``moonflow execute`` / ``run`` start workflows: the
    Lua side through ``moonflow.client.start_workflow`` + ``get_result`` (eager start: the
    worker runs in this process on the same client), the native side with
    ``request_eager_start=True``. Returns whether the native start was eager (the Lua API hands
    out no handle to ask: always False there; tests/integration/test_eager_start.py proves it)."""
    if side.kind == "lua":
        from moonflow.client import get_result, start_workflow

        assert side.app is not None
        wf_id, run_id, _pid = await start_workflow(
            side.client, side.app, f"app:{name}", arg, workflow_id=f"lat-{uuid.uuid4()}"
        )
        await get_result(side.client, wf_id, run_id=run_id)
        return False
    handle = await side.client.start_workflow(
        wf, arg, id=f"lat-{uuid.uuid4()}", task_queue=side.tq, request_eager_start=True
    )
    await handle.result()
    return bool(getattr(handle, "__temporal_eagerly_started", False))


async def run_latency(
    sides: dict[str, Side], n: int, reps: int, label: str = "W6"
) -> dict[str, Any]:
    """W6 / W7: n sequential start->result runs of the 1-activity workflow (W7: the activity
    is a local one) on a warm worker, started eagerly (see :func:`_one_run`)."""
    name = {"W6": "w1", "W7": "w7"}[label]
    kinds = WITH_SANDBOXED if label == "W6" else SIDES
    lat: dict[str, list[float]] = {s: [] for s in kinds}
    runs: dict[str, list[dict[str, float]]] = {s: [] for s in kinds}
    eager = {s: 0 for s in kinds}
    for rep in range(reps):
        for s in _order(rep, kinds):
            side = sides[s]
            side.fresh()
            wf = side.wf_type(name)
            async with side.worker():
                # one warm-up run so worker start-up is not measured
                await _one_run(side, wf, name, {"i": -1})
                mine = []
                gc.collect()
                c0 = time.process_time()
                for i in range(n):
                    t0 = time.perf_counter()
                    eager[s] += await _one_run(side, wf, name, {"i": i})
                    mine.append((time.perf_counter() - t0) * 1000)
                c1 = time.process_time()
            lat[s].extend(mine)
            runs[s].append(
                {
                    "p50_ms": pct(mine, 50),
                    "p95_ms": pct(mine, 95),
                    "p99_ms": pct(mine, 99),
                    "cpu_ms_per_wf": (c1 - c0) * 1000 / n,
                }
            )
    line = _pair_line(label, n, reps, runs)
    for s in kinds:
        line[s]["all_runs"] = {f"p{p}_ms": round(pct(lat[s], p), 3) for p in (50, 95, 99)}
    # how many native starts the server answered with the first workflow task (the SDK says)
    line["native_eager_starts"] = f"{eager['native']}/{n * reps}"
    if "sandboxed" in kinds:
        line["sandboxed_eager_starts"] = f"{eager['sandboxed']}/{n * reps}"
    r = ratio(line["lua"]["all_runs"]["p50_ms"], line["native"]["all_runs"]["p50_ms"])
    line["ratio"]["p50_all_runs"] = r
    limits = LATENCY_TARGETS[label]
    p50, p95 = line["lua"]["all_runs"]["p50_ms"], line["lua"]["all_runs"]["p95_ms"]
    met = p50 <= limits["p50_ms_max"] and p95 <= limits.get("p95_ms_max", float("inf"))
    if "p50_ratio_max" in limits:
        met = met and r is not None and r <= limits["p50_ratio_max"]
    line["target"] = {**limits, "met": met}
    return line


async def run_signals(sides: dict[str, Side], n: int, reps: int) -> dict[str, Any]:
    """W4: one workflow receives n signals (sent 50 at a time) then returns."""
    runs: dict[str, list[dict[str, float]]] = {s: [] for s in SIDES}
    for rep in range(reps):
        for s in _order(rep):
            side = sides[s]
            side.fresh()
            async with side.worker():
                gc.collect()
                c0, t0 = time.process_time(), time.perf_counter()
                h = await side.client.start_workflow(
                    side.wf_type("w4"), n, id=f"sig-{uuid.uuid4()}", task_queue=side.tq
                )
                sem = asyncio.Semaphore(50)

                async def send(i: int, h: WorkflowHandle = h, sem: asyncio.Semaphore = sem) -> None:
                    async with sem:
                        await h.signal("tick", i)

                await asyncio.gather(*(send(i) for i in range(n)))
                got = await h.result()
                c1, t1 = time.process_time(), time.perf_counter()
                assert got == n, got
            runs[s].append(
                {
                    "cpu_ms_per_signal": (c1 - c0) * 1000 / n,
                    "signals_per_s": n / (t1 - t0),
                    "wall_s": t1 - t0,
                }
            )
    return _pair_line("W4", n, reps, runs)


async def in_fresh_process(label: str, module: str, *args: str) -> dict[str, Any]:
    """``python -m MODULE ARGS`` (one side of a memory workload, measured in a process of its
    own); the JSON object of its last stdout line. Raises RuntimeError naming ``label`` with
    the end of its stderr when it fails."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{label} failed: {err.decode()[-2000:]}")
    return json.loads(out.decode().strip().splitlines()[-1])


async def run_memory(address: str, n: int, reps: int, *, smoke: bool = False) -> dict[str, Any]:
    """M2: n workflows idle on a 1 h timer in one worker's cache; each side in a fresh process,
    one after the other (``smoke``: both at once, as the smoke run checks the harness, not the
    figures)."""
    runs: dict[str, list[dict[str, float]]] = {s: [] for s in SIDES}
    for rep in range(reps):
        order = _order(rep)
        sides = [(f"M2 {s}", "benchmarks._m2", s, address, str(n)) for s in order]
        if smoke:
            lines = await asyncio.gather(*(in_fresh_process(*side) for side in sides))
        else:
            lines = [await in_fresh_process(*side) for side in sides]
        for s, line in zip(order, lines, strict=True):
            runs[s].append(line)
    lua_state = [r.pop("lua_state_kb_per_wf") for r in runs["lua"]]
    live_runs = [r.pop("live_runs") for r in runs["lua"]]
    for r in runs["native"]:
        r.pop("lua_state_kb_per_wf", None)
        r.pop("live_runs", None)
    line = _pair_line("M2", n, reps, runs)
    line["lua"]["lua_state_kb_per_wf"] = summary(lua_state)
    line["lua"]["live_runs"] = live_runs  # LuaRun objects alive at the end: n expected
    r = line["ratio"]["rss_kb_per_wf"]
    # issue 18: RSS per idle workflow <= 1.25 x native (issue 5 had 1.5)
    line["target"] = {
        "rss_ratio_max": 1.25,
        "lua_state_kb_max": 100,
        "met": r is not None and r <= 1.25 and line["lua"]["lua_state_kb_per_wf"]["median"] < 100,
    }
    return line


def _percentile_line(name: str, values: list[float]) -> dict[str, float]:
    return {
        "median": round(pct(values, 50), 3),
        "p95": round(pct(values, 95), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def run_micro(address: str, smoke: bool) -> dict[str, Any]:
    """M1: Lua-only micro benchmarks (µs)."""
    from moonflow.lua import LuaRun, MachineHost

    from ._apps import write_lua_app

    class FakeWorkflowHost(MachineHost):
        def now_ns(self) -> int:
            return 1_700_000_000_000_000_000

        def random_seed(self) -> int:
            return 42

    app, _ = write_lua_app(address)
    code = next(c for c in app.workflows() if c.entry.id == "app:w1")

    def new_state() -> Any:
        host = FakeWorkflowHost()
        st = LuaRun("workflow", host, app)
        host.state = st
        return st

    # state creation + one entry loaded
    k = 30 if smoke else 300
    create = []
    for _ in range(k):
        t0 = time.perf_counter()
        st = new_state()
        st.load_code(code)
        create.append((time.perf_counter() - t0) * 1e6)
    # driver round trip: kernel.run -> one yielded command -> complete -> resume
    st = new_state()
    env = st.new_env()
    env["T"] = st.module("time")
    fn = st.sys.raw.load(
        "return function(n) for i = 1, n do T.sleep('1s') end return n end", "=rt", "t", env
    )
    main = st.pcall(fn)[1][0]
    kern = st.kernel
    rounds = 2000 if smoke else 50000
    kern.start(main, st.pack([rounds]))
    status, out = kern.run()
    trips = []
    t_all = time.perf_counter()
    while status == "blocked":
        t0 = time.perf_counter()
        tag = out[1]["tag"]
        kern.complete(tag)
        status, out = kern.run()
        trips.append((time.perf_counter() - t0) * 1e6)
    t_all = time.perf_counter() - t_all
    assert status == "done", status
    # conversion of a 1,000-key nested payload
    payload = {
        f"key{i}": {
            "id": i,
            "name": f"item {i}",
            "tags": ["a", "b"],
            "ok": i % 2 == 0,
            "price": i * 1.5,
        }
        for i in range(1000)
    }
    to_lua, to_py = [], []
    for _ in range(20 if smoke else 200):
        t0 = time.perf_counter()
        lv = st.to_lua(payload, "p")
        t1 = time.perf_counter()
        back = st.to_python(lv, "p")
        t2 = time.perf_counter()
        to_lua.append((t1 - t0) * 1e6)
        to_py.append((t2 - t1) * 1e6)
    assert back == payload
    # issue 18: a 2 MB JSON payload (records like the ones above, with a null member) and
    # 600,000 empty objects (1.8 MB) entering Lua; what the worker converts after the SDK's
    # payload converter has read the JSON
    records = [
        {
            "id": i,
            "name": f"item {i}",
            "tags": ["a", "b"],
            "ok": i % 2 == 0,
            "price": i * 1.5,
            "note": None,
        }
        for i in range(24_000)
    ]
    records_bytes = len(json.dumps(records, separators=(",", ":")))
    empties = [{} for _ in range(600_000)]
    to_lua_2mb, to_lua_empties = [], []
    for _ in range(1 if smoke else 7):
        t0 = time.perf_counter()
        st.to_lua(records, "p")
        t1 = time.perf_counter()
        st.to_lua(empties, "p")
        t2 = time.perf_counter()
        to_lua_2mb.append((t1 - t0) * 1e3)
        to_lua_empties.append((t2 - t1) * 1e3)
    # one activity call through the activity runner (a fresh Lua run per call, issue 11):
    # the noop entry, argument in and result out, no server
    from moonflow.worker._activity import ActivityRunner

    worker_id = next(iter(app.workers())).entry.id
    runner = ActivityRunner(app, {c.entry.id: c for c in app.activities(worker_id)}, 64 << 20)
    for i in range(50):
        runner.call("app:noop", [i])
    calls = []
    for i in range(300 if smoke else 5000):
        t0 = time.perf_counter()
        runner.call("app:noop", [{"i": i}])
        calls.append((time.perf_counter() - t0) * 1e6)
    create_line = _percentile_line("create", create)
    trip_line = _percentile_line("trip", trips)
    return {
        "workload": "M1",
        "n": {
            "states": k,
            "round_trips": rounds,
            "conversions": len(to_lua),
            "activity_calls": len(calls),
        },
        "reps": 1,
        "lua": {
            "state_create_us": create_line,
            "round_trip_us": trip_line,
            "round_trip_mean_us": round(t_all * 1e6 / rounds, 3),
            "to_lua_1000_keys_us": _percentile_line("to_lua", to_lua),
            "to_python_1000_keys_us": _percentile_line("to_py", to_py),
            "to_lua_2mb_ms": {**_percentile_line("to_lua_2mb", to_lua_2mb), "bytes": records_bytes},
            "to_lua_600k_empty_objects_ms": _percentile_line("to_lua_empties", to_lua_empties),
            "activity_call_us": _percentile_line("activity_call", calls),
        },
        "native": None,
        "ratio": None,
        "target": {
            "state_create_us_max": 1000,
            "round_trip_us_max": 50,
            "met": create_line["median"] < 1000 and trip_line["median"] < 50,
        },
    }


async def run_replay(
    sides: dict[str, Side], events: int, resume_n: int, resume_events: int, reps: int
) -> dict[str, Any]:
    """W5: replay one ~events-long history with the Replayer; resume resume_n workflows of
    ~resume_events events on a restarted worker with an empty cache (longest activation)."""
    from ._replay import record_and_replay

    runs: dict[str, list[dict[str, float]]] = {s: [] for s in SIDES}
    for rep in range(reps):
        for s in _order(rep):
            runs[s].append(await record_and_replay(sides[s], events, resume_n, resume_events))
    line = _pair_line("W5", events, reps, runs)
    line["resume"] = {"workflows": resume_n, "events_each": resume_events}
    r = line["ratio"]["replay_cpu_ms"]
    longest = max(
        line["lua"]["longest_activation_ms"]["max"], line["native"]["longest_activation_ms"]["max"]
    )
    line["target"] = {
        "replay_ratio_max": 1.5,
        "longest_activation_ms_max": 500,
        "met": r is not None and r <= 1.5 and line["lua"]["longest_activation_ms"]["max"] < 500,
        "longest_any_side_ms": longest,
    }
    return line


def _unused(_: Client) -> None:  # keep the import used for type hints only
    pass
