-- Scenario 3: a supervisor process restarts a crashing child with exponential backoff.
local time = require("time")

-- The child: crashes (an uncaught error) unless this is attempt `succeed_on`.
local function crasher(attempt, succeed_on)
    time.sleep("5ms")
    if attempt == succeed_on then
        return { attempt = attempt, fine = true }
    end
    error("crash on attempt " .. attempt)
end

-- Spawns the child linked and monitored with trap_links on (a crash arrives as EXIT + LINK_DOWN
-- instead of killing the supervisor), sleeps base_ms, 2 * base_ms, 4 * base_ms ... between
-- attempts, gives up after max_attempts. Reports when each attempt started (ms since start).
local function supervisor(max_attempts, base_ms, succeed_on)
    assert(process.set_options({ trap_links = true }))
    local events = process.events()
    local t0 = time.now()
    local starts, errs, link_downs = {}, {}, 0
    local delay = base_ms
    for attempt = 1, max_attempts do
        starts[attempt] = time.now():sub(t0):milliseconds()
        local pid = assert(process.spawn_linked_monitored("app:crasher", "app:processes", attempt, succeed_on))
        local exit
        while exit == nil do
            local ev = events:receive()
            if ev.from == pid and ev.kind == process.event.EXIT then
                exit = ev
            end
        end
        if not exit.error then
            return { gave_up = false, attempts = attempt, starts = starts, errors = errs,
                link_downs = link_downs, result = exit.result, trap_links = process.get_options().trap_links }
        end
        errs[attempt] = exit.error:message()
        -- the link reports the same crash
        local r = channel.select({ events:case_receive(), time.after("1s"):case_receive() })
        if r.channel == events and r.value.kind == process.event.LINK_DOWN and r.value.from == pid then
            link_downs = link_downs + 1
        end
        if attempt < max_attempts then
            time.sleep(delay * time.MILLISECOND)
            delay = delay * 2
        end
    end
    return { gave_up = true, attempts = max_attempts, starts = starts, errors = errs, link_downs = link_downs }
end

local function supervise(max_attempts, base_ms, succeed_on)
    local pid = process.spawn_monitored("app:supervisor", "app:processes", max_attempts, base_ms, succeed_on or 0)
    local ev = process.events():receive()
    if ev.error then
        return nil, errors.wrap(ev.error, "supervisor " .. pid)
    end
    return ev.result
end

return { crasher = crasher, supervisor = supervisor, supervise = supervise }
