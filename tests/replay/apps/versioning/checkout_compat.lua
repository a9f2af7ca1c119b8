-- The change guarded for runs that started before the guard existed: their history has no
-- marker, so workflow.version returns workflow.DEFAULT_VERSION (-1), which min = -1 accepts.
local funcs = require("funcs")
local workflow = require("workflow")

local function main(order)
    local v = workflow.version("payment-v2", workflow.DEFAULT_VERSION, 2)
    local receipt, err
    if v == 2 then
        receipt, err = funcs.call("app:new_payment", order)
    else
        receipt, err = funcs.call("app:old_payment", order)
    end
    if err then
        return nil, err
    end
    return {version = v, receipt = receipt}
end

return { main = main }
