-- The order workflow's three paths, with charge_payment, ship_order and refund_payment stubbed
-- for each test (test.mock_activity), so no payment or shipping provider is needed.
local t = require("t")
local test = require("test")
local time = require("time")

local ORDER = {
    id = "order-1001",
    customer_id = "cust-42",
    total = 129.5,
    items = { { sku = "MOON-LAMP", quantity = 1, price = 99.5 } },
    shipping_address = { name = "Ada Lovelace", street = "12 Crater Road", city = "Tranquility",
        postal_code = "11969", country = "MOON" },
    fulfillment_window = "1h",
}

-- Start the workflow monitored and wait for its EXIT (at most 15 s of real time).
local function run_order()
    local pid, err = process.spawn_monitored("app:order_workflow", "app:worker", ORDER)
    t.ok(pid, "spawn: " .. tostring(err))
    local events = process.events()
    local limit = time.after("15s")
    local r = channel.select({ events:case_receive(), limit:case_receive() })
    t.ok(r.channel == events, "the workflow's EXIT within 15 s")
    t.eq(r.value.kind, process.event.EXIT)
    t.ok(r.value.result, "the workflow failed: " .. tostring(r.value.error))
    return r.value.result.value
end

local function completed()
    local charged
    test.mock_activity("app:charge_payment", function(request)
        charged = request
        return { id = "pay-1", status = "charged" }
    end)
    test.mock_activity("app:ship_order", { result = { tracking_number = "MOON-TRK-1" } })
    local result = run_order()
    t.eq(result.status, "completed")
    t.eq(result.payment_id, "pay-1")
    t.eq(result.tracking, "MOON-TRK-1")
    t.eq(charged.amount, 129.5, "amount charged")
    t.eq(charged.customer, "cust-42")
    return true
end

local function payment_failed()
    test.mock_activity("app:charge_payment", {
        error = { kind = "Invalid", message = "card declined", retryable = false },
    })
    test.mock_activity("app:ship_order", function()
        error("ship_order must not run after a declined payment")
    end)
    local result = run_order()
    t.eq(result.status, "payment_failed")
    t.ok(result.error:find("card declined", 1, true), result.error)
    t.eq(test.calls("app:ship_order"), 0, "shipments")
    return true
end

local function shipping_failed()
    local refunded
    test.mock_activity("app:charge_payment", { result = { id = "pay-2", status = "charged" } })
    test.mock_activity("app:ship_order", {
        error = { kind = "Invalid", message = "carrier refused the address", retryable = false },
    })
    test.mock_activity("app:refund_payment", function(payment_id)
        refunded = payment_id
        return { id = payment_id, status = "refunded" }
    end)
    local result = run_order()
    t.eq(result.status, "shipping_failed")
    t.ok(result.error:find("carrier refused", 1, true), result.error)
    t.eq(refunded, "pay-2", "refunded payment")
    return true
end

return { completed = completed, payment_failed = payment_failed, shipping_failed = shipping_failed }
