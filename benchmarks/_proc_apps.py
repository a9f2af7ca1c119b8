"""The process benchmarks' app (P1-P4): ``process.lua`` actors on a ``process.host``, and for P4
a trivial ``workflow.lua`` on a ``temporal.worker``, written to a temp dir like ``_apps.py``
does for the workflow benchmarks. The native side (plain asyncio tasks and queues) is in
``_processes.py``."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from moonflow.registry import App, load_app

_INDEX = """\
version: "1.0"
namespace: app
entries:
  - name: processes
    kind: process.host
  - name: temporal_client
    kind: temporal.client
    address: "{address}"
    namespace: "default"
  - name: worker
    kind: temporal.worker
    client: app:temporal_client
    task_queue: "{tq}"
  - name: p4_wf
    kind: workflow.lua
    source: file://p4_wf.lua
    method: main
    modules: []
    meta:
      temporal:
        workflow:
          worker: app:worker
"""

_PROC = """\
  - name: {name}
    kind: process.lua
    source: file://{name}.lua
    method: main
    modules: [{modules}]
"""

#: name -> (modules, source)
PROCESS_SOURCES: dict[str, tuple[str, str]] = {
    # P1: returns its number; the parent sums the EXIT results
    "p1_child": ("", "return { main = function(i) return i end }\n"),
    "p1_parent": (
        "",
        """\
local function main(n)
    local events = process.events()
    local failed = nil
    -- spawn from a coroutine while main collects: EXITs are consumed as they arrive
    coroutine.spawn(function()
        for i = 1, n do
            local pid, err = process.spawn_monitored("app:p1_child", "app:processes", i)
            if not pid then failed = err return end
        end
    end)
    local sum, got = 0, 0
    while got < n and not failed do
        local ev = events:receive()
        if ev.kind == process.event.EXIT then
            got = got + 1
            sum = sum + ev.value
        end
    end
    if failed then return nil, failed end
    return sum
end
return { main = main }
""",
    ),
    # P2: answers every ping with its payload * 10 until "stop"
    "p2_pong": (
        "",
        """\
local function main()
    local inbox = process.inbox()
    while true do
        local msg = inbox:receive()
        if msg:topic() == "stop" then return true end
        process.send(msg:from(), "pong", msg:payload():data() * 10)
    end
end
return { main = main }
""",
    ),
    # P2: `warm` unmeasured round trips, then `n` measured ones (ns each, wall clock)
    "p2_ping": (
        "time",
        """\
local time = require("time")
local function main(warm, n)
    local pong = process.spawn("app:p2_pong", "app:processes")
    local inbox = process.inbox()
    local trips = {}
    for i = 1, warm + n do
        local t0 = time.now():unix_nano()
        process.send(pong, "ping", i)
        local msg = inbox:receive()
        local t1 = time.now():unix_nano()
        if msg:payload():data() ~= i * 10 then error("bad pong " .. tostring(i)) end
        if i > warm then trips[#trips + 1] = t1 - t0 end
    end
    process.send(pong, "stop")
    return trips
end
return { main = main }
""",
    ),
    # P3: idle on its inbox until a message arrives
    "p3_idle": (
        "",
        """\
local function main()
    local msg = process.inbox():receive()
    return msg:topic()
end
return { main = main }
""",
    ),
    # P4: start n workflows at once (one coroutine each), await their n EXITs
    "p4_driver": (
        "",
        """\
local function main(n)
    local events = process.events()
    local failed = nil
    for i = 1, n do
        coroutine.spawn(function()
            local pid, err = process.spawn_monitored("app:p4_wf", "app:worker", i)
            if not pid then failed = err end
        end)
    end
    local sum, got = 0, 0
    while got < n and not failed do
        local ev = events:receive()
        if ev.kind == process.event.EXIT then
            if ev.error then return nil, ev.error end
            got = got + 1
            sum = sum + ev.value
        end
    end
    if failed then return nil, failed end
    return sum
end
return { main = main }
""",
    ),
}

#: P4's workflow: no activity, returns its input
WORKFLOW_SOURCE = "return { main = function(i) return i end }\n"


def write_process_app(address: str = "localhost:7233") -> tuple[App, str]:
    """Write the process app with a fresh task queue; returns (app, task_queue). The
    address is only used by P4 (nothing connects when the app is loaded)."""
    tq = f"bench-proc-{uuid.uuid4().hex[:10]}"
    root = Path(tempfile.mkdtemp(prefix="moonflow-bench-proc-"))
    body = _INDEX.format(address=address, tq=tq) + "".join(
        _PROC.format(name=name, modules=modules) for name, (modules, _) in PROCESS_SOURCES.items()
    )
    (root / "_index.yaml").write_text(body)
    for name, (_, src) in PROCESS_SOURCES.items():
        (root / f"{name}.lua").write_text(src)
    (root / "p4_wf.lua").write_text(WORKFLOW_SOURCE)
    return load_app(root), tq
