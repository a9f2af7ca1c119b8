local funcs = require("funcs")

local function main(order)
    local charge, err = funcs.new():with_options({ ["activity.retry_policy"] = { maximum_attempts = 1 } })
        :call("app:charge", { id = order.id, amount = order.amount })
    if err then
        return { status = "payment_failed", error = err:message(), kind = err:kind() }
    end
    local shipped, ship_err = funcs.call("app:ship", { id = order.id })
    if ship_err then
        return { status = "refunded", charge = charge }
    end
    return { status = "completed", charge = charge, tracking = shipped.tracking }
end

return { main = main }
