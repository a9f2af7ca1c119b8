-- Negative paths of the process host; each function returns what it observed.
local time = require("time")

local function err_fields(err)
    if err == nil then
        return nil
    end
    return { kind = err:kind(), message = err:message() }
end

-- The EXIT event of `pid` (other events are skipped).
local function exit_of(pid)
    local events = process.events()
    while true do
        local ev = events:receive()
        if ev.kind == process.event.EXIT and ev.from == pid then
            return ev
        end
    end
end

-- process.send / lookup / terminate of a name nobody registered.
local function send_unknown()
    local ok, err = process.send("nobody-here", "hello", 1)
    local pid, lerr = process.registry.lookup("nobody-here")
    local tok, terr = process.terminate("nobody-here")
    return { send_ok = ok == nil, send = err_fields(err), lookup_nil = pid == nil, lookup = err_fields(lerr),
        terminate_ok = tok == nil, terminate = err_fields(terr) }
end

-- Registers `name`, reports "registered" to its spawner, waits for "stop".
local function name_holder(name)
    local inbox = process.inbox()
    local ok, err = process.registry.register(name)
    local first = inbox:receive()  -- the spawner's "report" request
    process.send(first:from(), "registered", { ok = ok == true, kind = err and err:kind() or nil })
    while inbox:receive():topic() ~= "stop" do
    end
    return "released"
end

-- A name taken by another process cannot be registered (AlreadyExists); registering one's own
-- name again is fine; the name is free once its holder exits.
local function register_taken()
    local holder = process.spawn_monitored("app:name_holder", "app:processes", "taken")
    local reports = process.listen("registered")
    process.send(holder, "report")
    local holder_ok = reports:receive()
    local ok, err = process.registry.register("taken")
    local looked = process.registry.lookup("taken")
    local mine1 = process.registry.register("mine")
    local mine2 = process.registry.register("mine")
    process.send("taken", "stop")
    local ev = exit_of(holder)
    local after, after_err = process.registry.register("taken")
    return { holder_registered = holder_ok, taken_ok = ok == nil, taken = err_fields(err),
        lookup_is_holder = looked == holder, own_twice = mine1 == true and mine2 == true,
        holder_result = ev.result.value, after_exit = after == true, after_exit_err = err_fields(after_err),
        lookup_after = process.registry.lookup("taken") == process.pid() }
end

-- Links to a crashing child without trapping links, then waits forever.
local function linker()
    assert(process.spawn_linked("app:crasher", "app:processes", 1, 0))
    process.inbox():receive()
    return "never"
end

local function linked_crash()
    local pid = process.spawn_monitored("app:linker", "app:processes")
    local ev = exit_of(pid)
    return { failed = ev.error ~= nil, error = err_fields(ev.error), result_error = err_fields(ev.result.error) }
end

local function sleeper()
    process.inbox():receive()
    return "woke"
end

local function terminate()
    local pid = process.spawn_monitored("app:sleeper", "app:processes")
    time.sleep("10ms")
    local ok, err = process.terminate(pid, "enough")
    local ev = exit_of(pid)
    local again, again_err = process.terminate(pid)
    return { terminate_ok = ok == true, terminate_err = err_fields(err), from_matches = ev.from == pid,
        error = err_fields(ev.error), value = ev.result.value, again_ok = again == nil,
        again = err_fields(again_err) }
end

local function uncaught()
    local pid = process.spawn_monitored("app:thrower", "app:processes", "bad input")
    local ev = exit_of(pid)
    return { error = err_fields(ev.error) }
end

-- Waits on a channel nobody else can reach.
local function deadlocker()
    local ch = channel.new()
    ch:receive()
    return "unreachable"
end

local function deadlock()
    local pid = process.spawn_monitored("app:deadlocker", "app:processes")
    local ev = exit_of(pid)
    return { error = err_fields(ev.error) }
end

local function spinner()
    local n = 0
    while true do
        n = n + 1
    end
end

-- Sleeps `rounds` times 10 ms; returns how many rounds it completed.
local function steady(rounds)
    local done = 0
    for _ = 1, rounds do
        time.sleep("10ms")
        done = done + 1
    end
    return done
end

-- A runaway loop is stopped by the instruction budget; a steady process and this one go on.
local function runaway(rounds)
    local steady_pid = process.spawn_monitored("app:steady", "app:processes", rounds)
    time.sleep("15ms")
    local spin_pid = process.spawn_monitored("app:spinner", "app:processes")
    local events = process.events()
    local out = {}
    for _ = 1, 2 do
        local ev = events:receive()
        if ev.from == spin_pid then
            out.spinner = err_fields(ev.error)
        elseif ev.from == steady_pid then
            out.steady = ev.result.value
            out.steady_error = err_fields(ev.error)
        end
    end
    out.after = process.exec("app:leaf", "app:processes", 42)
    return out
end

return { send_unknown = send_unknown, name_holder = name_holder, register_taken = register_taken,
    linker = linker, linked_crash = linked_crash, sleeper = sleeper, terminate = terminate,
    uncaught = uncaught, deadlocker = deadlocker, deadlock = deadlock, spinner = spinner,
    steady = steady, runaway = runaway }
