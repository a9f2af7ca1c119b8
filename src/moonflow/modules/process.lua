-- The `process` module (a global) inside a workflow: identity, messages, subscriptions.
--
-- A workflow's PID is {<client entry>@<worker entry>|<workflow id>} (reference runtime §2.7).
-- Incoming messages (Temporal signals named after their topic, and updates) enter a mailbox in
-- arrival order. A message goes to the process.listen channel of its topic; failing that (and
-- unless the topic starts with "@") to process.inbox(); with neither it is kept, in order, until
-- someone subscribes. Nothing is dropped.
--
--   process.pid() -> string
--   process.send(pid, topic, ...) -> true | nil, err   (a Temporal signal; NotFound when the
--       target does not resolve; Invalid for a topic starting with "@")
--   process.inbox() -> channel of Message        msg:topic(), msg:payload():data(), msg:from()
--   process.listen(topic, {message = true}?) -> channel of decoded values (or Messages)
--   process.unlisten(ch)
--   process.events() -> channel of event tables (cancellation, child exits)
--
-- Called with (sys).
local sys = ...
local raw = sys.raw
local host = sys.host
local unpack = table.unpack

local M = {}
M.event = { EXIT = "pid.exit", CANCEL = "pid.cancel", LINK_DOWN = "pid.link_down" }
-- A process (process.lua, a function called outside a workflow): the same module, with what
-- only processes have (monitor, link, the name registry, options) served by the process host.
local in_process = sys.context == "process"
-- The node's scheduler (process/scheduler.lua) and this process's PID, once asked.
local node = in_process and sys.node or nil
local my_pid = nil
local slow_sends = 0              -- this process's messages on the Python path (M.send)

