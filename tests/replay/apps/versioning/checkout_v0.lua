-- Stage 0: the original checkout, before anyone thought of versioning.
local funcs = require("funcs")

local function main(order)
    local receipt, err = funcs.call("app:old_payment", order)
    if err then
        return nil, err
    end
    return {version = "none", receipt = receipt}
end

return { main = main }
