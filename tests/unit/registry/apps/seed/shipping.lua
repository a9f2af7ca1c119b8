-- Stub of the seed's ship_order activity.
local http_client = require("http_client")
local json = require("json")

local function ship(req)
    return { tracking_number = "TRK-" .. tostring(req.order_id) }
end

return { ship = ship }
