"""Cancellation as a CANCEL event (issue #13, item 5, first part): a workflow reading
process.events() gets a CANCEL event when Temporal is asked to cancel it, compensates, and
either returns (Completed) or returns a Canceled error (closes as Canceled). A workflow that
does not read process.events() is cancelled at once, as before. Real-time dev server, workflow
cache off."""

from __future__ import annotations

import asyncio
import json

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import CancelledError

from moonflow.client import get_result, workflow_id_of
from moonflow.errors import WorkflowFailure

from .conftest import activity_entry, workflow_entry

pytestmark = pytest.mark.integration

FLOW = """\
local funcs = require("funcs")
local time = require("time")
local function main(input)
  local events = process.events()
  local first = funcs.call("app:step", "one")
  local timer = time.after("1h")
  local r = channel.select{ events:case_receive(), timer:case_receive() }
  if r.channel ~= events then
    return {canceled = false}
  end
  local ev = r.value
  local undo = funcs.call("app:undo", first)
  if input.close_canceled then
    return nil, errors.new({kind = errors.CANCELED, message = "canceled after " .. undo})
  end
  return {canceled = true, kind = ev.kind, type = ev.type, is_cancel = ev.kind == process.event.CANCEL,
    reason = ev.reason, undo = undo}
end
return { main = main }
"""

PLAIN = """\
local time = require("time")
local function main()
  time.sleep("1h")
  return "slept"
end
return { main = main }
"""

ACTS = """\
return {
  step = function(name) return "did " .. name end,
  undo = function(what) return "undid (" .. what .. ")" end,
}
"""


def _app(make_app):
    app = make_app(
        workflow_entry("flow", "flow.lua", "[funcs, time]")
        + workflow_entry("plain", "plain.lua", "[time]")
        + activity_entry("step", "acts.lua", "step")
        + activity_entry("undo", "acts.lua", "undo"),
        {"flow.lua": FLOW, "plain.lua": PLAIN, "acts.lua": ACTS},
    )
    app.no_cache = True
    return app


async def _wait_for_event(handle, field: str) -> None:
    """Until the run's history has an event with attributes ``field`` (10 s at most)."""
    for _ in range(200):
        history = await handle.fetch_history()
        if any(e.HasField(field) for e in history.events):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {field} in the history")


async def _wait_for_first_step(handle) -> None:
    await _wait_for_event(handle, "activity_task_completed_event_attributes")
    await asyncio.sleep(0.3)  # and the workflow task after it, so the select is waiting


async def test_a_cancel_request_is_a_cancel_event_and_the_workflow_compensates(dev_env, make_app):
    app = _app(make_app)
    async with app.workers(dev_env):
        handle = await app.start(dev_env, "app:flow", {"close_canceled": False})
        await _wait_for_first_step(handle)
        await handle.cancel(reason="customer changed their mind")
        result = await asyncio.wait_for(handle.result(), 30)
    assert result == {
        "canceled": True,
        "kind": "pid.cancel",
        "type": "CANCEL",
        "is_cancel": True,
        "reason": "customer changed their mind",
        "undo": "undid (did one)",
    }
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED


async def test_returning_a_canceled_error_closes_the_workflow_as_canceled(dev_env, make_app):
    app = _app(make_app)
    async with app.workers(dev_env):
        handle = await app.start(dev_env, "app:flow", {"close_canceled": True})
        await _wait_for_first_step(handle)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as info:
            await asyncio.wait_for(handle.result(), 30)
    assert isinstance(info.value.cause, CancelledError)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    history = await handle.fetch_history()
    undone = [e for e in history.events if e.HasField("activity_task_completed_event_attributes")]
    assert len(undone) == 2  # the step, then its compensation after the cancel request