-- ---- Message and Payload objects ---------------------------------------------------------
-- One set per Lua state, made by the first run that loads the module: they hold nothing of a
-- run (an idle process or workflow run then holds no copy of them; benchmarks P3, M2).
local base = sys.base
local objects = base.process_objects
if objects == nil then
    -- A value's metatable is not its methods table: every run of the state shares these, so
    -- `msg.__index` must not hand one run the methods another run's messages use.
    local Message = {}
    local MessageMT = { __index = Message, __metatable = false }
    local Payload = {}
    local PayloadMT = { __index = Payload, __metatable = false }
    -- Leaving Lua (convert.lua): a Payload is the value it holds, a Message is not data.
    base.kinds[PayloadMT] = "payload"
    base.not_data[MessageMT] = { "a message", "send msg:payload():data() instead" }

    function Payload:data()
        return self._v, nil
    end
    function Payload:unmarshal()
        return self._v, nil
    end
    function Payload:get_format()
        return "json/plain"
    end
    local function new_payload(v)
        return raw.setmetatable({ _v = v }, PayloadMT)
    end
    base.new_payload = new_payload

    function Message:topic()
        return self._topic
    end
    function Message:from()
        return self._from
    end
    -- One payload -> a Payload; several -> an array of Payloads; none -> a Payload of nil.
    function Message:payload()
        local vals = self._values
        if vals.n == 1 or vals.n == 0 then
            return new_payload(vals[1])
        end
        local out = {}
        for i = 1, vals.n do
            out[i] = new_payload(vals[i])
        end
        return out
    end
    MessageMT.__tostring = function(self)
        return "message " .. self._topic
    end

    local function new_message(topic, values, from)
        return raw.setmetatable({ _topic = topic, _values = values, _from = from }, MessageMT)
    end
    -- A workflow's message to itself stays in the workflow (no signal, nothing in its history)
    -- but carries what a message through Temporal would: the values as sent, by the
    -- conversion rules (copied exactly, sys.copy_values, or through their JSON text), never
    -- the sender's own tables; what is not data is refused as on any send.
    local encode, decode = base.encode_json, base.decode_json
    local mtype, huge, fmt, utf8_len = math.type, math.huge, string.format, utf8.len
    -- The reason a value has no JSON form, worded as the conversion rules word it
    -- (_convert.py), or nil when none of these is it.
    local function why_not_json(v, path, depth)
        local t = type(v)
        if t == "function" then
            return path .. ": a function cannot be converted to JSON"
        elseif t == "thread" then
            return path .. ": a coroutine (thread) cannot be converted to JSON"
        elseif t == "userdata" then
            return path .. ": a userdata value cannot be converted to JSON"
        elseif t == "number" then
            if v ~= v or v == huge or v == -huge then
                return path .. ": " .. (v ~= v and "nan" or v > 0 and "inf" or "-inf")
                    .. " cannot be encoded as JSON"
            end
            return nil
        elseif t == "string" then
            return not utf8_len(v) and (path .. ": a string that is not valid UTF-8") or nil
        elseif t ~= "table" then
            return nil
        end
        if depth <= 0 then
            return path .. ": tables nested deeper than 128 levels"
        end
        local mt = raw.debug_getmetatable(v)
        local said = mt ~= nil and base.not_data[mt] or nil
        if said ~= nil then
            return path .. ": " .. said[1] .. " cannot be converted to JSON (" .. said[2] .. ")"
        end
        if mt ~= nil then
            return nil
        end
        local n, strings, top = 0, false, 0
        for k in raw.next, v do
            n = n + 1
            if type(k) == "string" then
                strings = true
            elseif mtype(k) ~= "integer" then
                local shown = type(k) == "number" and fmt("%.14g", k) or tostring(k)
                return path .. ": table key " .. shown .. " is not a string or an index"
            elseif k > top then
                top = k
            end
        end
        if strings and top > 0 then
            return path .. ": table mixes integer keys and string keys; use either an array "
                .. "or a map"
        end
        if top > n or (top == 0 and n > 0 and not strings) then
            return path .. ": sparse array (index " .. top .. " with " .. n .. " elements); "
                .. "arrays must use keys 1..n with no holes"
        end
        for k, item in raw.next, v do
            local why = why_not_json(item, path .. (type(k) == "string" and ("." .. k)
                or ("[" .. k .. "]")), depth - 1)
            if why ~= nil then
                return why
            end
        end
        return nil
    end
    local function copy_for_self(values, topic)
        local copy = base.copy_values(values)
        if copy ~= nil then
            return copy
        end
        copy = { n = values.n }
        for i = 1, values.n do
            local v = values[i]
            if v ~= nil then
                local text = encode(v, 128)
                local back = text ~= nil and decode(text) or nil
                if back == nil and text ~= "null" then
                    local where = 'process.send(topic "' .. topic .. '") value ' .. i
                    return nil, why_not_json(v, where, 128) or (where
                        .. ": cannot be converted to JSON (it is or holds something that is not "
                        .. "data, or a table that is cyclic or nested deeper than 128 levels)")
                end
                copy[i] = back
            end
        end
        return copy
    end
    objects = { new_payload = new_payload, new_message = new_message,
        copy_for_self = copy_for_self }
    base.process_objects = objects
end
local new_message, copy_for_self = objects.new_message, objects.copy_for_self

-- The value a plain listen() delivers: the single value, an array for several, nil for none.
local function plain_value(values)
    if values.n <= 1 then
        return values[1]
    end
    local out = {}
    for i = 1, values.n do
        out[i] = values[i]
    end
    return out
end

