"""The ``activity`` module (issue 16 item 4): heartbeats keep a Lua activity with a heartbeat
timeout alive, an activity that stops heartbeating times out with ``timeout_type =
"heartbeat"``, a cancelled one stops (its Lua code and its thread), and ``activity.info()``
tells an attempt what the previous one saved. Workflows may not use the module; processes get
``NotFound`` / ``false``.

Real time on the dev server (heartbeat timeouts are wall-clock); a loopback HTTP server counts
the ticks of the activity that is cancelled.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError

from moonflow.errors import AppError
from moonflow.registry import load_app
from moonflow.worker import build_workers
from tests._apps import app_index

from ._hit_counter import loopback_http
from .conftest import _Workers, history_events

pytestmark = pytest.mark.integration

ACTS = """\
local activity = require("activity")
local time = require("time")
local http_client = require("http_client")

-- heartbeats every 200 ms for `seconds` seconds
local function steady(seconds)
  local beats = 0
  for i = 1, seconds * 5 do
    local ok, err = activity.heartbeat({i = i})
    assert(ok, err)
    beats = beats + 1
    time.sleep("200ms")
  end
  return {beats = beats, cancelled = activity.is_cancelled()}
end

-- heartbeats once, then goes quiet
local function silent()
  activity.heartbeat("once")
  time.sleep("30s")
  return "woke"
end

-- heartbeats and ticks the test's HTTP server every 200 ms, forever
local function ticking(url)
  local i = 0
  while true do
    i = i + 1
    activity.heartbeat(i)
    http_client.get(url .. "/tick/" .. i)
    time.sleep("200ms")
  end
end

-- attempt 1 saves progress in a heartbeat and fails retryably; attempt 2 reports what it sees
local function resumable()
  local info = assert(activity.info())
  if info.attempt == 1 then
    activity.heartbeat({step = 7, first_saw_details = info.heartbeat_details ~= nil})
    time.sleep("500ms")  -- let the heartbeat reach the server before failing
    return nil, errors.new({kind = "Unavailable", message = "try again", retryable = true})
  end
  info.deadline_type = type(info.deadline)
  info.now = time.now():unix()
  info.cancelled = activity.is_cancelled()
  return info
end

local function quick(x) return x end

return { steady = steady, silent = silent, ticking = ticking, resumable = resumable,
         quick = quick }
"""

WF = """\
local funcs = require("funcs")
local time = require("time")

local HEARTBEATING = {
  ["activity.heartbeat_timeout"] = "1s",
  ["activity.retry_policy"] = { maximum_attempts = 1 },
}

local function failure(err)
  local d = err:details() or {}
  return { kind = err:kind(), retryable = err:retryable(), message = err:message(),
           timeout_type = d.timeout_type }
end

local function steady()
  local r, err = funcs.new():with_options(HEARTBEATING):call("app:steady", 5)
  if err then return failure(err) end
  return r
end

local function silent()
  local r, err = funcs.new():with_options(HEARTBEATING):call("app:silent")
  if err then return failure(err) end
  return r
end

local function cancel(url)
  local f = assert(funcs.new():with_options(HEARTBEATING):async("app:ticking", url))
  time.sleep("2s")
  f:cancel()
  local _, err = f:result()
  -- one activity thread: this call runs only once the cancelled call's thread is free
  local after = funcs.call("app:quick", "after")
  return { kind = err and err:kind(), after = after }
end

local function resumable()
  local r, err = funcs.new():with_options({
    ["activity.start_to_close_timeout"] = "1m",
    ["activity.retry_policy"] = { maximum_attempts = 3, initial_interval = "100ms" },
  }):call("app:resumable")
  if err then return failure(err) end
  return r
end

local function ticks(url)
  return funcs.new():with_options(HEARTBEATING):call("app:ticking", url)
end

return { steady = steady, silent = silent, cancel = cancel, resumable = resumable,
         ticks = ticks }
"""


def _entries(tq: str) -> str:
    out = ""
    for name in ("steady", "silent", "cancel", "resumable", "ticks"):
        out += f"""\
- name: wf_{name}
  kind: workflow.lua
  source: file://wf.lua
  method: {name}
  modules: [funcs, time]
  meta: {{temporal: {{workflow: {{worker: app:worker}}}}}}
"""
    for name in ("steady", "silent", "ticking", "resumable", "quick"):
        out += f"""\
- name: {name}
  kind: function.lua
  source: file://acts.lua
  method: {name}
  modules: [activity, time, http_client]
  meta: {{temporal: {{activity: {{worker: app:worker}}}}}}
