-- The `workflow` module (workflow code only): run information, versioning, search attributes
-- and memo, history size. Every function here is answered synchronously by the driver (no
-- yield), from Temporal's deterministic workflow state.
--
-- Called with (sys) from the sandbox.
local sys = ...
local raw = sys.raw
local host = sys.host

local M = {}

--- workflow.exec(entry_id, ...) -> result | nil, err: runs a child workflow (on the child
--- entry's own worker, else the parent's task queue) and waits for its result. The first
--- argument may also be a table {workflow = entry_id, host = worker id or task queue, plus
--- start options: ["workflow.execution_timeout"] = "1h", ...}; any other key is an Invalid
--- error naming it (a misspelt option must not be dropped silently).
function M.exec(first, ...)
    local process = sys.module("process")  -- defines sys.start_child
    if type(first) ~= "table" then
        return sys.start_child("workflow.exec", "result", first, nil, ...)
    end
    local options, any = {}, false
    for k, v in raw.next, first do
        if k ~= "workflow" and k ~= 1 and k ~= "host" then
            local is_option = type(k) == "string"
                and (k:sub(1, 9) == "workflow." or k:sub(1, 18) == "temporal.workflow.")
            if not is_option then
                return nil, sys.make_error("Invalid", "workflow.exec: unknown key '" .. tostring(k)
                    .. "' in the table (use workflow, host and workflow.* start options)", false)
            end
            options[k] = v
            any = true
        end
    end
    if any then
        return process.with_options(options):exec(first.workflow or first[1], first.host, ...)
    end
    return sys.start_child("workflow.exec", "result", first.workflow or first[1], first.host, ...)
end

--- workflow.info() -> map table: workflow_id, run_id, workflow_type, task_queue, namespace,
--- attempt (integer), history_length, history_size (integers), start_time (a Time value).
function M.info()
    local info = host.info()
    if sys.new_time == nil then
        sys.module("time")
    end
    info.start_time = sys.new_time(info.start_time_ns)
    info.start_time_ns = nil
    return info
end

function M.history_length()
    return host.history_length()
end

function M.history_size()
    return host.history_size()
end

--- workflow.version(change_id, min_supported, max_supported) -> integer
--- Go SDK GetVersion semantics: a new run records and returns max; a replay returns what was
--- recorded; history from before the call existed gives -1 (DEFAULT_VERSION).
function M.version(change_id, min, max)
    if type(change_id) ~= "string" or change_id == "" then
        raw.error(sys.make_error("Invalid", "workflow.version: change_id must be a non-empty string", false), 2)
    end
    min, max = math.tointeger(min), math.tointeger(max)
    if min == nil or max == nil then
        raw.error(sys.make_error("Invalid", "workflow.version: min and max must be integers", false), 2)
    end
    if min > max then
        raw.error(sys.make_error("Invalid", "workflow.version(" .. change_id .. "): min " .. min
            .. " is greater than max " .. max, false), 2)
    end
    local v, err = host.version(change_id, min, max)
    if v == nil then
        raw.error(err, 2)
    end
    return v
end
M.DEFAULT_VERSION = -1

--- workflow.attrs{search = {...}, memo = {...}} -> true | nil, err (kind Invalid)
function M.attrs(t)
    if type(t) ~= "table" or (t.search == nil and t.memo == nil) then
        return nil, sys.make_error("Invalid", "workflow.attrs: expected {search = {...}} and/or {memo = {...}}", false)
    end
    return host.upsert_attrs(t.search, t.memo)
end

--- workflow.on_query(name, fn): answer Temporal queries named `name` with fn(args...). The
--- handler must be read-only: it may not wait or issue commands (that fails the query, not
--- the workflow). Built-in queries: "pid" and "__stack_trace".
function M.on_query(name, fn)
    if type(name) ~= "string" or name == "" or type(fn) ~= "function" then
        raw.error(sys.make_error("Invalid", "workflow.on_query(name, fn): expected a name and a function", false), 2)
    end
    if name == "pid" or name:sub(1, 2) == "__" then
        raw.error(sys.make_error("Invalid", "workflow.on_query: " .. name .. " is a built-in query", false), 2)
    end
    sys.kernel.queries[name] = fn
    return true
end

--- workflow.all_handlers_finished() -> bool: true when every update this run received has been
--- answered (ok, error or nak). As in Temporal's SDKs, a workflow that takes updates should
--- not return or continue as new while one is unanswered: see workflow.wait_handlers().
function M.all_handlers_finished()
    return host.all_handlers_finished()
end

-- Tasks parked in wait_handlers, woken (in the order they waited) when the run queue drains
-- and every update is answered. Answers come from the run's own code (process.send to the
-- update's PID) and updates arrive as messages, so this depends only on the history.
local handler_waiters
local function wake_handler_waiters()
    if #handler_waiters == 0 or not host.all_handlers_finished() then
        return false
    end
    local waiting = handler_waiters
    handler_waiters = {}
    for i = 1, #waiting do
        sys.wake(waiting[i], true)
    end
    return true
end

--- workflow.wait_handlers() -> true: waits until workflow.all_handlers_finished() (Temporal
--- SDKs' `wait_condition(all_handlers_finished)`), issuing no command. Call it before
--- returning or continuing as new in a workflow that takes updates; otherwise an update still
--- running then is ended: its caller gets kind Unavailable and the worker logs a warning.
function M.wait_handlers()
    sys.check_not_query("workflow.wait_handlers")
    if host.all_handlers_finished() then
        return true
    end
    if handler_waiters == nil then
        handler_waiters = {}
        local hooks = sys.kernel.idle_hooks
        hooks[#hooks + 1] = wake_handler_waiters
    end
    handler_waiters[#handler_waiters + 1] = sys.current()
    return sys.park()
end

--- workflow.continue_as_new(...): end this run and start a new run of the same workflow with
--- the given input (one payload per argument). Messages that arrived but were not consumed are
--- carried into the new run, in order. Does not return.
function M.continue_as_new(...)
    sys.yield_cmd({ op = "continue_as_new", args = sys.guard_pack(...) })
    raw.error("continue_as_new returned", 2)
end

return M
