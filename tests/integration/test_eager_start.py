"""Eager workflow start (issue 18, item 1): a start made by a client whose process runs a worker
of the workflow's task queue gets the first workflow task back in the start response, instead
of the server queueing it for a poller (50 ms per workflow task on a default dev server).

How a history shows it: the server records the first ``WorkflowTaskStarted`` of an eager start
with the start request's own request id (the one ``describe`` lists for event 1,
``WorkflowExecutionStarted``); a task handed to a poller carries the poll's request id.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from moonflow.client import get_result, start_workflow
from moonflow.worker import build_workers

from .conftest import activity_entry, workflow_entry

pytestmark = pytest.mark.integration

SRC = str(Path(__file__).resolve().parents[2] / "src")

ECHO = "local function echo(x) return x end\nreturn { echo = echo }\n"

#: Waits for one message when the input asks for it (the signal-with-start path).
WAITS = """\
local funcs = require("funcs")
local function main(x)
  local topic
  if x and x.wait then topic = process.inbox():receive():topic() end
  local r, err = funcs.call("app:echo", x)
  if err then return nil, err end
  return {got = r, topic = topic}
end
return { main = main }
"""


def _app(make_app):
    return make_app(
        workflow_entry("flow", "flow.lua") + activity_entry("echo", "echo.lua", "echo"),
        {"flow.lua": WAITS, "echo.lua": ECHO},
    )


async def _eagerly_started(client: Client, workflow_id: str) -> bool:
    """True when the run's first workflow task was handed out in the start response."""
    desc = await client.get_workflow_handle(workflow_id).describe()
    infos = desc.raw_description.workflow_extended_info.request_id_infos
    start_ids = {
        rid
        for rid, info in infos.items()
        if info.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    }
    assert start_ids, f"describe lists no start request id: {dict(infos)}"
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    first_task = next(
        e.workflow_task_started_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
    )
    return first_task.request_id in start_ids


async def test_a_start_next_to_a_worker_of_its_task_queue_is_eager(dev_env, make_app):
    app = _app(make_app)
    async with app.workers(dev_env):
        wf_id, _run_id, _pid = await start_workflow(dev_env.client, app.app, "app:flow", {"n": 1})
        assert await asyncio.wait_for(get_result(dev_env.client, wf_id), 60) == {"got": {"n": 1}}
        # with a request id (the start goes through the request-id client, same connection)
        rid = f"r-{uuid.uuid4().hex[:8]}"
        options = {"workflow.request_id": rid}
        first = await start_workflow(dev_env.client, app.app, "app:flow", {"n": 2}, options=options)
        assert await asyncio.wait_for(get_result(dev_env.client, first[0]), 60) == {"got": {"n": 2}}
        again = await start_workflow(dev_env.client, app.app, "app:flow", {"n": 2}, options=options)
        assert again == first
        # with context values (the start goes through the sender client)
        ctx = await start_workflow(
            dev_env.client, app.app, "app:flow", {"n": 3}, context={"tenant": "acme"}
        )
        assert await asyncio.wait_for(get_result(dev_env.client, ctx[0]), 60) == {"got": {"n": 3}}
    assert await _eagerly_started(dev_env.client, wf_id)
    assert await _eagerly_started(dev_env.client, first[0])
    assert await _eagerly_started(dev_env.client, ctx[0])


async def test_a_start_without_a_local_worker_is_an_ordinary_one(dev_env, make_app):
    """The control: the worker polls over another connection, so the start is not eager (and
    the workflow still runs); signal-with-start has no eager form."""
    app = _app(make_app)
    address = dev_env.client.service_client.config.target_host
    other = await Client.connect(address, namespace=dev_env.client.namespace)
    clients = {c.entry.id: other for c in app.app.clients()}
    workers = build_workers(app.app, clients)
    for w in workers:
        await w.__aenter__()
    try:
        wf_id, _, _ = await start_workflow(dev_env.client, app.app, "app:flow", {"n": 1})
        assert await asyncio.wait_for(get_result(dev_env.client, wf_id), 60) == {"got": {"n": 1}}
    finally:
        for w in reversed(workers):
            await w.__aexit__(None, None, None)
    assert not await _eagerly_started(dev_env.client, wf_id)

    async with app.workers(dev_env):
        swd, _, _ = await start_workflow(
            dev_env.client, app.app, "app:flow", {"wait": True}, signals=[("go",)]
        )
        result = await asyncio.wait_for(get_result(dev_env.client, swd), 60)
    assert result == {"got": {"wait": True}, "topic": "go"}
    assert not await _eagerly_started(dev_env.client, swd)


async def test_moonflow_execute_starts_eagerly(dev_env, make_app):
    app = _app(make_app)
    address = dev_env.client.service_client.config.target_host
    wf_id = f"exec-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("MOONFLOW_SERVER", None)
    env.pop("TEMPORAL_ADDRESS", None)
    args = ["execute", str(app.root), "app:flow", "--input", '{"n": 7}', "--id", wf_id, "-q"]
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "moonflow", *args, "--server", address],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"got": {"n": 7}}
    assert await _eagerly_started(dev_env.client, wf_id)


STARTER = """\
local function main()
  local events = process.events()
  local pid, err = process.spawn_monitored("app:flow", "app:worker", {n = 5})
  if not pid then return nil, err end
  while true do
    local ev = events:receive()
    if ev.kind == process.event.EXIT then
      if ev.error then return nil, ev.error end
      return {pid = pid, value = ev.value}
    end
  end
end
return { main = main }
"""


async def test_a_workflow_a_process_starts_under_moonflow_run_x_starts_eagerly(dev_env, make_app):
    app = make_app(
        workflow_entry("flow", "flow.lua")
        + activity_entry("echo", "echo.lua", "echo")
        + "\n- name: starter\n  kind: process.lua\n  source: file://starter.lua\n"
        "  method: main\n  modules: []\n",
        {"flow.lua": WAITS, "echo.lua": ECHO, "starter.lua": STARTER},
    )
    address = dev_env.client.service_client.config.target_host
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("MOONFLOW_SERVER", None)
    env.pop("TEMPORAL_ADDRESS", None)
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "moonflow", "run", str(app.root), "--server", address]
        + ["-x", "app:starter"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["value"] == {"got": {"n": 5}}
    wf_id = out["pid"].rstrip("}").rpartition("|")[2]
    assert await _eagerly_started(dev_env.client, wf_id)
