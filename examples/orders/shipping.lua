-- ship_order: ask the shipping provider for a shipment and return its tracking number.
-- An address the provider rejects (4xx) is a non-retryable Invalid error, so the workflow
-- refunds the payment at once; 5xx and network failures are retried.
local http_client = require("http_client")
local json = require("json")
local errors = require("errors")
local config = require("config")

local function ship(request)
    local resp, err = http_client.post(config.provider_url .. "/shipments", {
        headers = {["Content-Type"] = "application/json"},
        body = json.encode({order_id = request.order_id, address = request.address}),
        timeout = 10,
    })
    if err then
        return nil, err
    end
    local body = resp:json() or {}
    if resp.status_code >= 500 then
        return nil, errors.new({
            kind = errors.UNAVAILABLE,
            message = "shipping provider unavailable (HTTP " .. resp.status_code .. ")",
            retryable = true,
        })
    end
    if resp.status_code ~= 200 then
        return nil, errors.new({
            kind = errors.INVALID,
            message = "shipping failed: " .. tostring(body.message or body.error),
            retryable = false,
            details = {reason = body.error},
        })
    end
    return {tracking_number = body.tracking_number, carrier = body.carrier}
end

return { ship = ship }
