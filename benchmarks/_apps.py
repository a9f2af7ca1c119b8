"""The sides of every workload: a moonflow app (workflow.lua + function.lua entries) written
to a temp dir, the equivalent native temporalio workflows and activities (unsandboxed), and for
W1-W3 and W6 the same native workflows on the SDK's default sandboxed runner (W1-W3's classes
and the activity are in ``_sandboxed.py``)."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from moonflow.registry import App, load_app
from moonflow.worker import build_workers

from ._sandboxed import SANDBOXED, noop

_INDEX = """\
version: "1.0"
namespace: app
entries:
  - name: temporal_client
    kind: temporal.client
    address: "{address}"
    namespace: "default"
  - name: worker
    kind: temporal.worker
    client: app:temporal_client
    task_queue: "{tq}"
  - name: noop
    kind: function.lua
    source: file://noop.lua
    method: noop
    modules: []
    meta:
      temporal:
        activity:
          worker: app:worker
  - name: noop_local
    kind: function.lua
    source: file://noop.lua
    method: noop
    modules: []
    meta:
      temporal:
        activity:
          worker: app:worker
          local: true
"""

_WF = """\
  - name: {name}
    kind: workflow.lua
    source: file://{name}.lua
    method: main
    modules: [funcs, time, workflow, errors]
    meta:
      temporal:
        workflow:
          worker: app:worker
"""

LUA_SOURCES = {
    "noop": "local function noop(x) return x end\nreturn { noop = noop }\n",
    # W1 / W6: one activity
    "w1": """\
local funcs = require("funcs")
local function main(x)
    local r, err = funcs.call("app:noop", x)
    if err then return nil, err end
    return r
end
return { main = main }
""",
    # W7: one local activity
    "w7": """\
local funcs = require("funcs")
local function main(x)
    local r, err = funcs.call("app:noop_local", x)
    if err then return nil, err end
    return r
end
return { main = main }
""",
    # W2: 20 sequential activities
    "w2": """\
local funcs = require("funcs")
local function main(n)
    local last
    for i = 1, n do
        local r, err = funcs.call("app:noop", i)
        if err then return nil, err end
        last = r
    end
    return last
end
return { main = main }
""",
    # W3: 20 sequential 10 ms timers
    "w3": """\
local time = require("time")
local function main(n)
    for _ = 1, n do time.sleep("10ms") end
    return n
end
return { main = main }
""",
    # W4: receive n signals on topic "tick"
    "w4": """\
local function main(n)
    local ch = process.listen("tick")
    local total = 0
    while total < n do
        ch:receive()
        total = total + 1
    end
    return total
end
return { main = main }
""",
    # M2: idle on a long timer
    "idle": """\
local time = require("time")
local function main(x)
    time.sleep("1h")
    return x
end
return { main = main }
""",
    # W5: k sequential activities, then (optionally) wait for a "go" signal
    "w5": """\
local funcs = require("funcs")
local function main(k, wait)
    for i = 1, k do
        local r, err = funcs.call("app:noop", i)
        if err then return nil, err end
    end
    if wait then process.listen("go"):receive() end
    return k
end
return { main = main }
""",
}

WORKFLOWS = ["w1", "w2", "w3", "w4", "idle", "w5", "w7"]


def write_lua_app(address: str, root: Path | None = None) -> tuple[App, str]:
    """Write the moonflow app with a fresh task queue; returns (app, task_queue)."""
    tq = f"bench-lua-{uuid.uuid4().hex[:10]}"
    root = root or Path(tempfile.mkdtemp(prefix="moonflow-bench-"))
    body = _INDEX.format(address=address, tq=tq) + "".join(_WF.format(name=n) for n in WORKFLOWS)
    (root / "_index.yaml").write_text(body)
    for name, src in LUA_SOURCES.items():
        (root / f"{name}.lua").write_text(src)
    return load_app(root), tq


def lua_worker(app: App, client: Client, **options: Any) -> Worker:
    clients = {c.entry.id: client for c in app.clients()}
    (worker,) = build_workers(app, clients, worker_options=options or None)
    return worker


def lua_type(app: App, name: str) -> str:
    return app.workflow_type(f"app:{name}")


# ---- native side ---------------------------------------------------------------------------
# W1-W3's classes and the activity come from ``_sandboxed`` (imports only temporalio), so that
# the native and the sandboxed sides run the same code; the native worker runs them unsandboxed.
_ACT = {"start_to_close_timeout": timedelta(seconds=60)}


@workflow.defn(name="NW7", sandboxed=False)
class NW7:
    @workflow.run
    async def run(self, x: Any) -> Any:
        return await workflow.execute_local_activity(noop, x, **_ACT)


@workflow.defn(name="NW4", sandboxed=False)
class NW4:
    def __init__(self) -> None:
        self.total = 0

    @workflow.signal(name="tick")
    def tick(self, _v: Any) -> None:
        self.total += 1

    @workflow.run
    async def run(self, n: int) -> int:
        await workflow.wait_condition(lambda: self.total >= n)
        return self.total


@workflow.defn(name="NIdle", sandboxed=False)
class NIdle:
    @workflow.run
    async def run(self, x: Any) -> Any:
        await asyncio.sleep(3600)
        return x


@workflow.defn(name="NW5", sandboxed=False)
class NW5:
    def __init__(self) -> None:
        self.go = False

    @workflow.signal(name="go")
    def on_go(self, _v: Any = None) -> None:
        self.go = True

    @workflow.run
    async def run(self, k: int, wait: bool) -> int:
        for i in range(1, k + 1):
            await workflow.execute_activity(noop, i, **_ACT)
        if wait:
            await workflow.wait_condition(lambda: self.go)
        return k


NATIVE = {**SANDBOXED, "w4": NW4, "idle": NIdle, "w5": NW5, "w7": NW7}


def python_worker(client: Client, tq: str, *, sandboxed: bool, **options: Any) -> Worker:
    """A worker for the native workflows, same activity and pool on both sides.

    ``sandboxed``: W1-W3 as a Python user gets them by default (the worker's default
    ``SandboxedWorkflowRunner``); otherwise every native workflow, unsandboxed."""
    runner = {} if sandboxed else {"workflow_runner": UnsandboxedWorkflowRunner()}
    return Worker(
        client,
        task_queue=tq,
        workflows=list((SANDBOXED if sandboxed else NATIVE).values()),
        activities=[noop],
        activity_executor=ThreadPoolExecutor(max_workers=16, thread_name_prefix="native-act"),
        **runner,
        **options,
    )


class Side:
    """One side of a pair: how to make a worker and which workflow type to start."""

    def __init__(self, kind: str, client: Client, address: str) -> None:
        self.kind = kind  # "lua", "native" (unsandboxed) or "sandboxed"
        self.client = client
        self.address = address
        self.tq = ""
        self.app: App | None = None

    def fresh(self) -> None:
        """A new task queue (and, for Lua, a new app) for the next run."""
        if self.kind == "lua":
            self.app, self.tq = write_lua_app(self.address)
        else:
            self.tq = f"bench-{self.kind}-{uuid.uuid4().hex[:10]}"

    def worker(self, **options: Any) -> Worker:
        if self.kind == "lua":
            assert self.app is not None
            return lua_worker(self.app, self.client, **options)
        return python_worker(self.client, self.tq, sandboxed=self.kind == "sandboxed", **options)

    def wf_type(self, name: str) -> str:
        if self.kind == "lua":
            assert self.app is not None
            return lua_type(self.app, name)
        return getattr(NATIVE[name], "__temporal_workflow_definition").name