-- ---- mailbox and routing ------------------------------------------------------------------
-- The mailbox is an array with a head index: a taken message leaves a hole (false) that the
-- head skips, so draining a backlog costs O(1) a message instead of shifting every later one
-- (table.remove(mailbox, i) is charged per element moved: a process draining ~7,000 queued
-- messages in one step ran out of its instruction budget). Holes behind the head are squeezed
-- out once they outnumber the messages (compact, never while a walk is under way).
local mailbox = {}                -- mailbox[mb_head .. mb_tail]: {topic, values, from} | false
local mb_head, mb_tail, mb_holes = 1, 0, 0
-- pump has walked mailbox[.. mb_seen] already and found no receiver for what is left there.
-- A receiver takes its channel's oldest message itself before it parks (try_take), so only
-- newer messages, or a change of routing (listen, unlisten, inbox), can make one deliverable.
local mb_seen = 0
-- channel -> the last mailbox index take_for walked for it (every message up to there is
-- routed elsewhere); forgotten when the messages are renumbered or the routing changes
local scanned = nil
local renumbered = 0              -- counts renumberings (take_at of the last, compact)
local listeners = {}              -- topic -> {ch = channel, message = bool}
local inbox = nil
local events = nil
-- FIFO with a head index: a parent collecting thousands of EXITs must not pay for shifting
-- the queue on every receive (table.remove(q, 1) is charged per element moved).
local events_queue = { head = 1, tail = 0 }

local function route(msg)
    local l = listeners[msg.topic]
    if l then
        return l.ch, l
    end
    if inbox and msg.topic:sub(1, 1) ~= "@" then
        return inbox, nil
    end
    return nil
end

local function shaped(msg, l)
    if l and not l.message then
        return plain_value(msg.values)
    end
    return new_message(msg.topic, msg.values, msg.from)
end

-- Remove mailbox[i] (a message) without moving the others.
local function take_at(i)
    if i == mb_head then
        mailbox[i] = nil
        mb_head = mb_head + 1
        while mb_head <= mb_tail and mailbox[mb_head] == false do
            mailbox[mb_head] = nil
            mb_head = mb_head + 1
            mb_holes = mb_holes - 1
        end
    else
        mailbox[i] = false
        mb_holes = mb_holes + 1
    end
    if mb_head > mb_tail then
        mb_head, mb_tail, mb_seen = 1, 0, 0 -- empty: start over at 1 (mb_holes is 0 here)
        scanned, renumbered = nil, renumbered + 1
    end
end

local function compact()
    if mb_holes > 32 and mb_holes * 2 > mb_tail - mb_head + 1 then
        local live, n = {}, 0
        for i = mb_head, mb_tail do
            if mailbox[i] then
                n = n + 1
                live[n] = mailbox[i]
            end
        end
        mailbox, mb_head, mb_tail, mb_holes, mb_seen = live, 1, n, 0, 0
        scanned, renumbered = nil, renumbered + 1
    end
end

-- Take the first mailbox message routed to ch (try_receive, select, receive before parking).
-- The walk starts after what an earlier walk for ch found routed elsewhere (scanned[ch]):
-- messages of a topic nobody takes yet are walked over once, not on every receive (2,000
-- of them ahead of 2,000 others took 4 million route calls).
local function take_for(ch)
    local from = mb_head
    local seen = scanned and scanned[ch]
    if seen ~= nil and seen >= from then
        from = seen + 1
    end
    for i = from, mb_tail do
        local msg = mailbox[i]
        if msg then
            local target, l = route(msg)
            if target == ch then
                local before = renumbered
                take_at(i)
                compact()
                if renumbered == before then  -- (else nothing is known any more)
                    scanned = scanned or {}
                    scanned[ch] = i
                end
                return true, shaped(msg, l)
            end
        end
    end
    if mb_tail >= mb_head then
        scanned = scanned or {}
        scanned[ch] = mb_tail
    end
    return false
end

local function subscription(name)
    local ch = sys.make_channel(sys, 0, name)
    ch._source = function()
        return take_for(ch)
    end
    return ch
end

