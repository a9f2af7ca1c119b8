-- `moonflow run APP -x app:values MODE`: one case per MODE (see the test file).
local io = require("io")
local json = require("json")
local time = require("time")

-- A child that answers its parent with what its first message's payload holds.
local function relay(parent)
    local m = process.inbox():receive()
    local p = m:payload()
    local value = p.data and p:data() or {not_a_payload = true}
    process.send(parent, "seen", value)
    return 0
end

local function send_to_self(value)
    local ok, err = process.send(process.pid(), "t", value)
    if not ok then
        return nil, err
    end
    return (process.inbox():receive():payload():data())
end

-- The objects that are not data (channels of every origin, timers, a message...), by name.
local function object(name)
    if name == "inbox" then
        return process.inbox()
    elseif name == "events" then
        return process.events()
    elseif name == "listen" then
        return process.listen("t")
    elseif name == "after" then
        return time.after("1h")
    elseif name == "timer" then
        return time.timer("1h")
    elseif name == "ticker" then
        return time.ticker("1h")
    elseif name == "case" then
        return channel.new(1):case_receive()
    elseif name == "message" then
        process.send(process.pid(), "m", 1)
        return process.inbox():receive()
    end
    error("unknown object " .. tostring(name))
end

local function main(mode, ...)
    if mode == "relay" then
        return relay(...)
    elseif mode == "send_bool_key" then
        return send_to_self({[true] = "a"})
    elseif mode == "send_coroutine" then
        return send_to_self(coroutine.create(function() end))
    elseif mode == "send_channel" then
        return send_to_self({c = channel.new(1)})
    elseif mode == "return_channel" then
        return {c = channel.new(1)}
    elseif mode == "json_channel" then
        return json.encode({c = channel.new(1)})
    elseif mode == "forward_payload" then
        process.send(process.pid(), "orig", {a = 1})
        local m = process.inbox():receive()
        local child = process.spawn("app:values", nil, "relay", process.pid())
        process.send(child, "fwd", m:payload())
        return (process.inbox():receive():payload():data())
    elseif mode == "send_object" then
        return send_to_self({o = object(...)})
    elseif mode == "return_object" then
        return {o = object(...)}
    elseif mode == "forward_payloads" then
        -- two values: msg:payload() is an array of two Payloads, forwarded as [1, {"b": 2}]
        process.send(process.pid(), "orig", 1, {b = 2})
        local m = process.inbox():receive()
        local child = process.spawn("app:values", nil, "relay", process.pid())
        process.send(child, "fwd", m:payload())
        return (process.inbox():receive():payload():data())
    elseif mode == "encode_payload" then
        process.send(process.pid(), "orig", {a = {1, 2}})
        local p = process.inbox():receive():payload()
        return {json = json.encode({p = p}), result = p}
    elseif mode == "wait_cancel" then
        io.print("ready")
        io.flush()
        local ev = process.events():receive()
        io.print("cleaned up after " .. ev.kind)
        return 0
    elseif mode == "unspecified_retryable" then
        return nil, errors.new("Invalid", "no retryable flag given")
    end
    return nil, errors.new("Invalid", "unknown mode " .. tostring(mode))
end

return { main = main }
