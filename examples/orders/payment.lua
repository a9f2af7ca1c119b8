-- charge_payment and refund_payment: call the payment provider over HTTP.
--
-- Failure policy (what Temporal does next depends on `retryable`):
--   * network failure or timeout: http_client's own error (Internal, retryable) -> retried;
--   * provider 5xx: Unavailable, retryable -> retried;
--   * provider 402 (card declined) or another 4xx: Invalid, not retryable -> the workflow
--     gets the error at once and answers payment_failed.
local http_client = require("http_client")
local json = require("json")
local errors = require("errors")
local config = require("config")

local function post(path, payload)
    local resp, err = http_client.post(config.provider_url .. path, {
        headers = {["Content-Type"] = "application/json"},
        body = json.encode(payload),
        timeout = 10,
    })
    if err then
        return nil, err
    end
    local body = resp:json() or {}
    if resp:status() >= 500 then
        return nil, errors.new({
            kind = errors.UNAVAILABLE,
            message = "payment provider unavailable (HTTP " .. resp:status() .. ")",
            retryable = true,
        })
    end
    return body, nil, resp:status()
end

local function charge(request)
    local body, err, status = post("/charges", {
        amount = request.amount,
        customer_id = request.customer,
    })
    if err then
        return nil, err
    end
    if status == 402 then
        return nil, errors.new({
            kind = errors.INVALID,
            message = "payment declined: " .. tostring(body.message or body.error),
            retryable = false,
            details = {reason = body.error},
        })
    end
    if status ~= 200 then
        return nil, errors.new({
            kind = errors.INVALID,
            message = "charge rejected (HTTP " .. status .. "): " .. tostring(body.message),
            retryable = false,
        })
    end
    return {id = body.id, amount = body.amount}
end

local function refund(payment_id)
    local body, err, status = post("/refunds", {payment_id = payment_id})
    if err then
        return nil, err
    end
    if status ~= 200 then
        return nil, errors.new({
            kind = errors.INVALID,
            message = "refund of " .. tostring(payment_id) .. " rejected (HTTP " .. status
                .. "): " .. tostring(body.message),
            retryable = false,
        })
    end
    return {id = body.id, payment_id = payment_id}
end

return { charge = charge, refund = refund }