"""
    return app_index(tq, out)


@pytest.fixture
def app(tmp_path: Path) -> Any:
    tq = f"tq-{uuid.uuid4().hex[:12]}"
    (tmp_path / "_index.yaml").write_text(_entries(tq))
    (tmp_path / "acts.lua").write_text(ACTS)
    (tmp_path / "wf.lua").write_text(WF)
    return load_app(tmp_path), tq


async def _run(env: Any, app: Any, workflow: str, *args: Any, timeout: float = 60) -> Any:
    loaded, tq = app
    clients = {c.entry.id: env.client for c in loaded.clients()}
    wid = f"hb-{workflow}-{uuid.uuid4().hex[:8]}"
    async with _Workers(build_workers(loaded, clients, worker_options={"activity_threads": 1})):
        handle = await env.client.start_workflow(
            loaded.workflow_type(f"app:wf_{workflow}"), args=list(args), id=wid, task_queue=tq
        )
        result = await asyncio.wait_for(handle.result(), timeout)
    return result, handle


async def test_an_activity_that_heartbeats_outlives_its_heartbeat_timeout(dev_env, app):
    t0 = time.monotonic()
    result, _ = await _run(dev_env, app, "steady")
    elapsed = time.monotonic() - t0
    print(f"5 s of heartbeats every 200 ms under a 1 s heartbeat timeout: {elapsed:.2f} s")
    assert result == {"beats": 25, "cancelled": False}
    assert elapsed >= 5.0


async def test_an_activity_that_stops_heartbeating_times_out_with_timeout_type_heartbeat(
    dev_env, app
):
    t0 = time.monotonic()
    result, _ = await _run(dev_env, app, "silent")
    elapsed = time.monotonic() - t0
    print(f"silent activity: {result} after {elapsed:.2f} s")
    assert result["kind"] == "Timeout", result
    assert result["timeout_type"] == "heartbeat", result
    assert result["retryable"] is False, result  # as Temporal's own timeouts
    assert elapsed < 25  # not the 30 s sleep: the heartbeat timeout ended it


@pytest.fixture
def ticks() -> Iterator[tuple[str, list[float]]]:
    times: list[float] = []

    def tick(_request: BaseHTTPRequestHandler) -> bytes:
        times.append(time.time())
        return b"ok"

    with loopback_http(tick) as url:
        yield url, times


async def test_a_cancelled_heartbeating_activity_stops_and_frees_its_thread(dev_env, app, ticks):
    url, times = ticks
    result, handle = await _run(dev_env, app, "cancel", url)
    assert result == {"kind": "Canceled", "after": "after"}
    events = await history_events(dev_env, handle.id)
    (requested,) = [
        e for e in events if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED"
    ]
    from datetime import datetime

    cancel_at = datetime.fromisoformat(requested["eventTime"].replace("Z", "+00:00")).timestamp()
    before = [t for t in times if t <= cancel_at]
    after = [t - cancel_at for t in times if t > cancel_at]
    count = len(times)
    await asyncio.sleep(1.5)
    print(f"{len(before)} ticks before the cancel request, then ticks at +{after} s")
    assert len(before) >= 5  # it was ticking every 200 ms for 2 s
    assert len(times) == count  # nothing ticks any more
    assert all(t < 2.0 for t in after), after  # stopped about 1 s after the request


async def test_cancelling_the_workflow_stops_its_heartbeating_activity(dev_env, app, ticks):
    url, times = ticks
    loaded, tq = app
    clients = {c.entry.id: dev_env.client for c in loaded.clients()}
    async with _Workers(build_workers(loaded, clients, worker_options={"activity_threads": 1})):
        handle = await dev_env.client.start_workflow(
            loaded.workflow_type("app:wf_ticks"),
            args=[url],
            id=f"hb-ticks-{uuid.uuid4().hex[:8]}",
            task_queue=tq,
        )
        for _ in range(300):
            if len(times) >= 3:
                break
            await asyncio.sleep(0.1)
        cancel_at = time.time()
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), 60)
        await asyncio.sleep(2.5)
        count = len(times)
        await asyncio.sleep(1.5)
    after = [round(t - cancel_at, 2) for t in times if t > cancel_at]
    print(f"ticks after the workflow's cancellation: +{after} s")
    assert len(times) == count  # nothing ticks any more
    assert all(t < 2.5 for t in after), after


async def test_info_gives_the_next_attempt_the_previous_heartbeat(dev_env, app):
    loaded, tq = app
    result, handle = await _run(dev_env, app, "resumable")
    desc = await handle.describe()
    assert result["attempt"] == 2, result
    assert result["heartbeat_details"] == {"step": 7, "first_saw_details": False}
    assert result["activity_type"] == "app:resumable"
    assert result["activity_id"]
    assert result["workflow_id"] == handle.id
    assert result["workflow_run_id"] == desc.run_id
    assert result["workflow_type"] == loaded.workflow_type("app:wf_resumable")
    assert result["task_queue"] == tq
    assert result["namespace"] == "default"
    assert result["is_local"] is False
    assert result["cancelled"] is False
    # the deadline is Unix seconds: within the 1 m start-to-close timeout from now
    assert result["deadline_type"] == "number"
    assert 0 < result["deadline"] - result["now"] <= 61, result  # now: whole seconds


def test_workflow_code_may_not_list_the_activity_module(tmp_path: Path) -> None:
    (tmp_path / "_index.yaml").write_text(
        app_index(
            "q",
            """\
            - name: wf
              kind: workflow.lua
              source: file://wf.lua
              method: main
              modules: [activity]
              meta: {temporal: {workflow: {worker: app:worker}}}
            """,
        )
    )
    (tmp_path / "wf.lua").write_text("return { main = function() end }\n")
    with pytest.raises(AppError, match="module 'activity' is not supported in workflow context"):
        load_app(tmp_path)


REQUIRE_WF = """\
local function main()
  local ok, err = pcall(require, "activity")
  return { ok = ok, err = tostring(err) }
