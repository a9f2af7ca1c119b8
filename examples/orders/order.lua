-- validate_order: a local activity that checks an order before any money moves.
-- Returns the order, or nil and a non-retryable Invalid error listing every problem.
local errors = require("errors")

local function validate(order)
    if type(order) ~= "table" then
        return nil, errors.new({
            kind = errors.INVALID,
            message = "invalid order: expected an object, got " .. type(order),
            retryable = false,
        })
    end
    local problems = {}
    if type(order.id) ~= "string" or order.id == "" then
        table.insert(problems, "missing id")
    end
    if type(order.customer_id) ~= "string" or order.customer_id == "" then
        table.insert(problems, "missing customer_id")
    end
    if type(order.total) ~= "number" or order.total <= 0 then
        table.insert(problems, "total must be a positive number")
    end
    if type(order.items) ~= "table" or #order.items == 0 then
        table.insert(problems, "order has no items")
    end
    if #problems > 0 then
        return nil, errors.new({
            kind = errors.INVALID,
            message = "invalid order: " .. table.concat(problems, "; "),
            retryable = false,
        })
    end
    return order
end

return { validate = validate }
