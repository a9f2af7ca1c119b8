-- Two coroutines waiting on channels nobody sends on: a deadlock the message locates.
local function dead_pair()
    local a, b = channel.new(0), channel.new(0)
    coroutine.spawn(function()
        b:receive()
    end)
    a:receive()
end

-- coroutine.yield in main, outside any coroutine of its own.
local function bare_yield()
    local x = 1
    coroutine.yield(x)
    return x
end

return { dead_pair = dead_pair, bare_yield = bare_yield }