-- Idle hook: walk the mailbox in arrival order and hand each message to a receiver parked on
-- its channel; a message whose channel has no waiting receiver stays (and so do later ones for
-- the same channel, which keeps per-channel order).
local function pump()
    local progressed = false
    -- Nobody waits on the inbox or a listen channel (the process sleeps, calls, waits on
    -- something else): the walk would deliver nothing. Skipping it keeps a backlog from costing
    -- O(backlog) on every step (10,000 messages sent to a sleeping process took ~10 s).
    local waiting = inbox ~= nil and sys.channel_has_receiver(inbox)
    if not waiting then
        for _, l in raw.next, listeners do
            if sys.channel_has_receiver(l.ch) then
                waiting = true
                break
            end
        end
    end
    local i = waiting and (mb_seen < mb_head and mb_head or mb_seen + 1) or mb_tail + 1
    while i <= mb_tail do
        local msg = mailbox[i]
        if msg then
            local ch, l = route(msg)
            if ch and sys.channel_has_receiver(ch) then
                take_at(i)
                sys.channel_deliver(ch, shaped(msg, l))
                progressed = true
            end
        end
        i = i + 1
    end
    mb_seen = mb_tail
    compact()
    if events and events_queue.head <= events_queue.tail and sys.channel_pump(events) then
        progressed = true
    end
    return progressed
