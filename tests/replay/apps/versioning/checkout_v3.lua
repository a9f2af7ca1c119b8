-- A later change: max = 3. A run that recorded version 2 keeps getting 2 (and new_payment);
-- only new runs record 3 and take the third path.
local funcs = require("funcs")
local workflow = require("workflow")

local function main(order)
    local v = workflow.version("payment-v2", 1, 3)
    local receipt, err
    if v == 1 then
        receipt, err = funcs.call("app:old_payment", order)
    elseif v == 2 then
        receipt, err = funcs.call("app:new_payment", order)
    else
        receipt, err = funcs.call("app:third_payment", order)
    end
    if err then
        return nil, err
    end
    return {version = v, receipt = receipt}
end

return { main = main }
