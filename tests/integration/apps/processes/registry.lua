-- Scenario 1: two services find each other by name (process.registry) and play ping/pong.
local time = require("time")

-- Look a name up until it is registered (the other service may not have started yet).
local function find(name)
    for attempt = 1, 200 do
        local pid = process.registry.lookup(name)
        if pid then
            return pid, attempt
        end
        time.sleep("5ms")
    end
    return nil, 200
end

-- Registers as "pong"; answers every "ping" n with "pong" n * 10, sent to the PID it finds
-- registered as "ping" (checked against msg:from()); "stop" ends it.
local function pong_service()
    assert(process.registry.register("pong"))
    local inbox = process.inbox()
    local pongs, from_matches = 0, 0
    while true do
        local msg = inbox:receive()
        if msg:topic() == "stop" then
            return { pongs = pongs, from_matches = from_matches }
        end
        local ping_pid = find("ping")
        if ping_pid == msg:from() then
            from_matches = from_matches + 1
        end
        pongs = pongs + 1
        process.send(ping_pid, "pong", msg:payload():data() * 10)
    end
end

-- Registers as "ping", finds "pong", sends it `rounds` pings (to the name), waits for each
-- pong (or 2 s), then stops it.
local function ping_service(rounds)
    assert(process.registry.register("ping"))
    local pong_pid, lookups = find("pong")
    if pong_pid == nil then
        return nil, errors.new({ kind = errors.NOT_FOUND, message = "pong never registered" })
    end
    local replies = process.listen("pong")
    local sum, got = 0, {}
    for i = 1, rounds do
        assert(process.send("pong", "ping", i))
        local r = channel.select({ replies:case_receive(), time.after("2s"):case_receive() })
        if r.channel ~= replies then
            return nil, errors.new({ kind = errors.TIMEOUT, message = "no pong for ping " .. i })
        end
        got[#got + 1] = r.value
        sum = sum + r.value
    end
    process.send("pong", "stop")
    return { pong_pid = pong_pid, lookups_ok = lookups >= 1, replies = got, sum = sum }
end

local function pingpong(rounds)
    rounds = tonumber(rounds) -- `moonflow run -x` passes its arguments as strings
    local events = process.events()
    local pong = process.spawn_monitored("app:pong_service", "app:processes")
    local ping = process.spawn_monitored("app:ping_service", "app:processes", rounds)
    local out = { pong_pid_seen_by_ping = false }
    for _ = 1, 2 do
        local ev = events:receive()
        assert(ev.kind == process.event.EXIT)
        if ev.error then
            return nil, errors.wrap(ev.error, "service " .. tostring(ev.from))
        end
        if ev.from == ping then
            out.ping = ev.result
            out.pong_pid_seen_by_ping = ev.result.pong_pid == pong
            out.ping.pong_pid = nil
        elseif ev.from == pong then
            out.pong = ev.result
        end
    end
    -- both exited: their names are released
    local p1, e1 = process.registry.lookup("ping")
    local p2, e2 = process.registry.lookup("pong")
    out.names_released = p1 == nil and p2 == nil and e1:kind() == errors.NOT_FOUND
        and e2:kind() == errors.NOT_FOUND
    return out
end

return { pingpong = pingpong, ping_service = ping_service, pong_service = pong_service }
