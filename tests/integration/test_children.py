"""Child workflows (issue #13, items 1 and 2): the seed's "Child Workflows" example as written,
the later spawn/events form, process.exec and workflow.exec, on the time-skipping server with the
workflow cache off (every workflow task replays the history so far)."""

from __future__ import annotations

import pytest

from .conftest import activity_entry, history_events, workflow_entry

pytestmark = pytest.mark.integration

# The seed's example, verbatim (workflows.md "Child Workflows").
SEED_PARENT = """\
local function main(order)
    -- Spawn child workflow
    local payment_pid = process.spawn(
        "app:payment_workflow",
        "app:worker",
        {order_id = order.id, amount = order.total}
    )

    local shipping_pid = process.spawn(
        "app:shipping_workflow",
        "app:worker",
        {order_id = order.id, address = order.address}
    )

    -- Wait for both to complete
    local results = {}
    local events = process.events()

    for event in events:iter() do
        if event.type == "EXIT" then
            if event.pid == payment_pid then
                results.payment = event.result
            elseif event.pid == shipping_pid then
                results.shipping = event.result
            end
        end

        if results.payment and results.shipping then
            break
        end
    end

    return {
        status = "completed",
        payment = results.payment,
        shipping = results.shipping
    }
end
return { main = main }
"""

PAYMENT = """\
local time = require("time")
local function main(req)
  time.sleep("10m")
  return {charged = req.amount, order = req.order_id}
end
return { main = main }
"""

SHIPPING = """\
local funcs = require("funcs")
local function main(req)
  local label = funcs.call("app:label", req.address)
  return {label = label, order = req.order_id}
end
return { main = main }
"""

LABEL = "return { label = function(address) return 'LBL-' .. address end }\n"

FAILING = """\
local function main(req)
  return nil, errors.new({kind = errors.NOT_FOUND, message = "no such order " .. req.order_id,
    retryable = false})
end
return { main = main }
"""

# The later form: spawn, then events:receive() with event.kind / event.from / result.value.
LATER_PARENT = """\
local function main(order)
  local ok_pid = process.spawn_monitored("app:payment_workflow", "app:worker",
    {order_id = order.id, amount = 5})
  local bad_pid = process.spawn("app:failing_workflow", nil, {order_id = order.id})
  local events = process.events()
  local seen = {}
  while not (seen.ok and seen.bad) do
    local event = events:receive()
    assert(event.kind == process.event.EXIT, "kind")
    if event.from == ok_pid then
      seen.ok = event.result.value
    elseif event.from == bad_pid then
      local err = event.result.error
      seen.bad = {kind = err:kind(), message = err:message(), retryable = err:retryable(),
        value_is_nil = event.result.value == nil}
    end
  end
  return seen
end
return { main = main }
"""

EXEC_PARENT = """\
local workflow = require("workflow")
local function main(order)
  local paid, perr = process.exec("app:payment_workflow", "app:worker",
    {order_id = order.id, amount = 7})
  local shipped = workflow.exec("app:shipping_workflow", {order_id = order.id, address = "x"})
  local none, err = workflow.exec({workflow = "app:failing_workflow"}, {order_id = order.id})
  local _, err2 = process.exec("app:failing_workflow", nil, {order_id = "o9"})
  local _, missing = workflow.exec("app:nope", 1)
  return {
    paid = paid, perr = perr == nil, shipped = shipped,
    none = none == nil, kind = err:kind(), message = err:message(), retryable = err:retryable(),
    kind2 = err2:kind(), missing = missing:kind(), missing_message = missing:message(),
  }
end
return { main = main }
"""


def _entries() -> str:
    return (
        workflow_entry("parent", "parent.lua", "[funcs, time, workflow]")
        + workflow_entry("payment_workflow", "payment.lua", "[time]")
        + workflow_entry("shipping_workflow", "shipping.lua", "[funcs]")
        + workflow_entry("failing_workflow", "failing.lua", "[]")
        + activity_entry("label", "label.lua", "label")
    )


def _app(make_app, parent: str):
    app = make_app(
        _entries(),
        {
            "parent.lua": parent,
            "payment.lua": PAYMENT,
            "shipping.lua": SHIPPING,
            "failing.lua": FAILING,
            "label.lua": LABEL,
        },
    )
    app.no_cache = True
    return app


async def test_the_seeds_child_workflow_example_runs_as_written(ts_env, make_app):
    app = _app(make_app, SEED_PARENT)
    wid = "seed-children-1"
    order = {"id": "o1", "total": 99, "address": "Main St"}
    result = await app.execute(ts_env, "app:parent", order, id=wid)
    # event.result is each child's own value: nothing wrapped around it
    assert result == {
        "status": "completed",
        "payment": {"charged": 99, "order": "o1"},
        "shipping": {"label": "LBL-Main St", "order": "o1"},
    }
    events = await history_events(ts_env, wid)
    started = [
        e["startChildWorkflowExecutionInitiatedEventAttributes"]
        for e in events
        if "startChildWorkflowExecutionInitiatedEventAttributes" in e
    ]
    assert [s["workflowType"]["name"] for s in started] == [
        "app:payment_workflow",
        "app:shipping_workflow",
    ]
    # deterministic default ids: the parent's id, its run, the child's number
    assert [s["workflowId"].rsplit("-", 1)[1] for s in started] == ["1", "2"]
    assert all(s["workflowId"].startswith(wid + "-") for s in started)


async def test_the_later_form_with_event_kind_from_and_result_value(ts_env, make_app):
    app = _app(make_app, LATER_PARENT)
    result = await app.execute(ts_env, "app:parent", {"id": "o2"})
    assert result == {
        "ok": {"charged": 5, "order": "o2"},
        "bad": {
            "kind": "NotFound",
            "message": "no such order o2",
            "retryable": False,
            "value_is_nil": True,
        },
    }


async def test_process_exec_and_workflow_exec(ts_env, make_app):
    app = _app(make_app, EXEC_PARENT)
    result = await app.execute(ts_env, "app:parent", {"id": "o3"})
    assert result["paid"] == {"charged": 7, "order": "o3"} and result["perr"] is True
    assert result["shipped"] == {"label": "LBL-x", "order": "o3"}
    assert result["none"] is True
    assert (result["kind"], result["message"], result["retryable"]) == (
        "NotFound",
        "no such order o3",
        False,
    )
    assert result["kind2"] == "NotFound"
    assert result["missing"] == "NotFound"
    assert "app:nope" in result["missing_message"]
