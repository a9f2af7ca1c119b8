local t = require("t")
local time = require("time")

-- A workflow sleeps one hour (a durable timer); the test waits for its EXIT with a real-time
-- limit of 20 s: on the time-skipping server the hour passes at once.
local function sleeps_an_hour()
    local pid, err = process.spawn_monitored("app:sleeper", "app:worker", "1h")
    t.ok(pid, tostring(err))
    local events = process.events()
    local limit = time.after("20s")
    local r = channel.select({ events:case_receive(), limit:case_receive() })
    t.ok(r.channel == events, "the workflow's EXIT before the 20 s limit")
    t.eq(r.value.kind, process.event.EXIT)
    t.eq(r.value.result.value.slept, "1h")
    return true
end

return { sleeps_an_hour = sleeps_an_hour }