async def test_a_workflow_not_reading_events_is_cancelled_at_once(dev_env, make_app):
    app = _app(make_app)
    async with app.workers(dev_env):
        handle = await app.start(dev_env, "app:plain")
        await asyncio.sleep(0.5)
        await handle.cancel(reason="shop closed")
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), 30)
        # moonflow's result reader gives the reason (Temporal keeps it on the request only)
        with pytest.raises(WorkflowFailure) as info:
            await get_result(dev_env.client, handle.id)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    assert (info.value.info.kind, info.value.info.message) == (
        "Canceled",
        "workflow canceled: shop closed",
    )


async def test_the_seeds_saga_compensates_in_reverse_when_cancelled_mid_way(dev_env, make_app):
    # The seed's saga (with run_compensations declared before main) does not read events: the
    # cancel request fails its in-flight activity call with kind Canceled, and the saga's own
    # error branch runs the compensations, newest first.
    from .test_seed_basic import SAGA_COMPLETED, SAGA_ENTRIES

    acts = """\
local time = require("time")
local function reserve(items) return {id = "res-" .. #items} end
local function release(id) return {released = id} end
local function charge(p) return {id = "pay-" .. p.card} end
local function refund(id) return {refunded = id} end
local function ship(s)
  time.sleep("60s") -- long enough to be cancelled while it runs
  return {tracking = "TRK-" .. s.address}
end
return {reserve = reserve, release = release, charge = charge, refund = refund, ship = ship}
"""
    entries = SAGA_ENTRIES.replace("modules: []", "modules: [time]")
    app = make_app(
        workflow_entry("saga", "saga.lua") + entries,
        {"saga.lua": SAGA_COMPLETED, "acts.lua": acts},
    )
    app.no_cache = True
    order = {"items": ["a", "b"], "payment": {"card": "ok"}, "shipping": {"address": "home"}}
    async with app.workers(dev_env):
        handle = await app.start(dev_env, "app:saga", order)
        for _ in range(200):
            history = await handle.fetch_history()
            names = [
                e.activity_task_scheduled_event_attributes.activity_type.name
                for e in history.events
                if e.HasField("activity_task_scheduled_event_attributes")
            ]
            if "app:ship_order" in names:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # the ship activity is running
        await handle.cancel()
        result = await asyncio.wait_for(handle.result(), 30)
    assert result["status"] == "failed" and result["step"] == "shipping"
    assert "Canceled" in result["error"] or "cancel" in result["error"].lower()
    history = await handle.fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert scheduled == [
        "app:reserve_inventory",
        "app:charge_payment",
        "app:ship_order",
        "app:refund_payment",
        "app:release_inventory",
    ]


CHILD = """\
local function main()
  local ev = process.events():receive()
  require("funcs").call("app:step", ev.kind .. " because " .. tostring(ev.reason)
    .. " from " .. tostring(ev.from))
  return nil, errors.new({kind = errors.CANCELED, message = "child cancelled"})
end
return { main = main }
"""

CANCELLING_PARENT = """\
local function main(input)
  local pid = process.spawn("app:child")
  local ok = process[input.how](pid, "enough")
  local ev = process.events():receive()
  local _, missing = process.cancel("{app:temporal_client@app:worker|no-such-workflow}")
  local _, bad = process.cancel(42)
  return {ok = ok, exit = ev.kind == process.event.EXIT, kind = ev.error:kind(),
    child = pid, me = process.pid(), missing = missing:kind(), bad = bad:kind()}
end
return { main = main }
"""


