-- The `channel` module (a global): Go-style channels between the coroutines of one workflow
-- run, and channel.select. Everything here happens inside the Lua kernel; Temporal never sees
-- it, and scheduling is deterministic (FIFO run queue, first ready case in listed order).
--
--   channel.new(size?)        size 0 (default) = unbuffered rendezvous
--   ch:send(v)                blocks while full; raises on a closed channel
--   ch:receive() -> v, ok     ok == false once closed and drained
--   ch:close()                idempotent; blocked receivers get nil, false; blocked senders raise
--   ch:case_send(v), ch:case_receive()   cases for select
--   channel.select{case, ..., default = true?} -> {channel = ch, value = v, ok = bool} or
--                             {default = true, ok = true}
--
-- Channels may have a *source* (process subscriptions: inbox, listen): a function that takes
-- the next available value, consulted before parking. Kernel-side producers (timers,
-- messages) use sys.channel_offer(ch, v).
--
-- Called with (sys).
local sys = ...
local raw = sys.raw
local dgetmt = raw.debug_getmetatable

-- The kernel task that is about to wait. Kernel-less runs (activity calls run straight through
-- on their thread) have none: a channel operation that would wait is an error there.
local function waiting_task(what)
    local task = sys.kernel ~= nil and sys.current() or nil
    if task == nil then
        raw.error(what .. " would wait, and activity code cannot wait on channels: use channels "
            .. "in the workflow, or in a process (funcs.call from a process runs the function as one)", 3)
    end
    return task
end

-- Query handlers are read-only (kernel.lua K.call_query): every channel operation fails in
-- one, even one that would not block (try_receive would take the value, a send would wake or
-- fill), before it changes anything.
local function no_query(what)
    local k = sys.kernel
    if k ~= nil and k.in_query then
        sys.check_not_query(what)
    end
end

local M = {}
local Channel = {}
Channel.__index = Channel
Channel.__metatable = false
local Case = {}
Case.__index = Case
Case.__metatable = false
-- Not data: sending or returning one fails naming its path (convert.lua `not_data`).
-- (The descriptions are made once per state: a run that loads the module holds none.)
local said = sys.base.channel_not_data
if said == nil then
    said = {
        channel = { "a channel", "send the values it carries instead" },
        case = { "a select case", "send the value of the channel instead" },
    }
    sys.base.channel_not_data = said
end
sys.not_data[Channel] = said.channel
sys.not_data[Case] = said.case

local function new_queue()
    return { head = 1, tail = 0 }
end
local function q_push(q, v)
    q.tail = q.tail + 1
    q[q.tail] = v
end
local function q_pop(q)
    if q.head > q.tail then
        return nil
    end
    local v = q[q.head]
    q[q.head] = nil
    q.head = q.head + 1
    return v
end
local function q_len(q)
    return q.tail - q.head + 1
end

local function is_channel(v)
    return type(v) == "table" and dgetmt(v) == Channel
end
sys.is_channel = is_channel

local function new_channel(size, name)
    size = size or 0
    if math.type(size) ~= "integer" or size < 0 then
        raw.error("channel.new: size must be a non-negative integer", 3)
    end
    return raw.setmetatable({
        _cap = size,
        _buf = new_queue(),
        _recvq = new_queue(),
        _sendq = new_queue(),
        _closed = false,
        _name = name,
    }, Channel)
end
sys.new_channel = new_channel

function M.new(size)
    return new_channel(size)
end

-- Waiters: {task = t, sel = shared select state or nil, case = index, value = v (senders)}.
local function next_waiter(q)
    while true do
        local w = q_pop(q)
        if w == nil then
            return nil
        end
        if not (w.sel and w.sel.done) then
            return w
        end
    end
end
local function peek_waiter(q)
    while q.head <= q.tail do
        local w = q[q.head]
        if not (w.sel and w.sel.done) then
            return w
        end
        q_pop(q)
    end
    return nil
end

