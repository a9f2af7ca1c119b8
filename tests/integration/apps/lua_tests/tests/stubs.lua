local t = require("t")
local test = require("test")
local time = require("time")

-- Run the order workflow and return its result (waiting for its EXIT).
local function run_order(id, amount)
    local result, err = process.exec("app:order", "app:worker", { id = id, amount = amount })
    t.ok(result, "order workflow: " .. tostring(err) .. " kind " .. tostring(err and err:kind()))
    return result
end

-- A function stub runs in this test's process: it sees the activity's input and may wait.
local function stub_function()
    local seen = {}
    test.mock_activity("app:charge", function(req)
        seen[#seen + 1] = req.id
        time.sleep("300ms") -- overlaps the other stub tests under --jobs 2
        return { charged = req.amount * 2, by = "function stub" }
    end)
    test.mock_activity("app:ship", { result = { tracking = "TRK-1" } })
    local result = run_order("o-fn", 21)
    t.eq(result.status, "completed")
    t.eq(result.charge.charged, 42)
    t.eq(result.charge.by, "function stub")
    t.eq(result.tracking, "TRK-1")
    t.eq(seen[1], "o-fn")
    t.eq(test.calls("app:charge"), 1, "charge calls")
    return true
end

-- A fixed result, and a failed shipment: the workflow refunds.
local function stub_result()
    test.mock_activity("app:charge", { result = { charged = 7, by = "fixed result" } })
    test.mock_activity("app:ship", { error = { kind = "Unavailable", message = "no trucks" } })
    time.sleep("100ms")
    local result = run_order("o-fixed", 7)
    t.eq(result.status, "refunded")
    t.eq(result.charge.by, "fixed result")
    return true
end

-- A fixed error: the workflow sees its kind and message.
local function stub_error()
    test.mock_activity("app:charge", {
        error = { kind = "PaymentDeclined", message = "card declined", retryable = false },
    })
    local result = run_order("o-err", 5)
    t.eq(result.status, "payment_failed")
    t.eq(result.kind, "PaymentDeclined")
    t.eq(result.error, "card declined")
    return true
end

-- Bad stubs raise errors naming this file's line.
local function stub_misuse()
    local ok, err = pcall(test.mock_activity, "app:charge", 42)
    t.eq(ok, false)
    t.ok(tostring(err):find("must be a function or a table", 1, true), tostring(err))
    ok, err = pcall(test.mock_activity, "app:charge", { reslt = 1 })
    t.ok(tostring(err):find("unknown key reslt", 1, true), tostring(err))
    t.eq(test.unmock_activity("app:charge"), false)
    return true
end

return {
    stub_function = stub_function,
    stub_result = stub_result,
    stub_error = stub_error,
    stub_misuse = stub_misuse,
}
