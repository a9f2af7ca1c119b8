-- Entries of tests/integration/test_process_scheduler.py (see app.yaml).

-- Receives n messages and returns their values in arrival order (a big table as its length).
local function collector(n)
    local inbox = process.inbox()
    local got = {}
    for i = 1, n do
        local v = inbox:receive():payload():data()
        got[i] = type(v) == "table" and ("big " .. #v) or v
    end
    return got
end

-- Sends small values (copied in Lua) and big ones (left to the Python path) in turn: they
-- must arrive in the order sent.
local function order(n, big_size)
    local pid = process.spawn_monitored("app:collector", "app:processes", n)
    local big = {}
    for i = 1, big_size do
        big[i] = i
    end
    for i = 1, n do
        local ok, err
        if i % 3 == 0 then
            ok, err = process.send(pid, "v", big)
        else
            ok, err = process.send(pid, "v", i)
        end
        if not ok then
            return nil, err
        end
    end
    local ev = process.events():receive()
    if ev.error then
        return nil, ev.error
    end
    return ev.result
end

-- Changes what it receives and sends it back.
local function mutator()
    local msg = process.inbox():receive()
    local t = msg:payload():data()
    t.name = "changed"
    t.items[1] = 99
    t.nested.deep.x = "changed"
    process.send(msg:from(), "back", t)
    return true
end

local function isolation()
    local pid = process.spawn("app:mutator", "app:processes")
    local t = { name = "original", items = { 1, 2, 3 }, nested = { deep = { x = "original" } } }
    assert(process.send(pid, "t", t))
    t.items[2] = 20  -- after the send: the receiver must not see it
    local back = process.inbox():receive():payload():data()
    return {
        sender_kept = { name = t.name, first = t.items[1], second = t.items[2], x = t.nested.deep.x },
        receiver_saw = { name = back.name, first = back.items[1], second = back.items[2],
            x = back.nested.deep.x },
        same_table = rawequal(back, t),
    }
end

-- Passes every ball on to its partner, forever; answers "report" with the balls it passed.
local function bouncer()
    local inbox = process.inbox()
    local partner = inbox:receive():payload():data()
    local passed = 0
    while true do
        local msg = inbox:receive()
        if msg:topic() == "report" then
            process.send(msg:from(), "report", passed)
        else
            passed = passed + 1
            process.send(partner, "ball", msg:payload():data() + 1)
        end
    end
end

-- Two bouncers play ping-pong without ever waiting on anything outside Lua; a timer of this
-- process must still fire (the scheduler gives the event loop a turn every few steps).
local function fairness(sleep_ms)
    local time = require("time")
    local a = process.spawn("app:bouncer", "app:processes")
    local b = process.spawn("app:bouncer", "app:processes")
    process.send(a, "partner", b)
    process.send(b, "partner", a)
    process.send(a, "ball", 0)
    time.sleep(sleep_ms .. "ms")
    process.send(a, "report")
    local passed = process.inbox():receive():payload():data()
    process.terminate(a)
    process.terminate(b)
    return { slept = true, passed = passed }
end

-- Allocates without waiting until the node's memory cap stops it.
local function hog()
    local t = {}
    for i = 1, 1e9 do
        t[i] = { i, tostring(i) }
    end
    return #t
end

-- Answers "n" with n + 1 until "stop".
local function echo()
    local inbox = process.inbox()
    while true do
        local msg = inbox:receive()
        if msg:topic() == "stop" then
            return true
        end
        process.send(msg:from(), "n", msg:payload():data() + 1)
    end
end

-- A hog runs out of memory while this process and an echo keep exchanging messages.
local function hog_beside_pingpong(rounds)
    local events = process.events()
    local hog = process.spawn_monitored("app:hog", "app:processes")
    local echo = process.spawn("app:echo", "app:processes")
    local inbox = process.inbox()
    local n = 0
    for _ = 1, rounds do
        process.send(echo, "n", n)
        n = inbox:receive():payload():data()
    end
    local ev = events:receive()
    process.send(echo, "stop")
    return { rounds = n, hog_error = ev.error and { kind = ev.error:kind(), message = tostring(ev.error) } }
end

local function quitter()
    return true
end

-- Touches `process` only after a sleep: a message sent before has no mailbox to go to yet.
local function sleepy_reader()
    require("time").sleep("20ms")
    return process.inbox():receive():payload():data()
end

-- A message to a process that has exited is NotFound; one to itself arrives in its inbox.
local function to_the_dead_and_self()
    local events = process.events()
    local pid = process.spawn_monitored("app:quitter", "app:processes")
    events:receive()  -- its EXIT
    local ok, err = process.send(pid, "late", 1)
    assert(process.send(process.pid(), "self", { a = 1 }))
    local msg = process.inbox():receive()
    local reader = process.spawn_monitored("app:sleepy_reader", "app:processes")
    assert(process.send(reader, "x", { x = 7 }))
    local ev = events:receive()
    return {
        reader_got = ev.result and ev.result.x,
        dead_ok = ok == true,
        dead_kind = err and err:kind(),
        self_topic = msg:topic(),
        self_a = msg:payload():data().a,
        self_from_me = msg:from() == process.pid(),
    }
end

return {
    collector = collector, order = order, mutator = mutator, isolation = isolation,
    bouncer = bouncer, fairness = fairness, hog = hog, echo = echo,
    hog_beside_pingpong = hog_beside_pingpong, quitter = quitter, sleepy_reader = sleepy_reader,
    to_the_dead_and_self = to_the_dead_and_self,
}
