"""Activity calls are isolated from each other and stopped when they must stop (issue 11).

Each activity call gets a fresh Lua run: what one call leaves in its globals, library tables or
the globals' metatable is not seen by the next call, from the same workflow or another. A call
that runs past its timeout, is cancelled, or exceeds its instruction budget is stopped, and its
thread goes back to the pool.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError

from moonflow.worker import build_workers

from .conftest import activity_entry, workflow_entry

pytestmark = pytest.mark.integration

LEAK_ACT = """\
local function main(a)
  local prev = rawget(_G, "LAST")
  LAST = a.wf
  return prev
end
return { main = main }
"""

LEAK_WF = """\
local funcs = require("funcs")
local function main(name, calls)
  local seen = {}
  for i = 1, calls or 1 do
    seen[i] = funcs.call("app:leak", {wf = name}) or "nil"
  end
  return seen
end
return { main = main }
"""

REWIRE_ACT = """\
local function rewire()
  local ok = pcall(function() getmetatable("").__index = { upper = function() return "x" end } end)
  table.insert = function() error("rewired table.insert") end
  math.floor = nil
  rawset(string, "upper", function() return "rewired" end)
  os.time = function() return 0 end
  POISON = "left behind"
  setmetatable(_G, { __index = function() return "from a poisoned metatable" end })
  return ok
end

local function probe()
  local t = {}
  table.insert(t, "ok")
  return {
    insert = t[1],
    floor = math.floor(2.5),
    upper = ("abc"):upper(),
    string_upper = string.upper("abc"),
    os_time_positive = os.time() > 1000000,
    poison = rawget(_G, "POISON") or "nil",
    undefined = tostring(UNDEFINED_NAME),
  }
end
return { rewire = rewire, probe = probe }
"""

REWIRE_WF = """\
local funcs = require("funcs")
local function main()
  local string_mt_writable = funcs.call("app:rewire")
  return { string_mt_writable = string_mt_writable, probe = funcs.call("app:probe") }
end
return { main = main }
"""


def _workers(app: Any, env: Any, **options: Any) -> Any:
    from .conftest import _Workers

    clients = {c.entry.id: env.client for c in app.app.clients()}
    return _Workers(build_workers(app.app, clients, worker_options=options))


async def test_a_global_set_by_one_call_is_not_seen_by_the_next(ts_env, make_app):
    app = make_app(
        workflow_entry("wf", "wf.lua", "[funcs]") + activity_entry("leak", "leak.lua", "main"),
        {"wf.lua": LEAK_WF, "leak.lua": LEAK_ACT},
    )
    # One activity thread: every call runs in the same Lua state.
    async with _workers(app, ts_env, activity_threads=1):
        a = await ts_env.client.execute_workflow(
            app.app.workflow_type("app:wf"),
            args=["A", 3],
            id=f"a-{uuid.uuid4()}",
            task_queue=app.task_queue,
        )
        b = await ts_env.client.execute_workflow(
            app.app.workflow_type("app:wf"),
            args=["B", 3],
            id=f"b-{uuid.uuid4()}",
            task_queue=app.task_queue,
        )
    # Not even a workflow's own earlier call leaks into its next one.
    assert a == ["nil", "nil", "nil"]
    assert b == ["nil", "nil", "nil"]


async def test_no_leak_under_eight_concurrent_workflows(dev_env, make_app):
    app = make_app(
        workflow_entry("wf", "wf.lua", "[funcs]") + activity_entry("leak", "leak.lua", "main"),
        {"wf.lua": LEAK_WF, "leak.lua": LEAK_ACT},
    )
    async with _workers(app, dev_env, activity_threads=3):
        handles = [
            await app.start(dev_env, "app:wf", f"W{i}", 5, id=f"c{i}-{uuid.uuid4()}")
            for i in range(8)
        ]
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 60)
    assert results == [["nil"] * 5] * 8


async def test_rewired_libraries_and_metatables_do_not_reach_the_next_call(ts_env, make_app):
    app = make_app(
        workflow_entry("wf", "wf.lua", "[funcs]")
        + activity_entry("rewire", "rw.lua", "rewire")
        + activity_entry("probe", "rw.lua", "probe"),
        {"wf.lua": REWIRE_WF, "rw.lua": REWIRE_ACT},
    )
    async with _workers(app, ts_env, activity_threads=1):
        result = await ts_env.client.execute_workflow(
            app.app.workflow_type("app:wf"), id=f"rw-{uuid.uuid4()}", task_queue=app.task_queue
        )
    assert result["string_mt_writable"] is False  # the shared string metatable is protected
    # a global never set reads nil again, not what the poisoned metatable answered
    assert result["probe"]["undefined"] == "nil"
    assert result["probe"] == {
        "insert": "ok",
        "floor": 2,
        "upper": "ABC",
        "string_upper": "ABC",
        "os_time_positive": True,
        "poison": "nil",
        "undefined": result["probe"]["undefined"],
    }


# ---- stopping calls ------------------------------------------------------------------------

STOP_ACT = """\
local time = require("time")
local function spin() while true do end end
local function spin_pcall()
  -- user code trying to swallow the stop
  while true do pcall(function() while true do end end) end
