-- The `funcs` module. In workflow code funcs.call(id, ...) is a Temporal activity (a local
-- activity when the target entry says `local: true`): one JSON payload per Lua argument,
-- start-to-close 10 minutes unless options say otherwise. It returns `result, nil` or
-- `nil, err` where err carries the activity's kind, message and retryable flag.
--
-- funcs.new() returns an immutable Executor: :with_options{...} (activity.* keys, and their
-- legacy temporal.activity.* aliases), :with_context{...}, :call(id, ...), :async(id, ...).
--
-- funcs.async(id, ...) (and exec:async) starts the same activity without waiting and returns
-- `Future, nil`. What is wrong before anything is scheduled is `nil, err` at once, as funcs.call
-- returns it (the message names funcs.async): a target that is not an "ns:name" string, bad
-- options, an activity.id a running activity of the workflow holds, arguments JSON cannot hold
-- or over the payload limit (Invalid), an id naming an app entry that is not an activity
-- (NotFound, not retryable) (worker/_driver.py prepare_activity). An id no worker of the app
-- registers is scheduled and fails NotFound, retryable: the future's error. The reference
-- runtime's Future (lua-api.md section 2.2):
--   f:response(), f:channel()  the same channel: it yields one value, a Payload (p:data() ->
--                              the activity's result) on success, the error on failure, and
--                              stays open (like time.after's), so a select loop over several
--                              futures sees each once; f:cancel() closes it without a value
--   f:result()                 never waits: nil, nil while pending; Payload, nil once done;
--                              nil, err once failed or canceled
--   f:error()                  err, true once failed or canceled; nil, false otherwise
--   f:is_complete()            true once the future has an outcome (result, error or canceled)
--   f:is_canceled()            true after f:cancel(), or when the activity was canceled
--                              (a workflow cancellation cancels in-flight activities)
--   f:cancel()                 true: the future is canceled at once (error kind Canceled) and
--                              Temporal is asked to cancel the activity; a result arriving
--                              later is ignored. false when the future had already completed.
--                              With activity.wait_for_cancellation = true the future stays
--                              pending until the activity has stopped (Temporal's
--                              WAIT_CANCELLATION_COMPLETED), then resolves the same way (an
--                              outcome the activity reached first is kept); its activity.id
--                              is free from then.
-- To wait for one future: f:response():receive() (or a channel.select case), then f:result().
-- A future nobody waits for does not keep the workflow open: when main returns, the run
-- completes, and Temporal drops the activity (its worker learns at its next heartbeat).
--
-- The future is host-agnostic: it emits {op = "activity", ...} (the command funcs.call yields)
-- with sys.emit and {op = "cancel_activity", activity = <that command's tag>}; the host
-- completes the first with the same {ok, value, err} table.
--
-- Called with (sys) from the sandbox.
local sys = ...
local raw = sys.raw
local host = sys.host
local pack = table.pack
-- Kernel runs (workflows, processes) yield the call to their host: an activity in a workflow,
-- an in-process call in a process; activity code asks its host directly.
local in_workflow = sys.kernel ~= nil

local M = {}
local Executor = {}
Executor.__index = Executor
Executor.__metatable = false

local function invalid(msg)
    return nil, sys.make_error("Invalid", msg, false)
end

local function check_id(id, how)
    if type(id) ~= "string" or id == "" then
        return how .. ": the target must be an entry id string like \"app:charge_payment\""
    end
    if not utf8.len(id) then
        return how .. ": the target is not valid UTF-8"
    end
    if not id:find(":", 1, true) then
        return how .. ": target " .. id .. " has no namespace: use the full entry id \"ns:" .. id .. "\""
    end
    return nil
end

-- Workflow runs check the call at once (worker/_driver.py prepare_activity: options, values,
-- payload size, target kind, activity.id in use) and keep what it prepared in the command;
-- the error of a call it refuses is the caller's nil, err. Nil: the host checks (processes).
local function prepare(cmd, how)
    local check = sys.prepare_activity
    if check == nil or sys.kernel.in_query then
        return nil  -- in a query handler: yield/emit refuse the command before the check could
    end             -- reserve an activity.id
    local p = check(cmd, how)
    if sys.is_error(p) then
        return p
    end
    cmd.prepared = p
    return nil
end

local function call(options, context, id, ...)
    local bad = check_id(id, "funcs.call")
    if bad then
        return invalid(bad)
    end
    if not in_workflow then
        return host.call_function(id, sys.guard_pack(...), context)
    end
    local cmd = { op = "activity", id = id, args = sys.guard_pack(...), options = options,
        context = context }
    local err = prepare(cmd, "funcs.call")
    if err then
        return nil, err
    end
    local r = sys.yield_cmd(cmd)
    if r.ok then
        return r.value, nil
    end
    return nil, r.err
end

function M.call(id, ...)
    return call(nil, nil, id, ...)
end

-- ---- funcs.async: Futures ------------------------------------------------------------------
local Future = {}
Future.__index = Future
Future.__metatable = false
-- Not data: sending or returning one fails naming its path (convert.lua `not_data`); the
-- description is made once per state.
local said = sys.base.future_not_data
if said == nil then
    said = { "a future", "send its result (future:result()) instead" }
    sys.base.future_not_data = said
end
sys.not_data[Future] = said

local PENDING, DONE, FAILED, CANCELED = "pending", "done", "failed", "canceled"

-- on_done of the activity command: the host's {ok, value, err} result.
local function settle(f, r)
    if f._state ~= PENDING then
        return  -- canceled first: a late result is ignored
    end
    if f._cancel_sent and not r.ok and sys.is_error(r.err) and r.err:kind() == "Canceled" then
        -- activity.wait_for_cancellation: the activity has stopped; resolve as a cancel that
        -- does not wait does at once (closed channel, the same error)
        f._state = CANCELED
        f._err = sys.make_error("Canceled", "funcs.async(" .. f._id .. "): canceled", false)
        f._ch:close()
        return
    end
    local item
    if r.ok then
        if sys.new_payload == nil then
            sys.module("process")  -- defines Payload
        end
        f._state = DONE
        f._payload = sys.new_payload(r.value)
        item = f._payload
    else
        f._err = r.err
        f._state = (sys.is_error(r.err) and r.err:kind() == "Canceled") and CANCELED or FAILED
        item = r.err
    end
    sys.channel_offer(f._ch, item)
end

local function async(options, context, id, ...)
    local bad = check_id(id, "funcs.async")
    if bad then
        return invalid(bad)
    end
    if sys.kernel == nil then
        return nil, sys.make_error("Unavailable", "funcs.async: not available in activity code", false)
    end
    local cmd = { op = "activity", id = id, args = sys.guard_pack(...), options = options,
        context = context, async = true }
    local err = prepare(cmd, "funcs.async")
    if err then
        return nil, err
    end
    local f = raw.setmetatable({ _id = id, _state = PENDING, _ch = sys.make_channel(sys, 1, "future") }, Future)
    -- set by the host's check (worker/_driver.py prepare_activity)
    f._waits = cmd.wait_for_cancellation == true
    f._prepared = cmd.prepared
    f._tag = sys.emit(cmd, function(r)
        settle(f, r)
    end)
    return f, nil
end

function M.async(id, ...)
    return async(nil, nil, id, ...)
end

local function channel_of(self)
    return self._ch
end
Future.response = channel_of
Future.channel = channel_of

function Future:result()
    if self._state == DONE then
        return self._payload, nil
    end
    return nil, self._err
end

function Future:error()
    if self._err ~= nil then
        return self._err, true
    end
    return nil, false
end

function Future:is_complete()
    return self._state ~= PENDING
end

function Future:is_canceled()
    return self._state == CANCELED or self._cancel_sent == true
end

function Future:cancel()
    if self._state == CANCELED or self._cancel_sent then
        return true
    end
    if self._state ~= PENDING then
        return false
    end
    if self._waits then
        -- activity.wait_for_cancellation = true: Temporal reports the cancel once the activity
        -- has stopped (WAIT_CANCELLATION_COMPLETED); the future resolves then (settle), and the
        -- activity.id is free from that moment
        self._cancel_sent = true
        sys.emit({ op = "cancel_activity", activity = self._tag })
        return true
    end
    if self._prepared ~= nil and sys.activity_cancelling ~= nil then
        sys.activity_cancelling(self._prepared)  -- a reuse of its activity.id names the cancel
    end
    self._state = CANCELED
    self._err = sys.make_error("Canceled", "funcs.async(" .. self._id .. "): canceled", false)
    sys.forget(self._tag)
    sys.emit({ op = "cancel_activity", activity = self._tag })
    self._ch:close()
    return true
end

function Future:__tostring()
    return "future " .. self._id .. " (" .. self._state .. ")"
end

local function merge(a, b)
    local out = {}
    if a then
        for k, v in sys.raw.next, a do
            out[k] = v
        end
    end
    for k, v in sys.raw.next, b do
        out[k] = v
    end
    return out
end

function M.new()
    return raw.setmetatable({ _options = nil, _context = nil }, Executor)
end

function Executor:with_options(opts)
    if type(opts) ~= "table" then
        raw.error("funcs executor: with_options expects a table", 2)
    end
    return raw.setmetatable({ _options = merge(self._options, opts), _context = self._context }, Executor)
end

function Executor:with_context(values)
    if type(values) ~= "table" then
        raw.error("funcs executor: with_context expects a table", 2)
    end
    return raw.setmetatable({ _options = self._options, _context = merge(self._context, values) }, Executor)
end

-- Actor and scope are accepted for compatibility; moonflow has no security layer yet.
function Executor:with_actor()
    return self
end
function Executor:with_scope()
    return self
end

function Executor:call(id, ...)
    return call(self._options, self._context, id, ...)
end

function Executor:async(id, ...)
    return async(self._options, self._context, id, ...)
end

return M