end
sys.kernel.idle_hooks[#sys.kernel.idle_hooks + 1] = pump

-- Called by the driver for every incoming signal (values packed with n).
function sys.kernel.deliver(topic, values, from)
    mb_tail = mb_tail + 1
    mailbox[mb_tail] = { topic = topic, values = values, from = from }
end

-- Called by the driver for lifecycle events (a table).
function sys.kernel.event(ev)
    events_queue.tail = events_queue.tail + 1
    events_queue[events_queue.tail] = ev
end

-- Is some task waiting for messages (so an idle workflow is waiting, not deadlocked)? The
-- events channel counts: a cancellation request arrives there as a CANCEL event.
function sys.kernel.listening()
    if inbox or events then
        return true
    end
    return raw.next(listeners) ~= nil
end

function sys.kernel.mailbox_size()
    return mb_tail - mb_head + 1 - mb_holes
end

-- Messages that arrived but were never consumed (carried over by continue-as-new), in order.
function sys.kernel.unconsumed()
    local live = {}
    for i = mb_head, mb_tail do
        if mailbox[i] then
            live[#live + 1] = mailbox[i]
        end
    end
    return live
end

-- ---- API ----------------------------------------------------------------------------------
function M.pid()
    return host.pid()
end

function M.id()
    return host.pid()
end

-- Making a subscription changes where the workflow's messages go (and a CANCEL's way in):
-- refused in a query handler (queries are not in the history; kernel.lua K.call_query).
local function no_query(what)
    local check = sys.check_not_query
    if check ~= nil then
        check(what)
    end
end

function M.inbox()
    if inbox == nil then
        no_query("process.inbox()")
        inbox = subscription("inbox")
        scanned = nil -- messages no channel took may go to the inbox now
    end
    return inbox
end

function M.events()
    if events == nil then
        no_query("process.events()")
        events = sys.make_channel(sys, 0, "events")
        events._source = function()
            local q = events_queue
            if q.head > q.tail then
                return false
            end
            local ev = q[q.head]
            q[q.head] = nil
            q.head = q.head + 1
            return true, ev
        end
    end
    return events
end

function M.listen(topic, opts)
    if type(topic) ~= "string" or topic == "" then
        raw.error(sys.make_error("Invalid", "process.listen: topic must be a non-empty string", false), 2)
    end
    if topic:sub(1, 1) == "@" then
        raw.error(sys.make_error("Invalid", "process.listen: topics starting with @ are reserved ("
            .. topic .. "): use process.inbox() or process.events()", false), 2)
    end
    local l = listeners[topic]
    if l == nil then
        no_query("process.listen")
        l = { ch = subscription("listen " .. topic), message = type(opts) == "table" and opts.message == true }
        listeners[topic] = l
        scanned = nil
    end
    return l.ch
end

function M.unlisten(ch)
    for topic, l in sys.raw.next, listeners do
        if l.ch == ch then
            no_query("process.unlisten")
            listeners[topic] = nil
            mb_seen = 0 -- its topic goes to the inbox now
            scanned = nil
            return true
        end
    end
    return false
end

local function invalid(msg)
    return nil, sys.make_error("Invalid", msg, false)
end

function M.send(pid, topic, ...)
    if type(pid) ~= "string" or pid == "" then
        return invalid("process.send: the target must be a PID (or, in a process, a registered name)")
    end
    if type(topic) ~= "string" or topic == "" then
        return invalid("process.send: topic must be a non-empty string")
    end
    if topic:sub(1, 1) == "@" then
        return invalid("process.send: topics starting with @ are reserved (" .. topic .. ")")
    end
    local values = sys.guard_pack(...)
    if pid:sub(1, 8) == "{update|" then
        return host.update_reply(pid, topic, values)
    end
    if in_process and pid:sub(1, 1) ~= "{" then
        -- a registered name (process.registry); the reference runtime resolves names first
        local resolved = host.lookup(pid)
        if resolved == nil then
            return nil, sys.make_error("NotFound", "process.send: could not resolve '" .. pid .. "' as PID or registered name", false)
        end
        pid = resolved
    end
    if in_process then
        -- a process of this node: straight into its mailbox (process/scheduler.lua), else
        -- through the process host (another node's process, a workflow)
        my_pid = my_pid or host.pid()
        if node ~= nil and slow_sends == 0 and node.send(pid, topic, values, my_pid) then
            return true
        end
    elseif pid == host.pid() then
        local copy, why = copy_for_self(values, topic)
        if copy == nil then
            return nil, sys.make_error("Invalid", why, false)
        end
        sys.kernel.deliver(topic, copy, pid)
        return true
    end
    -- While one message of this process is on the Python path, the others take it too (a
    -- message copied in Lua from another coroutine would overtake it: per-sender order).
    slow_sends = slow_sends + 1
    local r = sys.yield_cmd({ op = "signal", target = pid, topic = topic, args = values })
    slow_sends = slow_sends - 1
    if r.ok then
        return true
    end
    return nil, r.err
end

--- process.upgrade(entry_id_or_nil, ...): the reference runtime's continue-as-new. With nil
--- the same workflow continues; with an entry id, that workflow entry. Does not return.
function M.upgrade(entry, ...)
    if entry ~= nil and type(entry) ~= "string" then
        raw.error(sys.make_error("Invalid", "process.upgrade: the first argument is an entry id or nil", false), 2)
    end
    sys.yield_cmd({ op = "continue_as_new", workflow = entry, args = sys.guard_pack(...) })
    raw.error("process.upgrade returned", 2)
end

-- ---- child workflows (reference-runtime.md §2.8) --------------------------------------------
-- process.spawn(entry_id, host, ...) -> pid | nil, err: starts a child workflow and returns its
-- PID once it has started. host: a temporal.worker entry id (its task queue) or a task queue
-- name; nil or "" for the child entry's own worker (else the parent's task queue). Each further
-- argument is one input payload. Children are always monitored: their exit arrives as an EXIT
-- event on process.events(), so every spawn variant behaves the same.
-- process.exec(entry_id, host, ...) -> result | nil, err: starts a child and waits for its result
-- (no EXIT event for it).
local function start_child_with(builder, fname, wait, id, host_id, ...)
    if type(id) ~= "string" or id == "" then
        return nil, sys.make_error("Invalid", fname .. ": the first argument must be an entry id (ns:name)", false)
    end
    if host_id ~= nil and type(host_id) ~= "string" then
        return nil, sys.make_error("Invalid", fname .. ": host must be a temporal.worker entry id, a task queue name or nil", false)
    end
    local monitor = fname == "process.spawn_monitored" or fname == "process.spawn_linked_monitored"
    local link = fname == "process.spawn_linked" or fname == "process.spawn_linked_monitored"
    if node ~= nil and builder == nil and wait == "start" and not link then
        -- a process of this node, made in Lua when it can be (process/scheduler.lua N.spawn)
        my_pid = my_pid or host.pid()
        local pid, let_others_run = node.spawn(my_pid, id, host_id, sys.guard_pack(...), monitor)
        if pid ~= nil then
            if let_others_run and raw.coroutine_isyieldable() then
                -- let the node's other processes run (scheduler.lua N.pump)
                sys.yield_cmd({ op = "yield" })
            end
            return pid
        end
    end
    local cmd = { op = "child", workflow = id, host = host_id, wait = wait, fname = fname,
        args = sys.guard_pack(...), monitor = monitor, link = link }
    if builder ~= nil then
        if builder._error then
            return nil, sys.make_error("Invalid", fname .. ": " .. builder._error, false)
        end
        cmd.options, cmd.name, cmd.messages = builder._options, builder._name, builder._messages
        cmd.context = builder._context
    end
    local r = sys.yield_cmd(cmd)
    if r.ok then
        return r.value
    end
    return nil, r.err
end
local function start_child(fname, wait, id, host_id, ...)
    return start_child_with(nil, fname, wait, id, host_id, ...)
end
sys.start_child = start_child

-- Spawn builders (lua-api.md §2.1, §3.1): immutable, each method returns a new builder; a bad
-- argument is reported when the builder spawns (nil, err), so chains never break.
local Builder = {}
Builder.__index = Builder
Builder.__metatable = false
local function copy(t)
    local out = {}
    for k, v in raw.next, t or {} do
        out[k] = v
    end
    return out
end
local function builder(from, changes)
    local b = { _options = copy(from and from._options), _name = from and from._name,
        _messages = copy(from and from._messages), _context = from and from._context,
        _error = from and from._error }
    for k, v in raw.next, changes do
        b[k] = v
    end
    return raw.setmetatable(b, Builder)
end
local function with_options(from, t)
    if type(t) ~= "table" then
        return builder(from, { _error = "with_options: expected a table of options" })
    end
    local b = builder(from, {})
    for k, v in raw.next, t do
        b._options[k] = v
    end
    return b
end
local function with_context(from, t)
    if type(t) ~= "table" then
        return builder(from, { _error = "with_context: expected a table" })
    end
    local ctx = copy(from and from._context)
    for k, v in raw.next, t do
        ctx[k] = v
    end
    return builder(from, { _context = ctx })
end
function M.with_options(t)
    return with_options(nil, t)
end
function M.with_context(t)
    return with_context(nil, t)
end
Builder.with_options = with_options
Builder.with_context = with_context
function Builder:with_name(name)
    if type(name) ~= "string" or name == "" then
        return builder(self, { _error = "with_name: expected a non-empty string" })
    end
    return builder(self, { _name = name })
end
function Builder:with_message(topic, ...)
    if type(topic) ~= "string" or topic == "" or topic:sub(1, 1) == "@" then
        return builder(self, { _error = "with_message: topic must be a non-empty string not starting with @" })
    end
    local b = builder(self, {})
    b._messages[#b._messages + 1] = { topic = topic, args = sys.guard_pack(...) }
    return b
end
for _, name in raw.next, { "spawn", "spawn_monitored", "spawn_linked", "spawn_linked_monitored" } do
    Builder[name] = function(self, id, host_id, ...)
        return start_child_with(self, "process." .. name, "start", id, host_id, ...)
    end
end
function Builder:exec(id, host_id, ...)
    return start_child_with(self, "process.exec", "result", id, host_id, ...)
end
Builder.__tostring = function()
    return "process spawn builder"
end

for _, name in raw.next, { "spawn", "spawn_monitored", "spawn_linked", "spawn_linked_monitored" } do
    M[name] = function(id, host_id, ...)
        return start_child("process." .. name, "start", id, host_id, ...)
    end
end
function M.exec(id, host_id, ...)
    return start_child("process.exec", "result", id, host_id, ...)
end

-- The EXIT event of a child (built by the driver): honours the seed's shape and the later one.
--   event.type == "EXIT", event.pid (seed); event.kind == process.event.EXIT, event.from (later)
--   event.result: the seed's `results.x = event.result` is the child's own value. When that is a
--     table, `event.result.value` / `.error` work too (the table itself / nil) unless the table
--     has its own `value` / `error` keys, which win. A scalar or nil result, or a failure, gives
--     {value = v, error = err} instead.
--   event.value, event.error: the child's value, or its error object (nil on success).
local result_mt = {
    __index = function(t, k)
        if k == "value" then
            return t
        end
        return nil
    end,
}
function sys.exit_event(pid, ok, value, err, at)
    local result
    if ok and type(value) == "table" and raw.getmetatable(value) == nil then
        result = raw.setmetatable(value, result_mt)
    else
        result = { value = value, error = err }
    end
    return { type = "EXIT", kind = M.event.EXIT, pid = pid, from = pid, at = at,
        result = result, value = value, error = err }
end

-- process.cancel(pid, reason?) -> true | nil, err: asks Temporal to cancel that workflow (it
-- gets a CANCEL event if it reads process.events(), see the README); a child's EXIT event then
-- follows. process.terminate(pid) from a workflow does the same: Temporal lets no workflow
-- terminate another (the reference runtime maps both to a cancel request too); terminate from
-- a client (`moonflow terminate`) instead. NotFound when the workflow does not exist or ended.
local function request_cancel(fname, pid, reason)
    if type(pid) ~= "string" or pid == "" then
        return nil, sys.make_error("Invalid", fname .. ": the target must be a PID (or, in a process, a registered name)", false)
    end
    if in_process and pid:sub(1, 1) ~= "{" then
        local resolved = host.lookup(pid)
        if resolved == nil then
            return nil, sys.make_error("NotFound", fname .. ": could not resolve '" .. pid .. "' as PID or registered name", false)
        end
        pid = resolved
    end
    if reason ~= nil and type(reason) ~= "string" then
        return nil, sys.make_error("Invalid", fname .. ": reason must be a string or nil", false)
    end
    local r = sys.yield_cmd({ op = "cancel_external", target = pid, fname = fname, reason = reason })
    if r.ok then
        return true
    end
    return nil, r.err
end
function M.cancel(pid, reason)
    return request_cancel("process.cancel", pid, reason)
end
function M.terminate(pid, reason)
    return request_cancel("process.terminate", pid, reason)
end

-- The CANCEL event of a cancellation request (built by the driver): kind/type, from (nil: a
-- Temporal cancel request names no sender), reason (the string given to process.cancel,
-- `moonflow cancel --reason` or the Python API; nil when none was given), at.
function sys.cancel_event(at, reason, from)
    return { type = "CANCEL", kind = M.event.CANCEL, at = at, reason = reason, from = from }
end

-- The LINK_DOWN event of a linked process or workflow that ended abnormally (processes with
-- trap_links = true): kind/type, from, result = {error = err}, error.
function sys.link_down_event(pid, err, at)
    return { type = "LINK_DOWN", kind = M.event.LINK_DOWN, pid = pid, from = pid, at = at,
        result = { error = err }, error = err }
end

-- Has the code asked for process.events()? Then a cancellation becomes a CANCEL event there.
function sys.kernel.watching_events()
    return events ~= nil
end

-- Not available from workflow code; the wording is the reference runtime's (reference-runtime.md
-- §2.8), which its own tests check.
local UNSUPPORTED = {
    monitor = "child workflows are automatically monitored",
    unmonitor = "child workflows are automatically monitored",
    link = "Temporal doesn't support bidirectional linking",
    unlink = "Temporal doesn't support bidirectional linking",
}
local function target_arg(fname, pid)
    if type(pid) ~= "string" or pid == "" then
        return nil, sys.make_error("Invalid", fname .. ": the target must be a PID or a registered name", false)
    end
    return pid
end

if in_process then
    -- monitor/unmonitor/link/unlink(dest) -> true | nil, err (host: the process host)
    for name in raw.next, UNSUPPORTED do
        M[name] = function(pid)
            local target, err = target_arg("process." .. name, pid)
            if target == nil then
                return nil, err
            end
            return host[name](target)
        end
    end
    -- process.get_options() -> {trap_links = bool, upgradable = bool}
    function M.get_options()
        return { trap_links = host.trap_links(), upgradable = false }
    end
    -- process.set_options{trap_links = bool} -> true | nil, err
    function M.set_options(t)
        if type(t) ~= "table" then
            return nil, sys.make_error("Invalid", "process.set_options: expected a table", false)
        end
        for k in raw.next, t do
            if k ~= "trap_links" and k ~= "upgradable" then
                return nil, sys.make_error("Invalid", "process.set_options: unknown option '"
                    .. tostring(k) .. "' (trap_links, upgradable)", false)
            end
        end
        if t.upgradable == true then
            return nil, sys.make_error("Invalid", "process.set_options: upgradable is not "
                .. "supported (moonflow does not swap a running process's code)", false)
        end
        if t.trap_links ~= nil then
            if type(t.trap_links) ~= "boolean" then
                return nil, sys.make_error("Invalid", "process.set_options: trap_links must be true or false", false)
            end
            host.set_trap_links(t.trap_links)
        end
        return true
    end
else
    for name, why in raw.next, UNSUPPORTED do
        M[name] = function()
            return nil, sys.make_error("Invalid", "process." .. name
                .. " not supported in workflow context: " .. why, false)
        end
    end
end

-- process.registry (lua-api.md §2.1): names of processes on this process host (local scope;
-- released when the process exits). register(name, pid?) -> true | nil, err (AlreadyExists
-- when another PID holds it); lookup(name) -> pid | nil, err (NotFound); unregister(name) -> bool.
M.registry = { LOCAL = "local", EVENTUAL = "eventual", CONSISTENT = "consistent", STRONG = "strong" }
local function registry_unsupported(fname)
    return nil, sys.make_error("Invalid", "process.registry." .. fname
        .. " not supported in workflow context: a workflow is addressed by its workflow id", false)
end
function M.registry.register(name, pid, scope)
    if not in_process then
        return registry_unsupported("register")
    end
    if scope ~= nil and scope ~= M.registry.LOCAL then
        return nil, sys.make_error("Invalid", "process.registry.register: scope " .. tostring(scope)
            .. " needs a cluster; moonflow's registry is local to its process host (process.registry.LOCAL)", false)
    end
    if type(name) ~= "string" or name == "" then
        return nil, sys.make_error("Invalid", "process.registry.register: name must be a non-empty string", false)
    end
    if pid ~= nil and type(pid) ~= "string" then
        return nil, sys.make_error("Invalid", "process.registry.register: pid must be a PID string or nil", false)
    end
    return host.register(name, pid or host.pid())
end
function M.registry.lookup(name)
    if not in_process then
        return registry_unsupported("lookup")
    end
    if type(name) ~= "string" or name == "" then
        return nil, sys.make_error("Invalid", "process.registry.lookup: name must be a non-empty string", false)
    end
    local pid = host.lookup(name)
    if pid == nil then
        return nil, sys.make_error("NotFound", "no process registered as '" .. name .. "'", false)
    end
    return pid
end
function M.registry.unregister(name)
    if not in_process then
        return false
    end
    if type(name) ~= "string" then
        return false
    end
    return host.unregister(name)
end

return M
