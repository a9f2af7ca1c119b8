-- The `funcs` module. In workflow code funcs.call(id, ...) is a Temporal activity (a local
-- activity when the target entry says `local: true`): one JSON payload per Lua argument,
-- start-to-close 10 minutes unless options say otherwise. It returns `result, nil` or
-- `nil, err` where err carries the activity's kind, message and retryable flag.
--
-- funcs.new() returns an immutable Executor: :with_options{...} (activity.* keys, and their
-- legacy temporal.activity.* aliases), :with_context{...}, :call(id, ...).
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

local function check_id(id)
    if type(id) ~= "string" or id == "" then
        return "funcs.call: the target must be an entry id string like \"app:charge_payment\""
    end
    if not utf8.len(id) then
        return "funcs.call: the target is not valid UTF-8"
    end
    if not id:find(":", 1, true) then
        return "funcs.call: target " .. id .. " has no namespace: use the full entry id \"ns:" .. id .. "\""
    end
    return nil
end

local function call(options, context, id, ...)
    local bad = check_id(id)
    if bad then
        return invalid(bad)
    end
    if not in_workflow then
        return host.call_function(id, sys.guard_pack(...), context)
    end
    local r = sys.yield_cmd({ op = "activity", id = id, args = sys.guard_pack(...), options = options,
        context = context })
    if r.ok then
        return r.value, nil
    end
    return nil, r.err
end

function M.call(id, ...)
    return call(nil, nil, id, ...)
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

return M