-- Wake a waiter with a receive result.
local function give(w, ch, v, ok)
    if w.sel then
        w.sel.done = true
        sys.wake(w.task, { channel = ch, value = v, ok = ok })
    else
        sys.wake(w.task, v, ok)
    end
end

-- Wake a sender whose value was taken (or raise in it if the channel closed).
local function release_sender(w, ch, closed)
    if w.sel then
        w.sel.done = true
        if closed then
            sys.wake(w.task, { channel = ch, closed = true })
        else
            sys.wake(w.task, { channel = ch, value = w.value, ok = true })
        end
    else
        sys.wake(w.task, not closed)
    end
end

-- Non-blocking receive: ready, value, ok. Every receive path (receive, try_receive, iter,
-- receive_timeout, a select's receive case) comes here first: a time.after channel that a
-- lost select left behind is in use again (time.lua, sys.after_touch).
local function try_take(ch)
    if ch._after then
        sys.after_touch(ch)
    end
    local q = ch._buf
    if q_len(q) > 0 then
        local v = q_pop(q)
        local s = next_waiter(ch._sendq)
        if s then
            q_push(q, s.value)
            release_sender(s, ch, false)
        end
        return true, v, true
    end
    local s = next_waiter(ch._sendq)
    if s then
        release_sender(s, ch, false)
        return true, s.value, true
    end
    if ch._source then
        local got, v = ch._source()
        if got then
            return true, v, true
        end
    end
    if ch._closed then
        return true, nil, false
    end
    return false
end

-- Non-blocking send: ready (true when done); raises on a closed channel.
local function try_put(ch, v, level)
    if ch._closed then
        raw.error("send on closed channel", level or 3)
    end
    local r = next_waiter(ch._recvq)
    if r then
        give(r, ch, v, true)
        return true
    end
    if q_len(ch._buf) < ch._cap then
        q_push(ch._buf, v)
        return true
    end
    return false
end

-- Kernel-side producer (timers, messages): hand v to a waiting receiver or the buffer.
-- Returns false when neither can take it (the caller keeps or drops the value).
function sys.channel_offer(ch, v)
    if ch._closed then
        return false
    end
    return try_put(ch, v)
end

-- Wake one receiver parked on ch, if any, with a value pulled from its source.
function sys.channel_pump(ch)
    if not ch._source then
        return false
    end
    local r = peek_waiter(ch._recvq)
    if r == nil then
        return false
    end
    local got, v = ch._source()
    if not got then
        return false
    end
    q_pop(ch._recvq)
    give(r, ch, v, true)
    return true
end

-- Hand v to the first receiver parked on ch; false when none waits.
function sys.channel_deliver(ch, v)
    local r = next_waiter(ch._recvq)
    if r == nil then
        return false
    end
    give(r, ch, v, true)
    return true
end

function sys.channel_has_receiver(ch)
    return peek_waiter(ch._recvq) ~= nil
end

function Channel:send(v)
    no_query("ch:send")
    if try_put(self, v, 3) then
        return true
    end
    local task = waiting_task("ch:send")
    q_push(self._sendq, { task = task, value = v })
    local ok = sys.park()
    if not ok then
        raw.error("send on closed channel", 2)
    end
    return true
end

function Channel:receive()
    no_query("ch:receive")
    local ready, v, ok = try_take(self)
    if ready then
        return v, ok
    end
    local task = waiting_task("ch:receive")
    q_push(self._recvq, { task = task })
    return sys.park()
end

-- Seed form: `for v in ch:iter() do ... end` receives until the channel is closed (a break
-- leaves the rest queued). Each step blocks like receive().
function Channel:iter()
    no_query("ch:iter")
    return function()
        local v, ok = self:receive()
        if ok == false then
            return nil
        end
        return v
    end
end

-- Seed form: the next value, or nil when none is ready (never blocks).
function Channel:try_receive()
    no_query("ch:try_receive")
    local ready, v, ok = try_take(self)
    if ready then
        return v, ok
    end
    return nil
end

-- Seed form: the next value, or nil once the durable timeout d has passed. A duration <= 0
-- only polls. The timer is cancelled when a value arrives first.
function Channel:receive_timeout(d)
    no_query("ch:receive_timeout")
    local ready, v, ok = try_take(self)
    if ready then
        return v, ok
    end
    if sys.duration_ns_checked == nil then
        sys.module("time")  -- timers live in the time module; the seed never requires it here
    end
    local ns = sys.duration_ns_checked(d, "receive_timeout")
    if ns <= 0 then
        return nil
    end
    local timeout = new_channel(1, "timeout")
    local tag = sys.start_timer(ns, function()
        sys.channel_offer(timeout, true)
    end)
    local r = M.select({ self:case_receive(), timeout:case_receive() })
    if r.channel == timeout then
        return nil
    end
    sys.cancel_timer(tag)
    return r.value, r.ok
end

function Channel:close()
    no_query("ch:close")
    if self._closed then
        return true
    end
    self._closed = true
    while true do
        local r = next_waiter(self._recvq)
        if r == nil then
            break
        end
        give(r, self, nil, false)
    end
    while true do
        local s = next_waiter(self._sendq)
        if s == nil then
            break
        end
        release_sender(s, self, true)
    end
    return true
end

function Channel:case_receive()
    return raw.setmetatable({ ch = self, op = "recv" }, Case)
end

function Channel:case_send(v)
    return raw.setmetatable({ ch = self, op = "send", value = v }, Case)
end

function Channel:__tostring()
    return "channel" .. (self._name and (" " .. self._name) or "")
end

local function case_ready(c)
    if c.op == "recv" then
        local ready, v, ok = try_take(c.ch)
        if ready then
            return { channel = c.ch, value = v, ok = ok }
        end
    else
        if try_put(c.ch, c.value, 4) then
            return { channel = c.ch, value = c.value, ok = true }
        end
    end
    return nil
end

-- A select that names a time.after channel uses it (even when an earlier case is ready and
-- its own case is never tried): a stored deadline in a loop of selects stays in use.
local function after_use(cases)
    for i = 1, #cases do
        local c = cases[i]
        if c.op == "recv" and c.ch._after then
            sys.after_touch(c.ch)
        end
    end
end

-- The time.after channels of receive cases that did not win: abandoned, unless the code
-- uses them again before every task waits (time.lua cancels their timers then).
local function after_lost(cases, won)
    for i = 1, #cases do
        local c = cases[i]
        if c.op == "recv" and c.ch._after and c.ch ~= won then
            sys.after_lost(c.ch)
        end
    end
end

function M.select(cases)
    no_query("channel.select")
    if type(cases) ~= "table" then
        raw.error("channel.select: expected a table of cases", 2)
    end
    local n = #cases
    for i = 1, n do
        local c = cases[i]
        if type(c) ~= "table" or dgetmt(c) ~= Case then
            raw.error("channel.select: case " .. i .. " is not a case (use ch:case_receive() or ch:case_send(v))", 2)
        end
    end
    after_use(cases)
    for i = 1, n do
        local r = case_ready(cases[i])
        if r then
            after_lost(cases, r.channel)
            return r
        end
    end
    if cases.default then
        after_lost(cases, nil)
        return { default = true, ok = true }
    end
    if n == 0 then
        raw.error("channel.select: no cases and no default", 2)
    end
    local task = waiting_task("channel.select")
    local sel = { done = false }
    for i = 1, n do
        local c = cases[i]
        if c.op == "recv" then
            q_push(c.ch._recvq, { task = task, sel = sel, case = i })
        else
            q_push(c.ch._sendq, { task = task, sel = sel, case = i, value = c.value })
        end
    end
    local r = sys.park()
    after_lost(cases, r.channel)
    if r.closed then
        raw.error("send on closed channel", 2)
    end
    return r
end

return M
