-- moonflow workflow kernel: the Lua half of the workflow driver.
--
-- A workflow run is a set of Lua coroutines ("tasks": main plus those from coroutine.spawn) and
-- a FIFO run queue. Every call that must wait for Temporal (activity, timer, ...) is a module
-- function that yields (CMD, command_table) through sys.yield_cmd. The kernel gives the command
-- a tag, parks the task and returns the command to the Python driver, which issues it to
-- Temporal and later calls K.complete(tag, ...) with the result. K.run() then resumes every
-- runnable task, in FIFO order, until each one is blocked again.
--
-- User code keeps the standard coroutine library: a command yielded inside a user coroutine is
-- passed up through the user's coroutine.resume to the kernel and the answer passed back down.
--
-- The chunk is called once per Lua state with the state's sys (sandbox.lua) and returns the
-- maker of kernel instances, called once per workflow run with (sys, budget): sys is the run's
-- private table (sandbox.lua new_run; the state is shared with other runs, so everything the
-- maker makes is per run) and budget the maximum number of Lua VM instructions one activation
-- (one K.run) may execute. What depends on no run (the markers, the library functions, the
-- query helpers) is made once per state, above the maker: an idle run holds only its own
-- closures and tables, and they share these upvalues instead of each having copies
-- (benchmark M2).
local base = ...
local raw = base.raw
local co_create, co_resume, co_yield, co_status, co_close =
    raw.coroutine_create, raw.coroutine_resume, raw.coroutine_yield, raw.coroutine_status,
    raw.coroutine_close
local sethook = raw.sethook
local pack = table.pack
local unpack = table.unpack
local concat = table.concat
local sort = table.sort

-- Private to the kernel; the same for every run of the state (runs never interleave inside
-- one K.run, and user code never sees them).
local CMD = {}                    -- marks a yield that carries a runtime command
local WAIT = {}                   -- marks a yield that parks the task inside the kernel
local BUDGET = { "instruction budget exceeded" }
base.control[BUDGET] = true
local HOOK_EVERY <const> = 10000
-- What K.run returns when a step emitted no command (read-only for every caller).
local NONE = raw.setmetatable({}, { __newindex = function()
    raw.error("the kernel's empty command list is read-only", 2)
end })

-- Raised when a query handler would change the workflow (K.call_query, below).
local function read_only(what, why)
    local where = base.user_where(1)
    raw.error((where and (where .. ": ") or "") .. "query handlers are read-only: " .. what
        .. " would change the workflow (queries are not in the history"
        .. (why and ("; " .. why) or "") .. ")", 0)
end
local NO_COMMANDS <const> = "a handler cannot wait or issue commands"
local function command_name(cmd)
    return type(cmd) == "table" and type(cmd.op) == "string" and ("the " .. cmd.op .. " command")
        or "a command"
end

-- Query handlers' upvalues and globals (K.call_query, below).
local getupvalue, setupvalue, rawequal = raw.getupvalue, raw.setupvalue, raw.rawequal
local function note_upvalues(fn)
    local vals, i = {}, 1
    while getupvalue(fn, i) ~= nil do
        local _, v = getupvalue(fn, i)
        vals[i] = v
        i = i + 1
    end
    return vals, i - 1
end
-- Put back every upvalue of fn that changed; returns the name of the first one, or nil.
local function restore_upvalues(fn, vals, n)
    local first
    for i = 1, n do
        local name, v = getupvalue(fn, i)
        local old = vals[i]
        if not rawequal(v, old) and not (v ~= v and old ~= old) then  -- NaN stays NaN
            setupvalue(fn, i, old)
            first = first or name
        end
    end
    return first
end

-- Globals: the run's entry environments (sandbox.lua new_env) are copied (one level) before
-- the call; after it, any global set, changed or removed is put back and the query fails. A
-- global the handler only read (copied into the environment on first read, sys.query_filled)
-- is not a change. New globals fail at once (sandbox.lua env_mt.__newindex).
local rawget, rawset = raw.rawget, raw.rawset
local function note_envs(sys)
    local envs = rawget(sys, "envs")
    if envs == nil then
        return nil
    end
    local copies = {}
    for i = 1, #envs do
        local copy = {}
        for k, v in raw.next, envs[i] do
            copy[k] = v
        end
        copies[i] = copy
    end
    return copies
