local t = require("t")

local function returns_true()
    t.eq(1 + 1, 2)
    return true
end

-- Spawn a monitored process on the app's process.host, ping it, wait for its answer and EXIT.
local function ping_a_process()
    local time = require("time")
    local pid = process.spawn_monitored("app:ponger", "app:processes")
    t.ok(pid, "spawned")
    process.send(pid, "ping", { n = 41, reply_to = process.pid() })
    local inbox, events = process.inbox(), process.events()
    local timeout = time.after("5s")
    local got_pong, got_exit = false, false
    while not (got_pong and got_exit) do
        local r = channel.select({ inbox:case_receive(), events:case_receive(), timeout:case_receive() })
        if r.channel == timeout then
            error("no pong and EXIT within 5s")
        elseif r.channel == inbox then
            t.eq(r.value:payload():data().n, 42, "pong")
            got_pong = true
        else
            t.eq(r.value.kind, process.event.EXIT)
            t.eq(r.value.from, pid)
            got_exit = true
        end
    end
    return true
end

local function fails_on_purpose()
    local total = 2 + 2
    t.eq(total, 5, "the total")
    return true
end

local function returns_nil_err()
    return nil, "the answer was wrong"
end

local function hangs()
    local time = require("time")
    time.sleep("1h")
    return true
end

-- a first value other than nil/false passes, whatever follows it
local function returns_true_and_text()
    return true, "not an error"
end

return {
    returns_true = returns_true,
    returns_true_and_text = returns_true_and_text,
    ping_a_process = ping_a_process,
    fails_on_purpose = fails_on_purpose,
    returns_nil_err = returns_nil_err,
    hangs = hangs,
}
