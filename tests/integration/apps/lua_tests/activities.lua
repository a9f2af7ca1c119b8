local errors = require("errors")

local function charge(req)
    return nil, errors.new({ kind = "Unavailable", message = "the real charge ran (no stub)", retryable = false })
end

local function ship(req)
    return nil, errors.new({ kind = "Unavailable", message = "the real ship ran (no stub)", retryable = false })
end

return { charge = charge, ship = ship }