end
-- Put back every global that changed; returns the (alphabetically) first name, or nil.
local function restore_envs(sys, copies, filled)
    if copies == nil then
        return nil
    end
    local envs = rawget(sys, "envs")
    local names = {}
    for i = 1, #copies do
        local env, old = envs[i], copies[i]
        local changed = {}
        for k, v in raw.next, env do
            local was = old[k]
            if was == nil then
                if not rawequal(filled[k], v) then
                    changed[#changed + 1] = k
                end
            elseif not rawequal(was, v) and not (v ~= v and was ~= was) then  -- NaN stays NaN
                changed[#changed + 1] = k
            end
        end
        for k in raw.next, old do
            if rawget(env, k) == nil then
                changed[#changed + 1] = k
            end
        end
        for j = 1, #changed do
            local k = changed[j]
            rawset(env, k, old[k])
            names[#names + 1] = raw.tostring(k)
        end
    end
    sort(names)
    return names[1]
end

-- User coroutines pass the kernel's commands up and the answers down (make_user_coroutine).
local function passthrough(co, res)
    while res[1] and (res[2] == CMD or res[2] == WAIT) and co_status(co) == "suspended" do
        local answer = pack(co_yield(res[2], res[3]))
        res = pack(co_resume(co, unpack(answer, 1, answer.n)))
    end
    return res
end

-- A run's mailbox functions until the process module sets its own in the kernel instance
-- (K.deliver, below): shared through the instance's metatable, which keeps the instance's own
-- fields few enough for a small hash part (benchmark M2).
local mailbox_defaults = {
    listening = function()
        return false
    end,
    mailbox_size = function()
        return 0
    end,
    unconsumed = function()
        return {}
    end,
}
-- The hook lists modules add to (K.idle_hooks, K.on_blocked) and the query handlers
-- (K.queries): the instance's own, made on first read (an idle run that has none holds none).
local lazy_lists = { idle_hooks = true, on_blocked = true, queries = true }
local kernel_mt = {
    __index = function(k, name)
        local v = mailbox_defaults[name]
        if v == nil and lazy_lists[name] then
            v = {}
            rawset(k, name, v)
        end
        return v
    end,
}

-- The maker: one kernel instance per run (its body is not indented, to keep the diff small).
return function(sys, budget)
local K = raw.setmetatable({}, kernel_mt)
sys.kernel = K

local tasks = {}                  -- co -> task
local runq = {}                   -- FIFO of tasks: runq[runq_head .. runq_tail]
local runq_head = 1
local runq_tail = 0
local pending = {}                -- tag -> task (parked on a command) or callback function
local next_tag = 0
local out = {}                    -- commands emitted during the current K.run
local main_task
local task_seq = 0

K.result = nil                    -- packed return values of main once done
K.error = nil                     -- error value when main (or any task) failed
K.traceback = nil
K.failed_task = nil

-- Instruction budget: a count hook on every coroutine the workflow runs (HOOK_EVERY, above).
local used = 0
local exceeded = false
K.budget_where = nil              -- "file:line" where the budget ran out
local function over_budget()
    exceeded = true
    K.budget_where = sys.user_where(2)
    raw.error(BUDGET, 0)
end
local function budget_hook()
    used = used + HOOK_EVERY
    if used > budget then
        over_budget()
    end
end
-- C work done for the run (patterns.lua charges its C calls through sys.charge, which is this
-- function while the run's code runs: K.run and K.call_query).
local function charge(n)
    used = used + n
    if budget and budget > 0 and used > budget and not exceeded then
        over_budget()
    end
end
local function guard(co)
    if budget and budget > 0 then
        sethook(co, budget_hook, "", HOOK_EVERY)
    end
    return co
end

-- Queries are read-only: K.in_query is true while K.call_query runs a handler. Queries are not
-- in the history, so anything that would change the workflow (emit or wait on a command, park
-- or wake a task, any channel operation, spawn) raises in the handler before it changes
-- anything; the query fails, the workflow goes on as if it never ran.
K.in_query = false
function sys.check_not_query(what)
    if K.in_query then
        read_only(what)
    end
end

-- sys.where_of_commands (set by the driver while replaying a history): each command carries
-- the user code's "file:line" that issued it (cmd.where), to point a replay mismatch at a line.
function sys.yield_cmd(cmd)
    if K.in_query then
        read_only(command_name(cmd), NO_COMMANDS)
    end
    if sys.where_of_commands then
        cmd.where = sys.user_where(1)
    end
    return co_yield(CMD, cmd)
end

-- A command that does not wait (timer start, timer cancel...): issued in order with the
-- others; when Temporal resolves it, on_done(...) runs inside the kernel. Returns the tag.
function sys.emit(cmd, on_done)
    if K.in_query then
        read_only(command_name(cmd), NO_COMMANDS)
    end
    if sys.where_of_commands then
        cmd.where = sys.user_where(1)
    end
    next_tag = next_tag + 1
    if on_done then
        pending[next_tag] = on_done
    end
    out[#out + 1] = { tag = next_tag, cmd = cmd }
    return next_tag
end

-- Park the running task until sys.wake(task, ...) (channels, subscriptions, select).
-- Returns the values given to wake.
function sys.park()
    if K.in_query then
        read_only("waiting", NO_COMMANDS)
    end
    return co_yield(WAIT)
end

function sys.current()
    return K.current
end

local function push(task, ...)
    task.args = pack(...)
    runq_tail = runq_tail + 1
    runq[runq_tail] = task
end

local function new_task(fn, name)
    task_seq = task_seq + 1
    local task = { co = guard(co_create(fn)), id = task_seq, name = name or ("coroutine " .. task_seq) }
    tasks[task.co] = task
    return task
end

-- coroutine.spawn(fn, ...): a scheduler-managed coroutine sharing this state.
function K.spawn(fn, ...)
    if type(fn) ~= "function" then
        raw.error("coroutine.spawn: expected a function, got " .. type(fn), 2)
    end
    if K.in_query then
        read_only("coroutine.spawn")
    end
    local task = new_task(fn)
    push(task, ...)
    return task.co
end

function K.start(fn, args)
    main_task = new_task(fn, "main")
    main_task.args = args
    runq_tail = runq_tail + 1
    runq[runq_tail] = main_task
end

function sys.wake(task, ...)
    if K.in_query then
        read_only("waking a task")
    end
    push(task, ...)
end

-- Resume the task parked on command `tag` with its result (or run its callback).
function K.complete(tag, ...)
    local target = pending[tag]
    if target == nil then
        return false
    end
    pending[tag] = nil
    if type(target) == "function" then
        target(...)
    else
        push(target, ...)
    end
    return true
end

-- Stop waiting for a command's result (a cancelled timer will never fire).
function sys.forget(tag)
    pending[tag] = nil
end

-- K.idle_hooks: hooks run when the run queue drains (message dispatch); each returns true if
-- it woke a task. K.on_blocked: hooks run once every task waits and no idle hook woke one,
-- just before K.run returns "blocked"; they may emit commands (time.lua cancels abandoned
-- time.after timers) but wake no task. Called in the order they were added. Both are made on
-- first read (kernel_mt, above): read them here with rawget, so that a run without hooks
-- never makes them.

local function kill_all_but(keep)
    for co, task in raw.next, tasks do
        if task ~= keep and co_status(co) == "suspended" then
            co_close(co)
        end
    end
end

local function fail(task, err)
    if type(err) == "string" then
        err = sys.valid_text(sys.locate(err, task.co))
    end
    K.error = err
    K.failed_task = task.name
    if type(err) ~= "table" or not sys.is_error(err) then
        K.traceback = sys.valid_text(sys.traceback(task.co, type(err) == "string" and err or nil))
    end
end

-- Run every runnable task until all are blocked. Returns a status string and the commands
-- emitted, as an array of {tag = n, cmd = command_table}:
--   "blocked"  waiting for completions (commands may have been emitted)
--   "done"     main returned; K.result holds its packed return values
--   "error"    a task raised; K.error / K.traceback
--   "budget"   the instruction budget was exhausted
--   "memory"   the state ran out of memory
local function drain_hooks()
    local hooks = rawget(K, "idle_hooks")
    if hooks == nil then
        return false
    end
    local progressed = false
    for i = 1, #hooks do
        if hooks[i]() then
            progressed = true
        end
    end
    return progressed
end

local function run_tasks()
    drain_hooks()
    while true do
      if runq_head > runq_tail then
        if not drain_hooks() or runq_head > runq_tail then
            break
        end
      end
      while runq_head <= runq_tail do
        local task = runq[runq_head]
        runq[runq_head] = nil
        runq_head = runq_head + 1
        local args = task.args
        task.args = nil
        K.current = task
        local res = pack(co_resume(task.co, unpack(args, 1, args.n)))
        K.current = nil
        if exceeded then
            return "budget"
        end
        if not res[1] then
            local err = res[2]
            if err == "not enough memory" then
                return "memory"
            end
            fail(task, err)
            return "error"
        end
        if co_status(task.co) == "dead" then
            tasks[task.co] = nil
            if task == main_task then
                K.result = sys.guard_pack(unpack(res, 2, res.n))
                kill_all_but(nil)
                return "done"
            end
        elseif res[2] == CMD then
            next_tag = next_tag + 1
            pending[next_tag] = task
            out[#out + 1] = { tag = next_tag, cmd = res[3] }
        elseif res[2] == WAIT then
            -- parked inside the kernel; a channel or subscription holds the task
        else
            -- "?:" has sys.locate put the user code's file:line of the yield in front
            fail(task, "?:-1: coroutine.yield called outside a coroutine created with coroutine.create/wrap "
                .. "(in " .. task.name .. "); use channels or coroutine.spawn to coordinate tasks")
            return "error"
        end
      end
    end
    -- the queue is empty: start it over
    runq = {}
    runq_head, runq_tail = 1, 0
    local on_blocked = rawget(K, "on_blocked")
    if on_blocked ~= nil then
        for i = 1, #on_blocked do
            on_blocked[i]()
        end
    end
    return "blocked"
end

-- Commands emitted since the last call (including by callbacks run from K.complete, such as a
-- ticker re-arming its timer) go out with this activation.
function K.run(reset)
    if reset then
        -- Make the instance as new, for another process of the node to run in
        -- (process/scheduler.lua reuses the run of a light process that ended by returning:
        -- its tasks are dead, its environment and coroutines unreachable, nothing of Python
        -- ever held it, and no module was loaded in it, so no other field of K changed). Here
        -- rather than in a function of its own: a field more in every kernel made K's table
        -- grow, 0.5 KB per idle process (benchmark P3).
        -- (the tables that are empty already are kept: most are, after a run that returned)
        if next(tasks) ~= nil then
            tasks = {}
        end
        if runq_head <= runq_tail then
            runq = {}
        end
        if next(pending) ~= nil then
            pending = {}
        end
        if out[1] ~= nil then
            out = {}
        end
        runq_head, runq_tail, next_tag, main_task, task_seq = 1, 0, 0, nil, 0
        used, exceeded = 0, false
        K.result, K.error, K.traceback, K.failed_task, K.budget_where, K.current = nil, nil, nil,
            nil, nil, nil
        K.in_query = false
        return
    end
    -- Budgets are per activation: a long-lived process run goes on after one that ran out
    -- (a workflow run that ran out is discarded anyway).
    used = 0
    exceeded = false
    base.charge = charge
    local status = run_tasks()
    base.charge = nil
    local emitted = out
    if emitted[1] == nil then
        return status, NONE  -- most steps emit nothing: no new table for them
    end
    out = {}
    return status, emitted
end


-- K.complete(tag, ...) then K.run(): the usual activation in one call from Python.
function K.complete_and_run(tag, ...)
    K.complete(tag, ...)
    return K.run()
end

-- Query handlers registered with workflow.on_query (name -> function).
-- Messages and the mailbox live in the process module (process.lua replaces these when it
-- loads). It loads on the first message, so a workflow that never gets one never pays for it.
function K.deliver(...)
    sys.module("process")
    return K.deliver(...)
end
function K.event(...)
    sys.module("process")
    return K.event(...)
end

-- K.queries: made on first read (kernel_mt, above).

-- Run a query handler: read-only and synchronous. It runs in its own coroutine under the
-- instruction budget with K.in_query set: any attempt to wait (activity, sleep, receive) or to
-- change the workflow (channel operations, commands, spawn) is an error for the query caller,
-- never for the workflow. math.random draws from a generator of the query's own, seeded the
-- same for every query (sandbox.lua run_math), so the workflow's sequence never moves.
-- A handler that assigns to a variable of the workflow it closes over (an upvalue: `n = n + 1`)
-- would change the workflow without a trace in the history: its upvalues are noted before the
-- call, any that changed are put back after it, and the query fails; globals likewise (below).
-- Assignments to upvalues of other functions the handler calls and writes into tables
-- (`state.x = 1`, table.insert, rawset on a table other than an environment) are not seen at
-- run time (`moonflow check` flags them statically, determinism/_scan.py).
-- Returns ok, value_or_error.
function K.call_query(fn, args)
    local upvals, n_upvals = note_upvalues(fn)
    local globals = note_envs(sys)
    local filled = {}
    sys.query_filled = filled
    local co = guard(co_create(fn))
    used = 0
    base.charge = charge
    K.in_query = true
    sys.query_random = nil  -- a fresh query generator on first use (sandbox.lua run_math)
    -- process.send to the workflow itself puts the message straight into its mailbox
    -- (K.deliver, which the process module defines): refused too while the query runs.
    local deliver = K.deliver
    local function refuse_deliver()
        read_only("process.send to this workflow")
    end
    K.deliver = refuse_deliver
    local res = pack(co_resume(co, unpack(args, 1, args.n)))
    if K.deliver == refuse_deliver then  -- else the process module loaded during the query
        K.deliver = deliver
    end
    K.in_query = false
    sys.query_random = nil
    base.charge = nil
    sys.query_filled = nil
    local assigned = restore_upvalues(fn, upvals, n_upvals)
    local global_set = restore_envs(sys, globals, filled)
    if exceeded then
        exceeded = false
        return false, "query handler ran out of its instruction budget"
    end
    if not res[1] then
        return false, type(res[2]) == "string" and sys.valid_text(res[2]) or res[2]
    end
    if co_status(co) ~= "dead" then
        co_close(co)
        return false, "query handlers cannot wait (activities, timers, messages) or issue commands"
    end
    if assigned then
        local info = raw.getinfo(fn, "S")
        local where = info and info.short_src and (info.short_src .. ":" .. info.linedefined .. ": ")
        return false, (where or "") .. "query handlers are read-only: the assignment to '"
            .. assigned .. "' would change the workflow (queries are not in the history: "
            .. "compute from state, do not change it); it was undone"
    end
    if global_set then
        return false, "query handlers are read-only: the assignment to global '" .. global_set
            .. "' would change the workflow (queries are not in the history: compute from "
            .. "state, do not change it); it was undone"
    end
    return true, sys.guard_text(res[2])
end

-- Tracebacks of every live task (for the __stack_trace query).
function K.stacks()
    local live = {}
    for _, task in raw.next, tasks do
        live[#live + 1] = task
    end
    sort(live, function(a, b) return a.id < b.id end)  -- main first, then in spawn order
    local lines = {}
    for i = 1, #live do
        lines[i] = sys.traceback(live[i].co, "-- " .. live[i].name)
    end
    return concat(lines, "\n\n")
end

-- ---------------------------------------------------------------------------------------
-- The user-visible coroutine library: standard semantics, with runtime commands passed
-- through to the kernel (passthrough, above).

-- Built when the run's code first reads the `coroutine` global (sandbox.lua run_lib).
function sys.make_user_coroutine()
    local user_coroutine = {}
    for k, v in raw.next, coroutine do
        user_coroutine[k] = v
    end

    function user_coroutine.create(fn)
        return guard(co_create(fn))
    end

    function user_coroutine.resume(co, ...)
        local res = passthrough(co, pack(co_resume(co, ...)))
        return unpack(res, 1, res.n)
    end

    function user_coroutine.wrap(fn)
        local co = guard(co_create(fn))
        return function(...)
            local res = passthrough(co, pack(co_resume(co, ...)))
            if not res[1] then
                local e = res[2]
                if type(e) == "string" then
                    raw.error(e, 0)
                end
                raw.error(e, 0)
            end
            return unpack(res, 2, res.n)
        end
    end

    user_coroutine.spawn = K.spawn
    return user_coroutine
end


return K
end
