-- The seed's guard. A new run records version 2 (max). Runs from before the call existed get
-- -1, below min = 1: their workflow task fails with an error naming "payment-v2" until the
-- code supports them again (min = -1, see checkout_compat.lua) or they are reset.
local funcs = require("funcs")
local workflow = require("workflow")

local function main(order)
    local v = workflow.version("payment-v2", 1, 2)
    local receipt, err
    if v == 1 then
        receipt, err = funcs.call("app:old_payment", order)
    else
        receipt, err = funcs.call("app:new_payment", order)
    end
    if err then
        return nil, err
    end
    return {version = v, receipt = receipt}
end

return { main = main }