@pytest.mark.parametrize("how", ["cancel", "terminate"])
async def test_a_workflow_cancels_its_child(dev_env, make_app, how):
    # From a workflow, terminate is a cancel request too: Temporal lets no workflow terminate
    # another (the reference runtime does the same). The real dev server: the time-skipping
    # test server never delivers the cancel request to the child.
    app = make_app(
        workflow_entry("parent", "parent.lua", "[]")
        + workflow_entry("child", "child.lua", "[funcs]")
        + activity_entry("step", "acts.lua", "step"),
        {"parent.lua": CANCELLING_PARENT, "child.lua": CHILD, "acts.lua": ACTS},
    )
    app.no_cache = True
    result = await app.execute(dev_env, "app:parent", {"how": how})
    child = result.pop("child")
    me = result.pop("me")
    assert result == {
        "ok": True,
        "exit": True,
        "kind": "Canceled",
        "missing": "NotFound",
        "bad": "Invalid",
    }
    # The reason reaches the child's history (and its CANCEL event: see the first test). A
    # workflow closed as Canceled carries no message in Temporal, so the parent's EXIT error
    # says only "operation canceled".
    history = await dev_env.client.get_workflow_handle(workflow_id_of(child)).fetch_history()
    requested = [
        e.workflow_execution_cancel_requested_event_attributes.cause
        for e in history.events
        if e.HasField("workflow_execution_cancel_requested_event_attributes")
    ]
    # The server words it "Cancel requested by workflow with run id X with reason: enough
    # [from PID]"; the child's CANCEL event gets "enough" and `from` (the driver parses both).
    assert len(requested) == 1 and requested[0].endswith(f"with reason: enough [from {me}]")
    done = [
        e.activity_task_completed_event_attributes.result.payloads[0].data
        for e in history.events
        if e.HasField("activity_task_completed_event_attributes")
    ]
    # the CANCEL event names the parent in `from` (Temporal carries only its run id)
    assert [json.loads(d) for d in done] == [f"did pid.cancel because enough from {me}"]


EXEC_WAITER = """\
local funcs = require("funcs")
local workflow = require("workflow")
local function main()
  local first = funcs.call("app:step", "one")
  local _, err = workflow.exec("app:slow_child")
  local undo = funcs.call("app:undo", first)
  return {exec_kind = err and err:kind(), undo = undo}
end
return { main = main }
"""

SLOW_CHILD = """\
local function main()
  local ev = process.events():receive()
  return nil, errors.new({kind = errors.CANCELED, message = "child cancelled"})
end
return { main = main }
"""


async def test_cancel_while_waiting_in_exec_cancels_the_child_and_returns_canceled(
    dev_env, make_app
):
    app = make_app(
        workflow_entry("flow", "flow.lua", "[funcs, workflow]")
        + workflow_entry("slow_child", "slow.lua", "[]")
        + activity_entry("step", "acts.lua", "step")
        + activity_entry("undo", "acts.lua", "undo"),
        {"flow.lua": EXEC_WAITER, "slow.lua": SLOW_CHILD, "acts.lua": ACTS},
    )
    app.no_cache = True
    async with app.workers(dev_env):
        handle = await app.start(dev_env, "app:flow")
        await _wait_for_event(handle, "child_workflow_execution_started_event_attributes")
        await asyncio.sleep(0.3)
        await handle.cancel()
        result = await asyncio.wait_for(handle.result(), 30)
    assert result == {"exec_kind": "Canceled", "undo": "undid (did one)"}


WATCHING_EXEC = """\
local workflow = require("workflow")
local function main()
  local events = process.events()
  local _, err = workflow.exec("app:slow_child")
  local ev = events:receive()
  return {exec_kind = err and err:kind(), event = ev.kind, reason = ev.reason}
end
return { main = main }
"""


async def test_a_watcher_blocked_in_exec_gets_canceled_from_exec_and_the_event(dev_env, make_app):
    """Code that reads process.events() but waits in exec when the cancel arrives: the
    exec'd child is cancelled (exec returns Canceled) and the CANCEL event is there too."""
    app = make_app(
        workflow_entry("flow", "flow.lua", "[workflow]")
        + workflow_entry("slow_child", "slow.lua", "[]"),
        {"flow.lua": WATCHING_EXEC, "slow.lua": SLOW_CHILD},
    )
    app.no_cache = True
    async with app.workers(dev_env):
        handle = await app.start(dev_env, "app:flow")
        await _wait_for_event(handle, "child_workflow_execution_started_event_attributes")
        await handle.cancel(reason="stop")
        result = await asyncio.wait_for(handle.result(), 30)
    assert result == {"exec_kind": "Canceled", "event": "pid.cancel", "reason": "stop"}
