-- A consumer that falls behind: n messages queue up in its mailbox while it waits for "go",
-- then it drains them all in one step (no waiting between receives).
local function consumer(n)
    local inbox = process.inbox()
    process.listen("go"):receive()
    local sum, last, in_order = 0, 0, true
    for _ = 1, n do
        local v = inbox:receive():payload():data()
        in_order = in_order and v == last + 1
        last = v
        sum = sum + v
    end
    return { sum = sum, in_order = in_order }
end

local function backlog(n)
    local pid = process.spawn_monitored("app:backlog_consumer", "app:processes", n)
    for i = 1, n do
        assert(process.send(pid, "item", i))
    end
    process.send(pid, "go")
    local ev = process.events():receive()
    if ev.error then
        return nil, ev.error
    end
    return ev.result
end

return { consumer = consumer, backlog = backlog }
