-- The payment step changed in place, without workflow.version: a run started on stage 0
-- scheduled app:old_payment, so replaying it here (app:new_payment) is non-deterministic.
local funcs = require("funcs")

local function main(order)
    local receipt, err = funcs.call("app:new_payment", order)
    if err then
        return nil, err
    end
    return {version = "none", receipt = receipt}
end

return { main = main }
