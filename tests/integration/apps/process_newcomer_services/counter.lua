-- The "counter" service and its client (see _index.yaml).

-- Registers "counter" first thing, then adds what each "add" message says and answers the
-- sender with the total, until its CANCEL event.
local function counter()
    local ok, err = process.registry.register("counter")
    if not ok then
        return nil, err
    end
    local total = 0
    local inbox, events = process.inbox(), process.events()
    while true do
        local r = channel.select({ inbox:case_receive(), events:case_receive() })
        if r.channel == events then
            return total
        end
        total = total + r.value:payload():data()
        process.send(r.value:from(), "total", total)
    end
end

-- `-x svc:client N`: adds 1..N (N arrives as a string) through "counter" at once, no retry.
local function client(n)
    local total = nil
    for i = 1, tonumber(n) do
        local ok, err = process.send("counter", "add", i)
        if not ok then
            return nil, err
        end
        total = process.inbox():receive():payload():data()
    end
    return { total = total }
end

return { counter = counter, client = client }
