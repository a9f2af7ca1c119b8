-- Stub of the seed's validate_order activity (local activity).
local errors = require("errors")

local function validate(order)
    if not order or not order.id then
        return nil, errors.new("INVALID", "order has no id")
    end
    return { valid = true }
end

return { validate = validate }