end
local function spin_coroutine()
  local co = coroutine.create(function() while true do end end)
  while true do coroutine.resume(co) end
end
local function nap() time.sleep("1h") return "woke" end
local function quick(x) return x end
return { spin = spin, spin_pcall = spin_pcall, spin_coroutine = spin_coroutine, nap = nap, quick = quick }
"""

STOP_WF = """\
local funcs = require("funcs")
local function main(target, timeout)
  local exec = funcs.new():with_options({
    ["activity.start_to_close_timeout"] = timeout,
    ["activity.retry_policy"] = { maximum_attempts = 1 },
  })
  local _, err = exec:call(target)
  local after = funcs.call("app:quick", "after")
  return { kind = err and err:kind() or "none", message = err and err:message() or "", after = after }
end
return { main = main }
"""


def _lua_threads() -> dict[int, int]:
    """native thread id -> CPU ticks (user + system) of this process's activity threads."""
    out = {}
    for t in threading.enumerate():
        if not t.name.startswith("moonflow-") or t.native_id is None:
            continue
        try:
            with open(f"/proc/self/task/{t.native_id}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        out[t.native_id] = int(fields[11]) + int(fields[12])
    return out


def _stop_app(make_app: Any) -> Any:
    entries = workflow_entry("wf", "wf.lua", "[funcs]")
    for name in ("spin", "spin_pcall", "spin_coroutine", "nap", "quick"):
        entries += activity_entry(name, "stop.lua", name, "[time]")
    return make_app(entries, {"wf.lua": STOP_WF, "stop.lua": STOP_ACT})


@pytest.mark.parametrize("target", ["spin", "spin_pcall", "spin_coroutine", "nap"])
async def test_a_call_past_its_timeout_is_stopped_and_frees_its_thread(dev_env, make_app, target):
    app = _stop_app(make_app)
    # One activity thread: the call after the runaway can only run once the runaway stopped.
    async with _workers(app, dev_env, activity_threads=1):
        t0 = time.monotonic()
        result = await asyncio.wait_for(
            dev_env.client.execute_workflow(
                app.app.workflow_type("app:wf"),
                args=[f"app:{target}", "2s"],
                id=f"stop-{uuid.uuid4()}",
                task_queue=app.task_queue,
            ),
            60,
        )
        elapsed = time.monotonic() - t0
        # No Lua thread keeps burning CPU once the call was stopped.
        before = _lua_threads()
        await asyncio.sleep(1.0)
        after = _lua_threads()
    burned = {tid: after[tid] - before[tid] for tid in after if tid in before}
    print(f"{target}: workflow done in {elapsed:.2f} s; activity-thread CPU ticks in 1 s: {burned}")
    assert result["kind"] == "Timeout", result
    assert result["after"] == "after"  # the one activity thread came back to the pool
    # start-to-close is 2 s; the stop, the next call and the workflow's own tasks fit in 2 s
    assert elapsed < 4.0, elapsed
    assert burned and all(ticks <= 10 for ticks in burned.values()), burned  # <= 0.1 s of CPU


async def test_an_instruction_budget_stops_a_call(ts_env, make_app):
    app = _stop_app(make_app)
    async with _workers(app, ts_env, activity_threads=1, lua_activity_instruction_budget=5_000_000):
        result = await ts_env.client.execute_workflow(
            app.app.workflow_type("app:wf"),
            args=["app:spin_pcall", "10m"],
            id=f"budget-{uuid.uuid4()}",
            task_queue=app.task_queue,
        )
    assert result["kind"] == "ResourceExhausted", result
    assert "5000000 Lua instructions" in result["message"]
    assert "lua_activity_instruction_budget" in result["message"]
    assert result["after"] == "after"


CANCEL_WF = """\
local funcs = require("funcs")
local function main()
  return funcs.call("app:spin")
end
return { main = main }
"""


async def test_cancelling_the_workflow_stops_its_running_call(dev_env, make_app):
    entries = workflow_entry("wf", "wf.lua", "[funcs]")
    for name in ("spin", "quick"):
        entries += activity_entry(name, "stop.lua", name, "[time]")
    app = make_app(entries, {"wf.lua": CANCEL_WF, "stop.lua": STOP_ACT})
    async with _workers(app, dev_env, activity_threads=1):
        handle = await app.start(dev_env, "app:wf")
        # wait until the activity runs
        for _ in range(100):
            desc = await handle.describe()
            if desc.raw_description.pending_activities:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        t0 = time.monotonic()
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), 30)
        # The call's thread stops burning CPU within a few seconds of the cancellation.
        stopped_at = None
        while time.monotonic() - t0 < 10:
            before = _lua_threads()
            await asyncio.sleep(0.5)
            after = _lua_threads()
            if all(after[t] - before.get(t, after[t]) <= 5 for t in after):
                stopped_at = time.monotonic() - t0
                break
    print(f"cancelled call stopped {stopped_at} s after the cancellation")
    assert stopped_at is not None and stopped_at < 5, stopped_at


