"""Pure-process scenarios of issue #14 (Done when): Lua processes and functions of the fixture
app ``apps/processes`` run on the process host, through :class:`ProcessNode` and through
``moonflow run -x``. No Temporal server is involved.

Each scenario is a ``function.lua`` entry returning a result table that the tests check value
by value: registry ping/pong, a worker pool over channels and ``coroutine.spawn``, a supervisor
with exponential backoff, a key-value server with several clients, 10,000 monitored processes,
and the negative paths (unknown names, taken names, linked crashes, terminate, uncaught
errors, deadlock, runaway loops).
"""

from __future__ import annotations

import asyncio
import functools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from moonflow.process import ProcessNode
from moonflow.registry import load_app

from ._nodes import run_entry

pytestmark = pytest.mark.integration

APP_DIR = Path(__file__).parent / "apps" / "processes"
HOST = "app:processes"


@pytest.fixture(scope="module")
def app() -> Any:
    return load_app(APP_DIR)


run = functools.partial(run_entry, timeout=30.0)


# ---- 1. services finding each other through process.registry ----------------------------
async def test_registry_ping_pong(app):
    value = await run(app, "app:registry_pingpong", 5)
    assert value == {
        "ping": {"lookups_ok": True, "replies": [10, 20, 30, 40, 50], "sum": 150},
        "pong": {"pongs": 5, "from_matches": 5},  # the name "ping" resolved to msg:from()
        "pong_pid_seen_by_ping": True,  # lookup("pong") gave the PID spawn returned
        "names_released": True,  # both names are gone once the services exited
    }


# ---- 2. worker pool over channels and coroutine.spawn ---------------------------------------
async def test_worker_pool_completion_order(app):
    # five workers, one job each: they complete in the order of their delays (ms)
    value = await run(app, "app:worker_pool", [150, 50, 100, 1, 200], 5)
    assert value == {
        "order": [4, 2, 3, 1, 5],
        "count": 5,
        "sum": 1 + 4 + 9 + 16 + 25,
        "per_worker": [1, 1, 1, 1, 1],
    }


async def test_worker_pool_fan_out(app):
    delays = [1 + i % 3 for i in range(40)]
    value = await run(app, "app:worker_pool", delays, 4)
    assert value["count"] == 40
    assert sorted(value["order"]) == list(range(1, 41))  # every job, once
    assert value["sum"] == sum(i * i for i in range(1, 41))
    assert sum(value["per_worker"]) == 40
    assert all(n > 0 for n in value["per_worker"]), value["per_worker"]  # all four worked


# ---- 3. supervisor with exponential backoff ---------------------------------------------------
async def test_supervisor_gives_up_with_growing_backoff(app):
    base = 40
    value = await run(app, "app:supervise", 4, base, 0)
    assert value["gave_up"] is True
    assert value["attempts"] == 4
    assert value["errors"] == [f"supervisor.lua:10: crash on attempt {i}" for i in range(1, 5)]
    assert value["link_downs"] == 4  # trap_links: each crash came as LINK_DOWN, not death
    starts = value["starts"]
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    print(f"\nsupervisor attempt starts (ms): {starts}, gaps: {gaps}")
    assert len(starts) == 4 and starts[0] == 0
    for i, gap in enumerate(gaps):
        assert gap >= base * 2**i, (i, gaps)  # the backoff slept at least 40, 80, 160 ms
    assert gaps[0] < gaps[1] < gaps[2], gaps  # and grew


async def test_supervisor_restarts_until_success(app):
    value = await run(app, "app:supervise", 5, 10, 3)
    assert value["gave_up"] is False
    assert value["attempts"] == 3
    assert value["result"] == {"attempt": 3, "fine": True}
    assert value["errors"] == [f"supervisor.lua:10: crash on attempt {i}" for i in (1, 2)]
    assert value["link_downs"] == 2
    assert value["trap_links"] is True
    assert len(value["starts"]) == 3


# ---- 4. key-value server and several clients -----------------------------------------------
async def test_kv_server_with_clients(app):
    clients, n = 5, 12
    value = await run(app, "app:kv_scenario", clients, n)
    assert value["shared"] == clients * n  # every incr counted once
    assert value["max_last_incr"] == clients * n
    assert value["sample"] == clients * 1000 + n
    assert value["missing"] is True
    assert value["clients"] == [{"gets_ok": n, "from_matches": True}] * clients
    # keys: clients * n own keys + "shared"; ops: put, get, incr per client key, then the
    # scenario's 3 gets and its stop
    assert value["server"] == {"keys": clients * n + 1, "ops": clients * n * 3 + 4}


# ---- 5. 10,000 monitored processes ------------------------------------------------------------
async def test_ten_thousand_monitored_processes(app):
    n = 10_000
    cpu0, t0 = time.process_time(), time.perf_counter()
    value = await run(app, "app:many_exits", n, timeout=120)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    print(
        f"\n{n} monitored processes: wall {wall:.2f} s, cpu {cpu:.2f} s "
        f"(in Lua: spawning {value['spawn_ms']} ms, all EXITs by {value['total_ms']} ms)"
    )
    assert value["count"] == n
    assert value["distinct"] == n
    assert value["failed"] == 0
    assert value["matched"] == n  # each EXIT carried the result of the PID it came from
    assert value["sum"] == n * (n + 1) // 2


