"""``python -m benchmarks [--smoke] [--only NAME[,NAME]] [--reps N]``

Starts an in-memory bundled Temporal dev server on free ports, runs each workload as a pair
(moonflow Lua vs native temporalio Python, unsandboxed, same activities; for P1-P4 Lua
processes vs plain asyncio tasks and queues, or the Python client) in alternation, and prints
one JSON line per workload (after a first line with the machine info).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from moonflow.devserver._launch import DEV_DYNAMIC_CONFIG

from ._apps import Side
from ._stats import machine_info
from ._workloads import (
    run_drain,
    run_latency,
    run_memory,
    run_micro,
    run_replay,
    run_signals,
)

ALL = ["W1", "W1x2", "W2", "W3", "W6", "W7", "M1", "W4", "M2", "W5", "P1", "P2", "P3", "P4"]

#: (full, smoke) sizes
SIZES: dict[str, tuple[Any, Any]] = {
    "W1": (500, 20),
    "W1x2": (1_000, 20),
    "W2": (100, 5),
    "W3": (100, 3),
    "W4": (500, 20),
    "W5": ((10_000, 50, 2_000), (300, 2, 120)),
    "W6": (200, 10),
    "W7": (200, 10),
    "M2": (2_000, 50),
    "P1": (10_000, 200),
    "P2": (10_000, 200),
    "P3": (10_000, 200),
    "P4": (200, 5),
}


_OUT: Any = None


def _emit(obj: dict[str, Any]) -> None:
    print(json.dumps(obj), file=_OUT or sys.stdout, flush=True)


def _claim_stdout() -> None:
    """Keep stdout for the JSON lines only: anything else written to fd 1 (the dev server's
    banner, SDK noise) goes to stderr."""
    global _OUT
    sys.stdout.flush()
    _OUT = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)


async def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, 1 repetition (CI)")
    p.add_argument("--only", default="", help="comma-separated workloads, e.g. W1,M1")
    p.add_argument("--reps", type=int, default=None, help="repetitions per side (default 3)")
    args = p.parse_args(argv)
    only = [w.strip().upper().replace("X", "x") for w in args.only.split(",") if w.strip()] or ALL
    unknown = set(only) - set(ALL)
    if unknown:
        p.error(f"unknown workload(s): {', '.join(sorted(unknown))}; known: {', '.join(ALL)}")
    reps = args.reps or (1 if args.smoke else 3)
    size = {k: v[1] if args.smoke else v[0] for k, v in SIZES.items()}
    logging.getLogger("temporalio").setLevel(logging.ERROR)

    _claim_stdout()
    temporal = str(Path(sys.executable).parent / "temporal")
    _emit({**machine_info(temporal), "smoke": args.smoke, "reps": reps})
    # The server as moonflow's embedded and memory servers run it: a transfer-queue poll rate
    # tuned for latency (devserver/_launch.py; issue 18), for both sides.
    tuning = [f"{k}={v}" for k, v in DEV_DYNAMIC_CONFIG.items()]
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal,
        dev_server_log_level="error",
        dev_server_extra_args=[a for kv in tuning for a in ("--dynamic-config-value", kv)],
    )
    try:
        address = env.client.service_client.config.target_host
        sides = {k: Side(k, env.client, address) for k in ("lua", "native", "sandboxed")}
        for name in [w for w in ALL if w in only]:
            t0 = time.perf_counter()
            if name == "W1":
                line = await run_drain("W1", sides, "w1", lambda i: [{"i": i}], size["W1"], reps)
            elif name == "W1x2":
                from ._scale import run_scale_out

                line = await run_scale_out(sides, size["W1x2"], reps)
            elif name == "W2":
                line = await run_drain("W2", sides, "w2", lambda i: [20], size["W2"], reps)
            elif name == "W3":
                # smoke: one timer (on the dev server a 10 ms timer fires about 1 s later)
                timers = 1 if args.smoke else 20
                line = await run_drain("W3", sides, "w3", lambda i, t=timers: [t], size["W3"], reps)
            elif name in ("W6", "W7"):
                line = await run_latency(sides, size[name], reps, name)
            elif name == "M1":
                line = run_micro(address, args.smoke)
            elif name == "W4":
                line = await run_signals(sides, size["W4"], reps)
            elif name == "M2":
                line = await run_memory(
                    address, size["M2"], 1 if args.smoke else min(reps, 2), smoke=args.smoke
                )
            elif name == "W5":
                ev, rn, rev = size["W5"]
                line = await run_replay(sides, ev, rn, rev, 1 if args.smoke else min(reps, 2))
            elif name.startswith("P"):
                line = await _run_process_workload(name, size[name], reps, args.smoke, env, address)
            line["elapsed_s"] = round(time.perf_counter() - t0, 2)
            _emit(line)
    finally:
        await env.shutdown()
    return 0


async def _run_process_workload(
    name: str, n: int, reps: int, smoke: bool, env: WorkflowEnvironment, address: str
) -> dict[str, Any]:
    """P1-P4 (issue 14): Lua processes vs asyncio tasks; imported here so the W/M workloads
    run without the process host."""
    from ._processes import run_p1, run_p2, run_p3, run_p4

    if name == "P1":
        return await run_p1(n, reps)
    if name == "P2":
        return await run_p2(n, reps)
    if name == "P3":
        return await run_p3(n, 1 if smoke else min(reps, 2))
    return await run_p4(env.client, address, n, reps)


def _terminate(signum: int, frame: object) -> None:
    # SIGTERM (a killed CI job, `kill`) unwinds like Ctrl-C, so the finally above shuts the
    # dev server down instead of leaving it running without its parent.
    raise KeyboardInterrupt


def _exit(code: int) -> None:
    """Leave without interpreter teardown, as the moonflow CLI does: the SDK's Rust threads can
    abort a normal exit (`Fatal Python error: PyGILState_Release`) after the work is done."""
    for stream in (_OUT, sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    try:
        _exit(asyncio.run(main()))
    except KeyboardInterrupt:
        print("benchmarks: interrupted", file=sys.stderr)
        _exit(130)
