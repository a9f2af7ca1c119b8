local funcs = require("funcs")
local time = require("time")
local workflow = require("workflow")
local errors = require("errors")

local function main(order)
    -- Update search attributes
    workflow.attrs({
        search = {status = "validating", customer_id = order.customer_id}
    })

    -- Validate order (local activity)
    local valid, err = funcs.call("app:validate_order", order)
    if err then
        workflow.attrs({search = {status = "rejected"}})
        return {status = "rejected", error = tostring(err)}
    end

    -- Charge payment
    workflow.attrs({search = {status = "charging"}})
    local payment, err = funcs.call("app:charge_payment", {
        amount = order.total,
        customer = order.customer_id
    })
    if err then
        workflow.attrs({search = {status = "payment_failed"}})
        return {status = "payment_failed", error = tostring(err)}
    end

    -- Wait for fulfillment window
    workflow.attrs({search = {status = "awaiting_fulfillment"}})
    time.sleep(order.fulfillment_window or "1h")

    -- Ship order
    workflow.attrs({search = {status = "shipping"}})
    local shipment, err = funcs.call("app:ship_order", {
        order_id = order.id,
        address = order.shipping_address
    })
    if err then
        -- Refund on shipping failure
        funcs.call("app:refund_payment", payment.id)
        workflow.attrs({search = {status = "shipping_failed"}})
        return {status = "shipping_failed", error = tostring(err)}
    end

    workflow.attrs({search = {status = "completed"}})
    return {
        status = "completed",
        payment_id = payment.id,
        tracking = shipment.tracking_number
    }
end

return { main = main }
