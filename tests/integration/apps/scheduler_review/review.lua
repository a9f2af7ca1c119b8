-- Entries of tests/integration/test_process_scheduler_review.py (see app.yaml).

-- Receives n messages and returns their values in arrival order (a table as "table #n").
local function collector(n)
    local inbox = process.inbox()
    local got = {}
    for i = 1, n do
        local v = inbox:receive():payload():data()
        got[i] = type(v) == "table" and ("table #" .. #v) or v
    end
    return got
end

-- The main coroutine sends a 2,000-element table (left to the Python path), then a coroutine
-- it spawned before sends a string (copied in Lua): process.send is fire-and-forget with
-- per-sender FIFO order, so the table, sent first, must arrive first.
local function order_across_coroutines()
    local pid = process.spawn_monitored("app:collector", "app:processes", 2)
    local big = {}
    for i = 1, 2000 do
        big[i] = i
    end
    coroutine.spawn(function()
        assert(process.send(pid, "v", "sent second"))
    end)
    assert(process.send(pid, "v", big))
    local ev = process.events():receive()
    if ev.error then
        return nil, ev.error
    end
    return ev.result
end

-- On "go": a coroutine starts waiting for "again" (then tells the observer it ran, and in
-- mode "twice" fails too); main asks the observer for "again" and then fails (mode "error")
-- or loops until its instruction budget stops it (mode "budget"). Once the process has
-- ended, none of its coroutines may run again.
local function failer(observer, mode)
    process.inbox():receive()
    local ready = channel.new()
    coroutine.spawn(function()
        local again = process.listen("again")
        ready:send(true)
        again:receive()
        process.send(observer, "zombie")
        if mode == "twice" then
            error("a coroutine of an ended process failed")
        end
    end)
    ready:receive()
    process.send(observer, "poke_me")
    if mode == "budget" then
        local x = 0
        while true do
            x = x + 1
        end
    end
    error("boom")
end

-- Collects, in order, the topics the failer sends and its EXIT (as "EXIT <kind>: <message>"),
-- answering "poke_me" with "again"; then waits 300 ms for anything sent later.
local function poke_after_failure(mode)
    local time = require("time")
    local events = process.events()
    local f = process.spawn_monitored("app:failer", "app:processes", process.pid(), mode)
    local inbox = process.inbox()
    process.send(f, "go")
    local got = {}
    local deadline = nil
    while true do
        local cases = { inbox:case_receive(), events:case_receive() }
        if deadline then
            cases[3] = deadline:case_receive()
        end
        local r = channel.select(cases)
        if r.channel == deadline then
            break
        elseif r.channel == events then
            local err = r.value.error
            got[#got + 1] = "EXIT " .. tostring(err and err:kind()) .. ": " .. tostring(err)
            deadline = time.after("300ms")
        else
            got[#got + 1] = r.value:topic()
            if r.value:topic() == "poke_me" then
                process.send(f, "again") -- the failer may have ended: NotFound is fine
            end
        end
    end
    return got
end

local function crasher()
    error("crashed")
end

-- Links to a process that has already failed: without trap_links that ends this process at
-- once (as a link to a live process that fails would); it must not go on running.
local function linker(driver, dead)
    process.send(driver, "before_link")
    process.link(dead)
    process.send(driver, "after_link")
    return "returned normally"
end

local function link_to_the_failed()
    local time = require("time")
    local events = process.events()
    local me = process.pid()
    local dead = process.spawn_monitored("app:crasher", "app:processes")
    events:receive() -- its EXIT
    process.spawn_monitored("app:linker", "app:processes", me, dead)
    local inbox = process.inbox()
    local got = {}
    local deadline = nil
    while true do
        local cases = { inbox:case_receive(), events:case_receive() }
        if deadline then
            cases[3] = deadline:case_receive()
        end
        local r = channel.select(cases)
        if r.channel == deadline then
            break
        elseif r.channel == events then
            got[#got + 1] = "EXIT " .. tostring(r.value.error and r.value.error:kind())
            deadline = time.after("300ms")
        else
            got[#got + 1] = r.value:topic()
        end
    end
    return got
end

-- Passes every ball on to its partner after `work` loop turns of computation (a slow step);
-- answers "report" with the balls it has passed.
local function slow_bouncer(work)
    local inbox = process.inbox()
    local partner = inbox:receive():payload():data()
    local passed = 0
    while true do
        local msg = inbox:receive()
        if msg:topic() == "report" then
            process.send(msg:from(), "report", passed)
        else
            local x = 0
            for i = 1, work do
                x = x + i % 7
            end
            passed = passed + 1
            process.send(partner, "ball", x)
        end
    end
end

-- A pair of slow bouncers plays while this process sleeps 1 ms; returns how many balls the
-- first one had passed when this process woke and asked.
local function timer_beside_slow_pair(work)
    local time = require("time")
    local a = process.spawn("app:slow_bouncer", "app:processes", work)
    local b = process.spawn("app:slow_bouncer", "app:processes", work)
    process.send(a, "partner", b)
    process.send(b, "partner", a)
    process.send(a, "ball", 0)
    time.sleep("1ms")
    process.send(a, "report")
    local passed = process.inbox():receive():payload():data()
    process.terminate(a)
    process.terminate(b)
    return passed
end

-- Registers a name and returns on its first message.
local function returner()
    assert(process.registry.register("review_returner"))
    process.inbox():receive()
    return "returned"
end

-- On its first message, sends to `target` and reports to the driver how that went.
local function late_sender(driver, target)
    process.inbox():receive()
    local ok, err = process.send(target, "late", 1)
    process.send(driver, "result", { ok = ok == true, kind = err and err:kind() })
end

-- The returner gets "go" (and returns) before the late sender gets its own and sends to it
-- (by PID or by its name): the returner has ended, so the send is NotFound.
local function send_to_one_that_returned(by_name)
    local x = process.spawn("app:returner", "app:processes")
    local target = by_name and "review_returner" or x
    local y = process.spawn("app:late_sender", "app:processes", process.pid(), target)
    process.send(x, "go")
    process.send(y, "go")
    return process.inbox():receive():payload():data()
end

-- Works through n small chunks, sending itself "continue" after each one (the actor way to let
-- others run between chunks): each message to itself is a new step, so no step runs long.
local function self_continuation(n)
    local me = process.pid()
    local inbox = process.inbox()
    local done = 0
    assert(process.send(me, "continue", 1))
    while done < n do
        local i = inbox:receive():payload():data()
        local x = 0
        for k = 1, 100 do
            x = x + k
        end
        done = done + 1
        assert(process.send(me, "continue", i + 1))
    end
    return done
end

return {
    self_continuation = self_continuation,
    returner = returner, late_sender = late_sender,
    send_to_one_that_returned = send_to_one_that_returned,
    collector = collector, order_across_coroutines = order_across_coroutines,
    failer = failer, poke_after_failure = poke_after_failure,
    crasher = crasher, linker = linker, link_to_the_failed = link_to_the_failed,
    slow_bouncer = slow_bouncer, timer_beside_slow_pair = timer_beside_slow_pair,
}
