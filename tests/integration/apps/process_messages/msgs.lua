-- `app:msgs MODE ARGS...`: one case per MODE (see tests/integration/test_process_messages.py).
local io = require("io")
local time = require("time")

-- {ok = true} or the error's kind and message, as the test compares them
local function describe(ok, err)
    if err ~= nil then
        return { kind = err:kind(), message = err:message() }
    end
    return { ok = ok == true }
end

-- a table nested `levels` deep: {n = {n = ... {}}} (or {{...}} for arrays)
local function deep(levels, array)
    local t = {}
    for _ = 1, levels do
        if array then t = { t } else t = { n = t } end
    end
    return t
end

local function main(mode, ...)
    local a, b = ...
    if mode == "send_function" then
        -- a function as the first value after the topic
        return describe(process.send(process.pid(), "t", { f = function() end }))
    elseif mode == "send_big" then
        -- a small value, then 3 MiB: the second value is over the payload limit
        return describe(process.send(a, "t", 1, string.rep("s", 3 * 1048576)))
    elseif mode == "send_to" then
        return describe(process.send(a, "t", 1))
    elseif mode == "call" then
        -- process.monitor / link / terminate / cancel of target b
        return describe(process[a](b))
    elseif mode == "send_deep" then
        return describe(process.send(process.pid(), "t", deep(300, a == "array")))
    elseif mode == "return_deep" then
        return deep(300, a == "array")
    elseif mode == "cancel_returns" then
        -- handles Ctrl-C and returns a (a number: the exit code; else a table)
        io.print("ready")
        io.flush()
        local ev = process.events():receive()
        io.print("got " .. ev.kind)
        if tonumber(a) then
            return tonumber(a)
        end
        return { stopped = a }
    elseif mode == "sleeps" then
        -- reads no events: Ctrl-C ends it at once
        io.print("ready")
        io.flush()
        time.sleep("60s")
        return 0
    elseif mode == "args" then
        return { ... }
    end
    return nil, "unknown mode " .. tostring(mode)
end

return { main = main }
