-- A service that never lets the node settle (test_process_newcomer_services.py adds it to a
-- copy of this app): it and a child it spawns pass a number back and forth without end.
local function busy(mode)
    local inbox, events = process.inbox(), process.events()
    local partner = nil
    if mode ~= "echo" then
        partner = process.spawn("svc:busy_proc", nil, "echo")
        process.send(partner, "ball", 0)
    end
    while true do
        local r = channel.select({ inbox:case_receive(), events:case_receive() })
        if r.channel == events then
            if partner then
                process.terminate(partner)
            end
            return 0
        end
        process.send(r.value:from(), "ball", r.value:payload():data() + 1)
    end
end

return { busy = busy }
