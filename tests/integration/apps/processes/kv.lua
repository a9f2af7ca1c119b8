-- Scenario 4: a key-value server process (registered as "kv") answers put/get/incr requests
-- from several client processes; every reply goes to msg:from().
local time = require("time")

local function server()
    assert(process.registry.register("kv"))
    local store, keys, ops = {}, 0, 0
    local inbox = process.inbox()
    while true do
        local msg = inbox:receive()
        local topic, req = msg:topic(), msg:payload():data()
        ops = ops + 1
        local reply = { id = req.id }
        if topic == "put" then
            if store[req.key] == nil then
                keys = keys + 1
            end
            store[req.key] = req.value
            reply.ok = true
        elseif topic == "get" then
            reply.value = store[req.key]
        elseif topic == "incr" then
            if store[req.key] == nil then
                keys = keys + 1
            end
            store[req.key] = (store[req.key] or 0) + req.by
            reply.value = store[req.key]
        elseif topic == "stop" then
            process.send(msg:from(), "reply", reply)
            return { keys = keys, ops = ops }
        else
            reply.error = "unknown request " .. topic
        end
        process.send(msg:from(), "reply", reply)
    end
end

-- A request to "kv" and its reply (matched by id; 2 s at most).
local function client_of()
    local replies = process.listen("reply")
    local next_id = 0
    return function(topic, req)
        next_id = next_id + 1
        req.id = next_id
        local ok, err = process.send("kv", topic, req)
        if not ok then
            error("send " .. topic .. ": " .. tostring(err))
        end
        local r = channel.select({ replies:case_receive(), time.after("2s"):case_receive() })
        if r.channel ~= replies then
            error("no reply to " .. topic .. " " .. next_id)
        end
        assert(r.value.id == next_id, "reply out of order")
        return r.value
    end
end

-- Client `id`: puts n keys of its own, reads them back, and increments the shared counter n
-- times.
local function client(id, n)
    for _ = 1, 200 do
        if process.registry.lookup("kv") then
            break
        end
        time.sleep("5ms")
    end
    local call = client_of()
    for i = 1, n do
        call("put", { key = "c" .. id .. ".k" .. i, value = id * 1000 + i })
    end
    local good = 0
    for i = 1, n do
        if call("get", { key = "c" .. id .. ".k" .. i }).value == id * 1000 + i then
            good = good + 1
        end
    end
    local last = 0
    for _ = 1, n do
        local v = call("incr", { key = "shared", by = 1 }).value
        assert(v > last, "counter went backwards")
        last = v
    end
    return { id = id, gets_ok = good, last_incr = last }
end

local function scenario(clients, n)
    local events = process.events()
    local server_pid = process.spawn_monitored("app:kv_server", "app:processes")
    local pids = {}
    for id = 1, clients do
        pids[assert(process.spawn_monitored("app:kv_client", "app:processes", id, n))] = id
    end
    local results, max_last = {}, 0
    for _ = 1, clients do
        local ev = events:receive()
        if ev.error then
            return nil, errors.wrap(ev.error, "client " .. tostring(pids[ev.from]))
        end
        local r = ev.result
        results[r.id] = { gets_ok = r.gets_ok, from_matches = pids[ev.from] == r.id }
        if r.last_incr > max_last then
            max_last = r.last_incr
        end
    end
    -- the scenario reads the store itself afterwards
    local call = client_of()
    local shared = call("get", { key = "shared" }).value
    local sample = call("get", { key = "c" .. clients .. ".k" .. n }).value
    local missing = call("get", { key = "nope" }).value
    call("stop", {})
    local ev = events:receive()
    if ev.from ~= server_pid or ev.error then
        return nil, errors.new({ kind = errors.INTERNAL, message = "server did not stop cleanly" })
    end
    return { shared = shared, max_last_incr = max_last, sample = sample, missing = missing == nil,
        clients = results, server = ev.result }
end

return { server = server, client = client, scenario = scenario }
