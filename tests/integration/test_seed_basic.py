"""The seed's runnable code blocks, as written, on the time-skipping server (issue 2).

Each test quotes the seed's Lua verbatim; only the scaffolding a snippet leaves out (requires,
the activities it calls, a wrapping main where the snippet is a fragment) is added around it.
"""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import WorkflowFailureError

from moonflow.determinism import check_globals

from .conftest import activity_entry, history_events, workflow_entry

pytestmark = pytest.mark.integration

# --- "Basic Implementation", verbatim --------------------------------------------------
BASIC = """\
local funcs = require("funcs")
local time = require("time")

local function main(order)
    -- Call activity
    local payment, err = funcs.call("app:charge_payment", {
        amount = order.total,
        customer = order.customer_id
    })
    if err then
        return {status = "failed", error = tostring(err)}
    end

    -- Durable sleep (survives restarts)
    time.sleep("1h")

    -- Another activity
    local shipment, err = funcs.call("app:ship_order", {
        order_id = order.id,
        address = order.shipping_address
    })
    if err then
        -- Compensate on failure
        funcs.call("app:refund_payment", payment.id)
        return {status = "failed", error = tostring(err)}
    end

    return {
        status = "completed",
        payment_id = payment.id,
        tracking = shipment.tracking_number
    }
end

return { main = main }
"""

# Minimal activities the seed's workflows call (stand-ins for real providers).
ACTIVITIES = """\
local function charge(req)
    if req.amount > 1000 then
        return nil, errors.new({kind = errors.INVALID, message = "card declined for " .. req.customer, retryable = false})
    end
    return {id = "pay-" .. req.customer, amount = req.amount}
end
local function ship(req)
    if req.address == "nowhere" then
        return nil, errors.new({kind = errors.INVALID, message = "cannot ship to nowhere", retryable = false})
    end
    return {tracking_number = "TRK-" .. req.order_id}
end
local function refund(payment_id)
    return {refunded = payment_id}
end
return {charge = charge, ship = ship, refund = refund}
"""

ACTIVITY_ENTRIES = (
    activity_entry("charge_payment", "activities.lua", "charge")
    + activity_entry("ship_order", "activities.lua", "ship")
    + activity_entry("refund_payment", "activities.lua", "refund")
)


@pytest.fixture
def basic_app(make_app):
    return make_app(
        workflow_entry("order_workflow", "order_workflow.lua", "[funcs, time]") + ACTIVITY_ENTRIES,
        {"order_workflow.lua": BASIC, "activities.lua": ACTIVITIES},
    )


async def test_basic_implementation_completes(ts_env, basic_app):
    order = {"id": "o1", "total": 50, "customer_id": "c1", "shipping_address": "1 Main St"}
    result = await basic_app.execute(ts_env, "app:order_workflow", order)
    assert result == {"status": "completed", "payment_id": "pay-c1", "tracking": "TRK-o1"}


