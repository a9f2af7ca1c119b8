-- Stub of the seed's charge_payment activity.
local http_client = require("http_client")
local json = require("json")

local function charge(req)
    return { id = "pay-" .. tostring(req.customer), amount = req.amount }
end

return { charge = charge }