async def test_mailbox_backlog_drained_in_one_step(app):
    # 3,000 messages queue up while the consumer waits for "go"; it then receives them all
    # without waiting. Taking each from the front of the mailbox must not cost the rest of the
    # queue (it used to: 2 * len(queue) instructions a message, past a 5M budget here).
    value = await run(app, "app:mailbox_backlog", 3000, instruction_budget=5_000_000)
    assert value == {"sum": 3000 * 3001 // 2, "in_order": True}


# ---- negative paths -------------------------------------------------------------------------
async def test_unknown_name(app):
    value = await run(app, "app:neg_send_unknown")

    def unresolved(call: str) -> dict[str, str]:
        return {
            "kind": "NotFound",
            "message": f"process.{call}: could not resolve 'nobody-here' as PID or registered name",
        }

    assert value == {
        "send_ok": True,  # process.send returned nil
        "send": unresolved("send"),
        "lookup_nil": True,
        "lookup": {"kind": "NotFound", "message": "no process registered as 'nobody-here'"},
        "terminate_ok": True,
        "terminate": unresolved("terminate"),
    }


async def test_register_taken_name(app):
    value = await run(app, "app:neg_register_taken")
    assert value["holder_registered"] == {"ok": True}
    assert value["taken_ok"] is True  # register returned nil
    assert value["taken"]["kind"] == "AlreadyExists"
    assert value["taken"]["message"].startswith("name 'taken' is registered by {app:processes|")
    assert value["lookup_is_holder"] is True
    assert value["own_twice"] is True  # idempotent for the same PID
    assert value["holder_result"] == "released"
    assert value["after_exit"] is True  # the holder's exit released the name
    assert "after_exit_err" not in value
    assert value["lookup_after"] is True


async def test_linked_crash_kills_non_trapping_linker(app):
    value = await run(app, "app:neg_linked_crash")
    assert value["failed"] is True
    err = value["error"]
    assert err["kind"] == "Internal"
    assert err["message"].startswith("linked {app:processes|")
    assert err["message"].endswith("failed: supervisor.lua:10: crash on attempt 1")
    assert value["result_error"] == err  # ev.result.error is the same error


async def test_terminate_monitored_process(app):
    value = await run(app, "app:neg_terminate")
    assert value["terminate_ok"] is True
    assert "terminate_err" not in value
    assert value["from_matches"] is True
    assert value["error"]["kind"] == "Terminated"
    assert value["error"]["message"].endswith(": enough")  # the reason given
    assert "value" not in value  # no result
    assert value["again_ok"] is True  # terminating it again: nil, NotFound
    assert value["again"]["kind"] == "NotFound"


async def test_uncaught_error_exit(app):
    value = await run(app, "app:neg_uncaught")
    assert value == {"error": {"kind": "Internal", "message": "thrower.lua:5: kaboom: bad input"}}


async def test_uncaught_error_of_the_entry_itself(app):
    async with ProcessNode(app) as node:
        outcome = await asyncio.wait_for(node.run("app:thrower", ["x"]), 10)
    assert not outcome.ok
    assert outcome.error.kind == "Internal"
    assert outcome.error.message == "thrower.lua:5: kaboom: x"


async def test_deadlock(app):
    value = await run(app, "app:neg_deadlock")
    assert value["error"]["kind"] == "Internal"
    assert value["error"]["message"].startswith(
        "deadlock: every coroutine of the process is blocked"
    )


async def test_runaway_loop_stopped_others_keep_running(app):
    budget = 5_000_000
    value = await run(app, "app:neg_runaway", 20, instruction_budget=budget)
    assert value["spinner"]["kind"] == "ResourceExhausted"
    assert value["spinner"]["message"].startswith(
        "app:spinner: instruction budget exceeded at negative.lua:"
    )
    assert f"at most {budget:,} Lua instructions" in value["spinner"]["message"]
    assert value["steady"] == 20  # the sleeping process completed every round
    assert "steady_error" not in value
    assert value["after"] == 42  # and the node still runs new processes


# ---- through the CLI ----------------------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "moonflow", "run", str(APP_DIR), "-x", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_registry_ping_pong():
    proc = _cli("app:registry_pingpong", "3")  # arguments arrive as strings
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "ping": {"lookups_ok": True, "replies": [10, 20, 30], "sum": 60},
        "pong": {"pongs": 3, "from_matches": 3},
        "pong_pid_seen_by_ping": True,
        "names_released": True,
    }


def test_cli_ten_thousand_monitored_processes():
    t0 = time.perf_counter()
    proc = _cli("app:many_exits", "10000")
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    value = json.loads(proc.stdout)
    print(
        f"\nmoonflow run -x app:many_exits 10000: {wall:.2f} s for the whole command "
        f"(in Lua: spawning {value['spawn_ms']} ms, all EXITs by {value['total_ms']} ms)"
    )
    assert {k: value[k] for k in ("count", "distinct", "failed", "matched", "sum")} == {
        "count": 10000,
        "distinct": 10000,
        "failed": 0,
        "matched": 10000,
        "sum": 50005000,
    }


def test_cli_failing_entry():
    proc = _cli("app:thrower", "boom")
    assert proc.returncode == 1
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {
        "error": {"kind": "Internal", "message": "thrower.lua:5: kaboom: boom", "retryable": False}
    }