end
return { main = main }
"""


async def test_workflow_code_may_not_require_the_activity_module(ts_env, make_app):
    from .conftest import workflow_entry

    app = make_app(workflow_entry("wf", "wf.lua", "[]"), {"wf.lua": REQUIRE_WF})
    result = await app.execute(ts_env, "app:wf")
    assert result["ok"] is False
    assert (
        'require("activity"): module activity is not supported in workflow context'
        in (result["err"])
    )


PROBE = """\
local activity = require("activity")
local function main()
  local info, err = activity.info()
  local ok, herr = activity.heartbeat({x = 1})
  return { info_nil = info == nil, info_kind = err:kind(), beat = ok == nil,
           beat_kind = herr:kind(), cancelled = activity.is_cancelled() }
end
return { main = main }
"""


def test_in_a_process_info_and_heartbeat_are_not_found(tmp_path: Path) -> None:
    (tmp_path / "_index.yaml").write_text(
        textwrap.dedent(
            """\
            version: "1.0"
            namespace: app
            entries:
              - name: probe
                kind: function.lua
                source: file://probe.lua
                method: main
                modules: [activity]
            """
        )
    )
    (tmp_path / "probe.lua").write_text(PROBE)
    proc = subprocess.run(
        [sys.executable, "-m", "moonflow", "run", str(tmp_path), "-x", "app:probe"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {
        "info_nil": True,
        "info_kind": "NotFound",
        "beat": True,
        "beat_kind": "NotFound",
        "cancelled": False,
    }


README = Path(__file__).resolve().parents[2] / "README.md"

IMPORT_WF = """\
local funcs = require("funcs")
local function main(urls)
  local n, err = funcs.new():with_options({
    ["activity.retry_policy"] = { maximum_attempts = 3, initial_interval = "100ms" },
  }):call("app:import", urls)
  if err then return { kind = err:kind(), message = err:message() } end
  return n
end
return { main = main }
"""


def _flaky(paths: list[str]) -> Callable[[BaseHTTPRequestHandler], bytes | None]:
    """Answers every path, except the first request for /3: its connection is dropped."""

    def answer(request: BaseHTTPRequestHandler) -> bytes | None:
        paths.append(request.path)
        if request.path == "/3" and paths.count("/3") == 1:
            request.close_connection = True
            request.connection.shutdown(2)  # a network failure for the client
            return None
        return b"ok"

    return answer


async def test_the_readme_heartbeat_example_resumes_where_the_last_attempt_got(dev_env, make_app):
    import re

    from .conftest import activity_entry, workflow_entry

    (block,) = re.findall(
        r"```lua\n-- import\.lua: an activity entry[^\n]*\n(.*?)```", README.read_text(), re.S
    )
    paths: list[str] = []
    with loopback_http(_flaky(paths)) as base:
        app = make_app(
            workflow_entry("wf", "wf.lua", "[funcs]")
            + activity_entry("import", "import.lua", "import", "[activity, http_client]"),
            {"wf.lua": IMPORT_WF, "import.lua": block},
        )
        result = await app.execute(dev_env, "app:wf", [f"{base}/{i}" for i in range(1, 5)])
    assert result == 4, result
    # attempt 2 started after url 2, the last one attempt 1 heartbeated
    assert paths == ["/1", "/2", "/3", "/3", "/4"], paths
