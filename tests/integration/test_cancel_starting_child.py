"""A cancel that arrives while a child workflow is still starting (issue #13, item 5): it
reaches the child once the child has started, and a parent cancelled before its child started
never leaves the child running. The parent is cancelled right after its start, so the request
is in its history before the child's start is recorded. Real dev server (the time-skipping
server does not deliver cancel requests to children), workflow cache off."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import CancelledError

from .conftest import workflow_entry

pytestmark = pytest.mark.integration

SLEEPER = """\
local time = require("time")
local function main()
  time.sleep("1h")
  return "woke"
end
return { main = main }
"""

EXEC_PARENT = """\
local workflow = require("workflow")
local function main()
  local value, err = workflow.exec("app:sleeper")
  return {value = value, kind = err and err:kind()}
end
return { main = main }
"""

SPAWN_WATCHING = """\
local function main()
  local events = process.events()
  local pid = process.spawn("app:sleeper")
  local ev = events:receive()
  return nil, errors.new({kind = errors.CANCELED, message = "parent saw " .. ev.kind})
end
return { main = main }
"""

SPAWN_PLAIN = """\
local time = require("time")
local function main()
  local pid = process.spawn("app:sleeper")
  time.sleep("1h")
  return pid
end
return { main = main }
"""


async def _children_of(handle) -> list[str]:
    history = await handle.fetch_history()
    return [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for e in history.events
        if e.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]


async def _final_status(client, workflow_id: str) -> WorkflowExecutionStatus | None:
    """The child's status once it is not running (None: it never started), waiting up to 15 s
    for it to close; a child not found is looked up again 2 s later (a late start)."""
    import temporalio.service

    missing = 0
    for _ in range(150):
        try:
            desc = await client.get_workflow_handle(workflow_id).describe()
        except temporalio.service.RPCError:
            missing += 1
            if missing > 20:
                return None
            await asyncio.sleep(0.1)
            continue
        if desc.status != WorkflowExecutionStatus.RUNNING:
            return desc.status
        await asyncio.sleep(0.1)
    raise AssertionError(f"child {workflow_id} is still running")


@pytest.mark.parametrize("parent", ["exec", "spawn_watching", "spawn_plain"])
async def test_a_parent_cancelled_while_its_child_starts_leaves_no_child_running(
    dev_env, make_app, parent
):
    source = {"exec": EXEC_PARENT, "spawn_watching": SPAWN_WATCHING, "spawn_plain": SPAWN_PLAIN}
    app = make_app(
        workflow_entry("parent", "parent.lua", "[time, workflow]")
        + workflow_entry("sleeper", "sleeper.lua", "[time]"),
        {"parent.lua": source[parent], "sleeper.lua": SLEEPER},
    )
    app.no_cache = True
    async with app.workers(dev_env):
        handle = await app.start(dev_env, "app:parent")
        await handle.cancel(reason="stop")  # before the parent's first workflow task ends
        if parent == "exec":
            # exec returns Canceled, as when a running exec'd child is cancelled; the parent
            # goes on and completes.
            assert await asyncio.wait_for(handle.result(), 30) == {"kind": "Canceled"}
        else:
            with pytest.raises(WorkflowFailureError) as info:
                await asyncio.wait_for(handle.result(), 30)
            assert isinstance(info.value.cause, CancelledError)
        children = await _children_of(handle)
        assert len(children) <= 1
        statuses = [await _final_status(dev_env.client, c) for c in children]
    # Never started, or started and then ended by the cancel or the parent-close policy.
    assert all(
        s in (None, WorkflowExecutionStatus.CANCELED, WorkflowExecutionStatus.TERMINATED)
        for s in statuses
    ), statuses