HTTP_ACT = """\
local http_client = require("http_client")
local function slow(url)
  local resp, err = http_client.get(url)
  return resp and resp.status_code or err:message()
end
local function quick(x) return x end
return { slow = slow, quick = quick }
"""

HTTP_WF = """\
local funcs = require("funcs")
local function main(url)
  local _, err = funcs.new():with_options({
    ["activity.start_to_close_timeout"] = "2s",
    ["activity.retry_policy"] = { maximum_attempts = 1 },
  }):call("app:slow", url)
  return { kind = err and err:kind() or "none", after = funcs.call("app:quick", "after") }
end
return { main = main }
"""


async def test_a_slow_http_request_ends_by_the_deadline(dev_env, make_app):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            time.sleep(10)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        app = make_app(
            workflow_entry("wf", "wf.lua", "[funcs]")
            + activity_entry("slow", "http.lua", "slow", "[http_client]")
            + activity_entry("quick", "http.lua", "quick", "[http_client]"),
            {"wf.lua": HTTP_WF, "http.lua": HTTP_ACT},
        )
        async with _workers(app, dev_env, activity_threads=1):
            t0 = time.monotonic()
            result = await asyncio.wait_for(
                dev_env.client.execute_workflow(
                    app.app.workflow_type("app:wf"),
                    args=[f"http://127.0.0.1:{server.server_address[1]}/"],
                    id=f"http-{uuid.uuid4()}",
                    task_queue=app.task_queue,
                ),
                30,
            )
            elapsed = time.monotonic() - t0
    finally:
        server.shutdown()
        server.server_close()
    print(f"slow request: workflow done in {elapsed:.2f} s")
    assert result == {"kind": "Timeout", "after": "after"}
    assert elapsed < 5.0, elapsed  # the 10 s request did not hold the only thread


async def test_time_skipping_results_do_not_push_the_clock_ahead(ts_env, make_app):
    # A run with an activity that finishes in real time must not let the test server skip to
    # its 10-year run timeout while the client waits (each run moved the clock ten years, and
    # past 2262 workflow tasks stop completing). Timers still skip (test_seed_basic & co.).
    app = make_app(
        workflow_entry("wf", "wf.lua", "[funcs]") + activity_entry("leak", "leak.lua", "main"),
        {"wf.lua": LEAK_WF, "leak.lua": LEAK_ACT},
    )
    before = await ts_env.get_current_time()
    for i in range(3):
        assert await app.execute(ts_env, "app:wf", f"R{i}", 2) == ["nil", "nil"]
    moved = await ts_env.get_current_time() - before
    print(f"3 runs with activities moved the time-skipping clock by {moved}")
    assert moved.days < 1, moved
