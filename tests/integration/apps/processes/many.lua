-- Scenario 5: n monitored processes spawned, every EXIT collected, results summed.
local time = require("time")

local function leaf(i)
    return i
end

local function many(n)
    n = tonumber(n) -- `moonflow run -x` passes its arguments as strings
    local events = process.events()
    local t0 = time.now()
    local index = {}
    for i = 1, n do
        local pid, err = process.spawn_monitored("app:leaf", "app:processes", i)
        if pid == nil then
            return nil, errors.wrap(err, "spawn " .. i)
        end
        index[pid] = i
    end
    local spawned = time.now():sub(t0):milliseconds()
    local count, sum, matched, failed, distinct = 0, 0, 0, 0, 0
    local seen = {}
    while count < n do
        local ev = events:receive()
        if ev.kind == process.event.EXIT then
            count = count + 1
            if not seen[ev.from] then
                seen[ev.from] = true
                distinct = distinct + 1
            end
            if ev.error then
                failed = failed + 1
            else
                sum = sum + ev.result.value
                if index[ev.from] == ev.result.value then
                    matched = matched + 1
                end
            end
        end
    end
    return { count = count, distinct = distinct, sum = sum, matched = matched, failed = failed,
        spawn_ms = spawned, total_ms = time.now():sub(t0):milliseconds() }
end

return { leaf = leaf, many = many }
