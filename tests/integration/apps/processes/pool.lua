-- Scenario 2: a worker pool inside one process: `workers` coroutines (coroutine.spawn) take
-- jobs from a buffered channel and push results to an unbuffered one; the main coroutine
-- collects them in order of completion. Job i sleeps delays[i] ms and yields i * i.
local time = require("time")

local function pool(delays, workers)
    local jobs = channel.new(#delays)
    local results = channel.new()
    for w = 1, workers do
        coroutine.spawn(function()
            while true do
                local job, ok = jobs:receive()
                if not ok then
                    break
                end
                time.sleep(job.ms * time.MILLISECOND)
                results:send({ job = job.id, worker = w, value = job.id * job.id })
            end
            results:send({ done = w })
        end)
    end
    for i, ms in ipairs(delays) do
        jobs:send({ id = i, ms = ms })
    end
    jobs:close()
    local order, sum, per_worker, finished = {}, 0, {}, 0
    for w = 1, workers do
        per_worker[w] = 0
    end
    while finished < workers do
        local r = results:receive()
        if r.done then
            finished = finished + 1
        else
            order[#order + 1] = r.job
            sum = sum + r.value
            per_worker[r.worker] = per_worker[r.worker] + 1
        end
    end
    return { order = order, count = #order, sum = sum, per_worker = per_worker }
end

return { pool = pool }