async def test_basic_implementation_refunds_on_shipping_failure(ts_env, basic_app):
    order = {"id": "o2", "total": 50, "customer_id": "c2", "shipping_address": "nowhere"}
    wid = f"basic-{uuid.uuid4()}"
    result = await basic_app.execute(ts_env, "app:order_workflow", order, id=wid)
    assert result == {"status": "failed", "error": "cannot ship to nowhere"}
    events = await history_events(ts_env, wid)
    scheduled = [
        e["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        for e in events
        if "activityTaskScheduledEventAttributes" in e
    ]
    assert scheduled == ["app:charge_payment", "app:ship_order", "app:refund_payment"]
    timers = [e for e in events if "timerStartedEventAttributes" in e]
    assert [t["timerStartedEventAttributes"]["startToFireTimeout"] for t in timers] == ["3600s"]


async def test_basic_implementation_payment_error(ts_env, basic_app):
    order = {"id": "o3", "total": 5000, "customer_id": "c3", "shipping_address": "x"}
    result = await basic_app.execute(ts_env, "app:order_workflow", order)
    assert result == {"status": "failed", "error": "card declined for c3"}


# --- "Error Handling" -> "Activity Errors" ---------------------------------------------
ERROR_HANDLING_SNIPPET = """\
local result, err = funcs.call("app:risky_activity", input)

if err then
    -- Log error
    funcs.call("app:log_error", {
        workflow_id = workflow.info().workflow_id,
        error = tostring(err),
        input = input
    })

    -- Compensate
    funcs.call("app:rollback", {transaction_id = tx_id})

    return {status = "failed", error = tostring(err)}
end
"""

ERROR_ACTIVITIES = """\
local calls = {}
local function risky(input)
    return nil, errors.new({kind = errors.UNAVAILABLE, message = "risky failed for " .. input.name, retryable = false})
end
local function log_error(entry)
    return {logged = entry.error, wid = entry.workflow_id}
end
local function rollback(req)
    return {rolled_back = req.transaction_id}
end
return {risky = risky, log_error = log_error, rollback = rollback}
"""

ERROR_ENTRIES = (
    activity_entry("risky_activity", "acts.lua", "risky")
    + activity_entry("log_error", "acts.lua", "log_error")
    + activity_entry("rollback", "acts.lua", "rollback")
)


def _wrap(snippet: str, prelude: str) -> str:
    return (
        'local funcs = require("funcs")\nlocal workflow = require("workflow")\n'
        "local function main(input)\n" + prelude + snippet + '    return {status = "ok"}\nend\n'
        "return { main = main }\n"
    )


async def test_error_handling_completed_minimally(ts_env, make_app):
    # The snippet never defines tx_id; the minimal completion declares it.
    src = _wrap(ERROR_HANDLING_SNIPPET, '    local tx_id = "tx-" .. input.name\n')
    app = make_app(
        workflow_entry("flow", "flow.lua") + ERROR_ENTRIES,
        {"flow.lua": src, "acts.lua": ERROR_ACTIVITIES},
    )
    wid = f"err-{uuid.uuid4()}"
    result = await app.execute(ts_env, "app:flow", {"name": "n1"}, id=wid)
    assert result == {"status": "failed", "error": "risky failed for n1"}
    events = await history_events(ts_env, wid)
    completed = [e for e in events if "activityTaskCompletedEventAttributes" in e]
    assert len(completed) == 2
    scheduled = [
        e["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        for e in events
        if "activityTaskScheduledEventAttributes" in e
    ]
    assert scheduled == ["app:risky_activity", "app:log_error", "app:rollback"]


async def test_error_handling_unchanged_runs_as_stock_lua_and_check_flags_tx_id(ts_env, make_app):
    # Verbatim, the snippet reads tx_id, which nothing sets: nil, as in stock Lua and the
    # reference runtime, so the rollback gets no transaction id. `moonflow check` points at it.
    src = _wrap(ERROR_HANDLING_SNIPPET, "")
    app = make_app(
        workflow_entry("flow", "flow.lua") + ERROR_ENTRIES,
        {"flow.lua": src, "acts.lua": ERROR_ACTIVITIES},
    )
    wid = f"err-{uuid.uuid4()}"
    result = await app.execute(ts_env, "app:flow", {"name": "n1"}, id=wid)
    assert result == {"status": "failed", "error": "risky failed for n1"}
    events = await history_events(ts_env, wid)
    rollback = [
        e["activityTaskScheduledEventAttributes"]
        for e in events
        if "activityTaskScheduledEventAttributes" in e
        and e["activityTaskScheduledEventAttributes"]["activityType"]["name"] == "app:rollback"
    ]
    assert len(rollback) == 1
    # Line 15 of flow.lua: the rollback call that reads tx_id (3 lines of scaffolding first).
    assert (
        "warning: flow.lua:15: app:flow: global 'tx_id' is never assigned in this file, so it "
        "reads nil: define it (local tx_id = ...) or check the spelling"
    ) in [str(w) for w in check_globals(app.app)]


# --- "Compensation Pattern (Saga)", verbatim ------------------------------------------
SAGA = """\
local function main(order)
    local compensations = {}

    -- Step 1: Reserve inventory
    local reservation, err = funcs.call("app:reserve_inventory", order.items)
    if err then
        return {status = "failed", step = "inventory", error = tostring(err)}
    end
    table.insert(compensations, 1, {
        action = "app:release_inventory",
        args = reservation.id
    })

    -- Step 2: Charge payment
    local payment, err = funcs.call("app:charge_payment", order.payment)
    if err then
        run_compensations(compensations)
        return {status = "failed", step = "payment", error = tostring(err)}
    end
    table.insert(compensations, 1, {
        action = "app:refund_payment",
        args = payment.id
    })

    -- Step 3: Ship order
    local shipment, err = funcs.call("app:ship_order", order.shipping)
    if err then
        run_compensations(compensations)
        return {status = "failed", step = "shipping", error = tostring(err)}
    end

    return {status = "completed", tracking = shipment.tracking}
end

local function run_compensations(compensations)
    for _, comp in ipairs(compensations) do
        funcs.call(comp.action, comp.args)
    end
end
"""

SAGA_ACTIVITIES = """\
local function reserve(items) return {id = "res-" .. #items} end
local function release(id) return {released = id} end
local function charge(p)
    if p.card == "bad" then
        return nil, errors.new({kind = errors.INVALID, message = "declined", retryable = false})
    end
    return {id = "pay-" .. p.card}
end
local function refund(id) return {refunded = id} end
local function ship(s)
    if s.address == "nowhere" then
        return nil, errors.new({kind = errors.INVALID, message = "undeliverable", retryable = false})
    end
    return {tracking = "TRK-" .. s.address}
end
return {reserve = reserve, release = release, charge = charge, refund = refund, ship = ship}
"""

SAGA_ENTRIES = (
    activity_entry("reserve_inventory", "acts.lua", "reserve")
    + activity_entry("release_inventory", "acts.lua", "release")
    + activity_entry("charge_payment", "acts.lua", "charge")
    + activity_entry("refund_payment", "acts.lua", "refund")
    + activity_entry("ship_order", "acts.lua", "ship")
)

# Minimal completion: the helper is declared before main uses it (a forward declaration).
SAGA_COMPLETED = (
    'local funcs = require("funcs")\nlocal run_compensations\n'
    + SAGA.replace("local function run_compensations", "function run_compensations")
    + "return { main = main }\n"
)
SAGA_UNCHANGED = 'local funcs = require("funcs")\n' + SAGA + "return { main = main }\n"


async def _scheduled(env, wid):
    return [
        e["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        for e in await history_events(env, wid)
        if "activityTaskScheduledEventAttributes" in e
    ]


@pytest.mark.parametrize(
    "order, expected, calls",
    [
        (
            {"items": ["a", "b"], "payment": {"card": "ok"}, "shipping": {"address": "home"}},
            {"status": "completed", "tracking": "TRK-home"},
            ["app:reserve_inventory", "app:charge_payment", "app:ship_order"],
        ),
        (
            {"items": ["a"], "payment": {"card": "bad"}, "shipping": {"address": "home"}},
            {"status": "failed", "step": "payment", "error": "declined"},
            ["app:reserve_inventory", "app:charge_payment", "app:release_inventory"],
        ),
        (
            {"items": ["a"], "payment": {"card": "ok"}, "shipping": {"address": "nowhere"}},
            {"status": "failed", "step": "shipping", "error": "undeliverable"},
            [
                "app:reserve_inventory",
                "app:charge_payment",
                "app:ship_order",
                "app:refund_payment",
                "app:release_inventory",
            ],
        ),
    ],
)
async def test_saga_completed_minimally(ts_env, make_app, order, expected, calls):
    app = make_app(
        workflow_entry("saga", "saga.lua") + SAGA_ENTRIES,
        {"saga.lua": SAGA_COMPLETED, "acts.lua": SAGA_ACTIVITIES},
    )
    wid = f"saga-{uuid.uuid4()}"
    assert await app.execute(ts_env, "app:saga", order, id=wid) == expected
    assert await _scheduled(ts_env, wid) == calls


async def test_saga_unchanged_names_undefined_global(ts_env, make_app):
    app = make_app(
        workflow_entry("saga", "saga.lua") + SAGA_ENTRIES,
        {"saga.lua": SAGA_UNCHANGED, "acts.lua": SAGA_ACTIVITIES},
    )
    order = {"items": ["a"], "payment": {"card": "bad"}, "shipping": {"address": "home"}}
    with pytest.raises(WorkflowFailureError) as exc:
        await app.execute(ts_env, "app:saga", order)
    msg = exc.value.cause.message
    # Line 18 of saga.lua (one line of scaffolding): run_compensations(compensations)
    assert "saga.lua:18:" in msg and "run_compensations" in msg, msg
    assert exc.value.cause.type == "Internal"
