-- The process node's scheduler: the Lua half of moonflow/process/_node.py.
--
-- Every process of a node is a kernel run (lua/kernel.lua) in the node's one Lua state. A step
-- of a process (K.run: resume its tasks until each waits) used to be one Python callback on the
-- event loop; a message between two local processes was a command the sender yielded to Python,
-- converted to Python and back into the receiver's run. Here both stay in Lua:
--   * N.send copies a message's values (convert.lua sys.copy_values: the exact result of the
--     conversion rules, no table shared between runs) into the receiver's mailbox and marks the
--     receiver ready;
--   * N.pump runs ready processes one step each, in FIFO order, and hands Python only the steps
--     it must act on (commands to issue, an end, a possible deadlock).
-- A ping-pong between two processes then runs without leaving Lua (benchmark P2); Python feeds
-- what arrives from outside (completions, events, messages from workflows) before each pump.
--
-- Called once per node state with the state's sys; returns the scheduler N (sys.node).
local sys = ...
local raw = sys.raw
local gc = raw.collectgarbage
local next = raw.next
local pcall = raw.pcall
local rawget = raw.rawget
local copy_values = sys.copy_values
local os_clock = raw.os_clock
local format = string.format

local N = {}

local procs = {}                  -- pid -> kernel instance of a live process of the node
local runs = {}                   -- pid -> the run (its sys) of a live process of the node
local queued = {}                 -- pid -> true while the pid is in the ready queue
local ready, head, tail = {}, 1, 0
local current = nil               -- the pid the pump is stepping (N.interrupted)

-- A process joins the node once its run is started (Process.start), ready for its first
-- step ...
function N.add(pid, kernel, run)
    procs[pid] = kernel
    runs[pid] = run
    queued[pid] = true
    tail = tail + 1
    ready[tail] = pid
end

-- ... and leaves when it exits: messages to it then take the Python path (NotFound there).
function N.remove(pid)
    procs[pid] = nil
    runs[pid] = nil
    queued[pid] = nil             -- a queued entry is skipped
end

-- Mark a process ready: it steps in the next pump (once, however often it is woken).
function N.wake(pid)
    if not queued[pid] and procs[pid] ~= nil then
        queued[pid] = true
        tail = tail + 1
        ready[tail] = pid
    end
end

-- A message to a local process, from a process step: delivered here when the receiver is a
-- live process of this node and every value can be copied exactly; false: take the Python
-- path (another node's or a workflow's PID, a value the copier leaves to the conversion rules,
-- a message to itself, a sender that has ended inside its step). The caller takes the Python
-- path for every message while one of its earlier ones is still on it (process.lua M.send):
-- the Python path delivers before the sender's next step, so per-sender order holds.
function N.send(pid, topic, values, from)
    local kernel = procs[pid]
    -- The receiver's mailbox is its process module's: one that never used `process` has none
    -- yet, and making it from here would load a module of its run inside this run's step
    -- (Python code running inside another run's coroutine): the Python path does it between
    -- steps. A message to itself waits for a new step, as it always has (a loop continued by
    -- messages to itself is many steps, each under the step's budget).
    if kernel == nil or pid == from or procs[from] == nil
        or rawget(kernel, "listening") == nil then
        return false
    end
    local copy = copy_values(values)
    if copy == nil then
        return false
    end
    kernel.deliver(topic, copy, from)
    N.wake(pid)
    return true
end

-- ---- Light processes ------------------------------------------------------------------------
-- A process spawned by another process of the node (process.spawn / spawn_monitored of a
-- process.lua or function.lua entry, no builder, no link) is made here, inside the spawner's
-- step, with no Python object: its run, kernel and entry environment are Lua tables, its file
-- is loaded from bytecode, and while its code needs nothing of Python (no host call, no module,
-- no command) its whole life stays in this scheduler: it steps, ends, and its EXIT goes into its
-- monitor's events, here. That is most of a spawned worker's life (benchmark P1: spawning a
-- process through Python took ~100 µs, this way ~10).
-- The first time it needs Python (a host call, a module, require, a command, an end that is
-- not a plain value, a deadlock) or Python needs it (a message, a monitor or link from
-- another process, a cancel, a name), Python makes its side from these tables
-- (ProcessNode._materialize: N.take, then N.adopted) and it is a process like any other.
local make_run, kernel_chunk, step_budget, guard_budget, materialize, credit
local default_host
local light_hosts = {}            -- host entry id -> true: where a light process may run
local number = 0                  -- the node's last PID number (Python's spawns take theirs too)
local entries = {}                -- entry id -> {code, chunk, method}, or false: not light
local light = {}                  -- pid -> record of a process with no Python side yet
local taking = {}                 -- pid -> its shell's box between N.take and N.adopted
local closing = false
local spawned = 0                 -- light spawns in the step under way (N.pump resets it)
-- Spawns in one step before the spawner lets the others run (process.lua yields then): a
-- loop spawning 10,000 processes would otherwise make them all in one step (and under that
-- step's memory cap) before any of them ran.
local SPAWNS_PER_STEP = 64
-- A light spawn's file top level runs in the spawner's step, under its memory cap: what one
-- keeps beyond this (KiB) is credited back (see N.spawn).
local TOP_LEVEL_KB = 256
-- Raised when the top level of a light process's file asks for Python (a host call, a module,
-- require): the spawn takes the Python path instead, and so does every later spawn of that
-- entry. A control value: user pcall cannot swallow it.
local NEEDS_PYTHON = { "moonflow: this entry's top level needs its process's Python side" }
sys.control[NEEDS_PYTHON] = true
local co_create, co_resume, co_status = raw.coroutine_create, raw.coroutine_resume,
    raw.coroutine_status
local sethook = raw.sethook
local new_env, new_env_mt = sys.new_env, sys.new_env_mt
local HOOK_EVERY = 10000          -- as sandbox.lua's guard hook expects
local HUGE = math.huge

-- Called once by the node (ProcessNode.__init__): how runs are made (_run.py _MAKE_RUN and
-- kernel.lua's chunk), the step budget, the Python callbacks making a light process's Python
-- side (materialize(pid)) and raising the pump's memory cap (credit(bytes)), the default host
-- and the process hosts a light process may run on.
function N.setup(run_maker, kchunk, budget, gbudget, materialize_fn, credit_fn, default, hosts)
    make_run, kernel_chunk, step_budget, guard_budget = run_maker, kchunk, budget, gbudget
    materialize, credit, default_host = materialize_fn, credit_fn, default
    for i = 1, #hosts do
        light_hosts[hosts[i]] = true
    end
end

-- The next PID number (every spawn of the node, light or not, takes one).
function N.next_number()
    number = number + 1
    return number
end

-- An entry Python has started once (its file loaded and its method found): later spawns of it
-- from processes may be light. `source` is the file's text as Lua sees it (dialect erased).
function N.learn(id, source, chunk, method)
    if entries[id] ~= nil then
        return
    end
    local fn = raw.load(source, chunk, "t", {})
    entries[id] = fn ~= nil and { code = raw.string_dump(fn), chunk = chunk, method = method }
end

-- The stopping node makes no light process any more (its spawns fail on the Python path).
function N.close()
    closing = true
    for pid in next, light do
        procs[pid], runs[pid], queued[pid], light[pid] = nil, nil, nil, nil
    end
end

-- box: {Python's link, Python's require, the light process served} (see new_shell); returns
-- Python's link (i = 1) or require (i = 2) of the process, made now when it has none yet.
local function python_side(box, i)
    local py = box[i]
    if py then
        return py
    end
    local rec = box[3]
    if rec.loading then
        rec.needed_python = true  -- (a user coroutine.resume may catch what follows)
        raw.error(NEEDS_PYTHON, 0)
    end
    materialize(rec.pid)
    py = box[i]
    if not py then
        raw.error("moonflow: could not make the Python side of " .. rec.pid .. " (see the log)", 0)
    end
    return py
end

-- A light process's run (_run.py _MAKE_RUN: its sys, kernel and guard) with its link (_run.py
-- _RunLink: link(name) a module, link(name, true) a host method) and require, which hand over
-- to Python's once it has made the process's side. What stays of it then, for as long as the
-- process runs, is a three-slot box and two closures (benchmark P3).
-- A run whose process ended by returning a value served a process that never reached Python
-- and is unreachable now: it is made as new and serves the next light process (making one
-- is most of a light spawn's cost: the kernel's closures).
local shells, shells_n = {}, 0
local SHELLS_KEPT = 256
local function new_shell()
    local box = { false, false, false }
    local function link(name, is_host)
        return python_side(box, 1)(name, is_host)
    end
    local function require_fn(name)
        return python_side(box, 2)(name)  -- a tail call: its errors blame the caller's line
    end
    local run, kernel, guard = make_run(link, kernel_chunk, step_budget, guard_budget, nil, 0)
    local mt = run.env_mt
    return { run = run, kernel = kernel, guard = guard, box = box, require = require_fn,
        env_index = mt.__index, env_newindex = mt.__newindex }
end
-- What a light life can change in its run: the library copies its code read (sandbox.lua
-- run_lib), its environments' metatable (getmetatable(_G)), the kernel's state (K.run(true))
-- and the guard's count. Anything else it could touch is a module or a host call, which made
-- it Python's (and its run is never reused).
local function recycle(shell)
    if shells_n >= SHELLS_KEPT then
        return
    end
    shell.box[3] = false
    local run = shell.run
    run.libs = nil
    -- Its code could have changed its environments' metatable (getmetatable(_G)): a new one
    -- then (most leave it alone: the check costs less than making one).
    local mt = run.env_mt
    local k1 = next(mt)
    if raw.getmetatable(mt) ~= nil or rawget(mt, "__index") ~= shell.env_index
        or rawget(mt, "__newindex") ~= shell.env_newindex or k1 == nil
        or next(mt, next(mt, k1)) ~= nil then
        mt = new_env_mt(run)
        run.env_mt = mt
        shell.env_index, shell.env_newindex = mt.__index, mt.__newindex
    end
    shell.kernel.run(true)  -- (K.run's reset)
    local g = shell.guard
    g.used, g.stopped, g.where = 0, nil, nil
    shells_n = shells_n + 1
    shells[shells_n] = shell
end

-- Tests: the fields of every run and kernel kept for reuse that a new one would not have, or
-- whose value differs from a new one's (functions compared by kind only), as "run.x" /
-- "kernel.x" names; empty when reuse is clean.
function N.check_shells()
    local bad = {}
    local ref = new_shell()
    local function compare(what, t, r)
        for k, v in next, t do
            local rv = rawget(r, k)
            if rv == nil or type(rv) ~= type(v) or (type(v) ~= "function" and type(v) ~= "table"
                and rv ~= v) then
                bad[#bad + 1] = what .. "." .. tostring(k)
            end
        end
        for k in next, r do
            if rawget(t, k) == nil then
                bad[#bad + 1] = what .. "." .. tostring(k) .. " (missing)"
            end
        end
    end
    for i = 1, shells_n do
        compare("run", shells[i].run, ref.run)
        compare("kernel", shells[i].kernel, ref.kernel)
        local mt = shells[i].run.env_mt
        compare("env_mt", mt, ref.run.env_mt)
        if raw.getmetatable(mt) ~= nil then
            bad[#bad + 1] = "env_mt's metatable"
        end
        local g = shells[i].guard
        if g.used ~= 0 or g.stopped ~= nil or g.where ~= nil then
            bad[#bad + 1] = "guard"
        end
    end
    return bad, shells_n
end

local pid_format = {}             -- host id -> "{host|0x%05x}" (its PIDs' format)

-- The spawn's arguments as the child gets them: plain values (most spawns) in the packed
-- list itself (nothing of the spawner's can be in it), anything else through the copier.
local function copy_args(args)
    for i = 1, args.n do
        local v = args[i]
        local t = type(v)
        if t == "number" then
            if v ~= v or v == HUGE or v == -HUGE then
                return copy_values(args)
            end
        elseif t ~= "boolean" and t ~= "nil" then
            return copy_values(args)
        end
    end
    return args
end

-- process.spawn* from the process `parent` (process.lua start_child_with): the new PID, and
-- whether the spawner should let the others run now; nil: take the Python path (an entry not
-- started yet, a host that is not a process host, a spawner with context values, arguments the
-- copier leaves to the conversion rules, a top level that failed or needs Python).
function N.spawn(parent, id, host, args, monitor)
    local e = entries[id]
    if not e or closing or procs[parent] == nil then
        return nil
    end
    if host == nil or host == "" then
        host = default_host
    elseif not light_hosts[host] then
        return nil
    end
    local prun = runs[parent]
    if prun == nil or rawget(prun, "has_context") then
        return nil
    end
    local copy = copy_args(args)
    if copy == nil then
        return nil
    end
    local shell
    if shells_n > 0 then
        shell = shells[shells_n]
        shells[shells_n] = nil
        shells_n = shells_n - 1
    else
        shell = new_shell()
    end
    local rec = { monitor = monitor, parent = parent, entry = id, loading = true, shell = shell,
        pid = false, host = host, number = false }  -- (every field made here: one allocation)
    shell.box[3] = rec
    local run, kernel, guard = shell.run, shell.kernel, shell.guard
    local before_kb = gc("count")
    local fn = raw.load(e.code, e.chunk, "b", new_env(run, shell.require))
    -- The file's top level runs in a coroutine of its own, under the run's budget hook (as
    -- sandbox.lua sys.guarded_call runs it on the Python path): a wait there must not suspend
    -- the spawner's task (on the Python path it fails: no coroutine to suspend).
    local co = co_create(fn)
    sethook(co, guard.hook, "", HOOK_EVERY)
    local charge = sys.charge
    sys.charge = guard.charge
    local ok, exported = co_resume(co)
    sys.charge = charge
    local grown_kb = gc("count") - before_kb
    if grown_kb > TOP_LEVEL_KB then
        -- The spawner's step paid for what the child's top level keeps: give it back. An entry
        -- that does so three spawns in a row loads on the Python path from now on (each load
        -- under its own cap); once may be the state's own growth (its string table doubling
        -- as the strings alive pass a power of two, 385 KiB at 200,000 EXITs unread).
        credit(grown_kb * 1024)
        local heavy = (e.heavy or 0) + 1
        e.heavy = heavy
        if heavy >= 3 then
            entries[id] = false
        end
    elseif e.heavy then
        e.heavy = nil
    end
    if not ok or co_status(co) ~= "dead" or rec.needed_python then
        -- It waits, needs Python, fails or runs out of budget at its top level: the Python
        -- path runs it again and reports what happens, for this spawn and every later one.
        if co_status(co) == "suspended" then
            raw.coroutine_close(co)
        end
        if ok or exported ~= "not enough memory" then
            entries[id] = false
        end  -- (out of memory in the spawner's step: this spawn only; Python's has a cap of its own)
        shell.box[3] = false
        return nil
    end
    local method = e.method
    if method ~= nil and type(exported) ~= "function" then
        exported = type(exported) == "table" and exported[method] or nil
    end
    if type(exported) ~= "function" then
        return nil
    end
    rec.loading = nil
    number = number + 1
    local fmt = pid_format[host]
    if fmt == nil then
        fmt = "{" .. host:gsub("%%", "%%%%") .. "|0x%05x}"  -- (_pids.py format_process_pid)
        pid_format[host] = fmt
    end
    local pid = format(fmt, number)
    rec.pid, rec.number = pid, number
    kernel.start(exported, copy)
    light[pid] = rec
    procs[pid] = kernel  -- (not in runs: only a spawner's run is looked up there)
    queued[pid] = true
    tail = tail + 1
    ready[tail] = pid
    spawned = spawned + 1
    return pid, spawned >= SPAWNS_PER_STEP
end

-- Python makes the light process `pid` a process of its own (ProcessNode._materialize): its
-- run, kernel, guard, entry, spawner and whether the spawner monitors it; nil when `pid` is not
-- light (never was, or has its Python side already). Then N.adopted hands back Python's link and
-- require, which the run's own forward to from then on.
function N.take(pid)
    local rec = light[pid]
    if rec == nil then
        return nil
    end
    light[pid] = nil
    local shell = rec.shell
    rec.shell = nil  -- Python's from now on: never reused
    taking[pid] = shell.box
    if procs[pid] ~= nil then
        runs[pid] = shell.run  -- it may spawn (N.spawn) and be monitored from Lua now
    end
    return shell.run, shell.kernel, shell.guard, rec.entry, rec.parent, rec.monitor
end

function N.adopted(pid, link, require_fn)
    local box = taking[pid]
    taking[pid] = nil
    box[1], box[2], box[3] = link, require_fn, false
end

-- process.unmonitor(pid) by the spawner of a light process.
function N.unmonitor(watcher, pid)
    local rec = light[pid]
    if rec ~= nil and rec.parent == watcher then
        rec.monitor = false
    end
end

-- How the latest light processes ended, for a monitor or link that comes late
-- (ProcessNode._ended): their results (their own values: they are dead, and every receiver got
-- a copy), the last EXITED_KEPT ends holding about EXITED_BYTES of results at most, the
-- oldest forgotten first (as ProcessNode._keep_exited keeps those of other processes). A ring
-- overwritten in place, found by PID number, holding no PID string: a table keyed by PID, or
-- the 10,000 PID strings alone, cost more than the rest of a light process's end (benchmark
-- P1).
local EXITED_KEPT, EXITED_BYTES = 10000, 4 * 1024 * 1024
local NIL = {}                    -- a remembered nil (false is a value)
local ring_host, ring_num, ring_val, ring_size  -- by slot; made on the first end
local ring_at = {}                -- PID number -> its slot
local ring_head, ring_count, ring_bytes = 1, 0, 0  -- oldest slot, slots in use, their bytes
local function forget_oldest()
    local slot = ring_head
    local number = ring_num[slot]
    if ring_at[number] == slot then
        ring_at[number] = nil
    end
    ring_bytes = ring_bytes - ring_size[slot]
    ring_host[slot], ring_num[slot], ring_val[slot], ring_size[slot] = false, false, false, 0
    ring_head = slot % EXITED_KEPT + 1
    ring_count = ring_count - 1
end
local function remember(host, number, value, bytes)
    if bytes > EXITED_BYTES // 4 then
        return  -- not remembered (as if long ago) rather than making room for it
    end
    if ring_num == nil then
        ring_host, ring_num, ring_val, ring_size = {}, {}, {}, {}
        for i = 1, EXITED_KEPT do
            ring_host[i], ring_num[i], ring_val[i], ring_size[i] = false, false, false, 0
        end
    end
    if ring_count == EXITED_KEPT then
        forget_oldest()
    end
    local slot = (ring_head - 1 + ring_count) % EXITED_KEPT + 1
    if value == nil then
        value = NIL
    end
    ring_host[slot], ring_num[slot], ring_val[slot], ring_size[slot] = host, number, value, bytes
    ring_at[number] = slot
    ring_count = ring_count + 1
    ring_bytes = ring_bytes + bytes
    while ring_bytes > EXITED_BYTES do
        forget_oldest()
    end
end

-- Whether the light process number `number` of host `host` (its PID's parts) is remembered
-- as ended by returning a value, and that value.
function N.ended(host, number)
    local slot = ring_at[number]
    if slot == nil or ring_host[slot] ~= host or ring_num[slot] ~= number then
        return false, nil
    end
    local v = ring_val[slot]
    if v == NIL then
        return true, nil
    end
    return true, v
end

-- The end of a light process's step that ended it: a plain value (`return v`, or nothing) is
-- handled here: EXIT into its monitor's events (what ProcessNode.process_exited and
-- exit_event_maker do for other processes), the value remembered for late monitors. Anything
-- else (a failure, `value, "text"`, a value that is not data) is Python's: false.
-- An end was reported to Python in the pump under way: Python hands its EXIT over after the
-- pump, so the light processes that end after it in this pump are reported too (their EXITs
-- then follow in the order the processes ended, as they always have).
local python_ends = false

local function light_done(pid, rec, kernel, now)
    local res = kernel.result
    if res.n >= 2 and res[2] ~= nil then
        return false
    end
    local value = res[1]
    local copy, bytes = nil, 64
    local vt = type(value)
    if vt == "boolean" or (vt == "number" and value == value and value ~= HUGE and value ~= -HUGE) then
        copy = value  -- as the copier would (a plain value, no table)
    elseif value ~= nil then
        -- a copy for the monitor (and the check that the value is data at all), and about
        -- what the value holds (as ProcessNode._size_of counts it: 40 bytes a slot and the
        -- strings' bytes)
        local c, slots, text = copy_values({ value, n = 1 })
        if c == nil then
            return false
        end
        copy = c[1]
        bytes = bytes + 40 * slots + text
    end
    local watcher = rec.monitor and procs[rec.parent] ~= nil and runs[rec.parent] or nil
    if watcher ~= nil then
        local exit_event = rawget(watcher, "exit_event")
        if exit_event == nil then
            watcher.module("process")  -- its event constructors (the spawner has it loaded)
            exit_event = watcher.exit_event
        end
        watcher.kernel.event(exit_event(pid, true, copy, nil, now))
        N.wake(rec.parent)
    end
    light[pid] = nil
    remember(rec.host, rec.number, value, bytes)
    recycle(rec.shell)
    return true
end

local function renew()
    ready, queued = {}, {}
end

-- The reports of a pump, made once and written in place (the pump allocates nothing of its
-- own while the memory cap is armed: a report lost to an out-of-memory error would leave its
-- process's commands unissued).
local reports, reports_size, reported = {}, 0, 0
local written = 0                 -- reports[1 .. written] of the pump under way (N.interrupted)

-- Run ready processes one step each until none is ready, `max_steps` steps have run, the pump
-- has taken `slice` seconds of CPU (the event loop's timers and I/O wait meanwhile), or the
-- state has grown by more than `slack_kb` KiB since the pump began (Python armed the memory
-- cap with that much room above one step's allowance: every step starts with at least its
-- allowance). A process whose step ends it leaves `procs` at once: no further step of it, and
-- a message to it takes the Python path, where its end (reported first) is already known.
-- Returns the steps Python must see, flat in `reports[1 .. n]`: pid, status, commands, pid,
-- ...; then n, and whether processes are still ready. A step that ends "blocked" with no
-- command while the process reads messages is left out: nothing to do until its input
-- arrives.
function N.pump(max_steps, slice, slack_kb, now)
    if reports_size < 3 * max_steps then
        for i = reports_size + 1, 3 * max_steps do
            reports[i] = false
        end
        reports_size = 3 * max_steps
    end
    for i = 1, reported do
        reports[i] = false  -- the last pump's: its command tables are garbage once issued
    end
    python_ends = false
    local n = 0
    written = 0
    local start_kb = gc("count")
    local start_s = os_clock()
    local steps = 0
    while head <= tail do
        local pid = ready[head]
        ready[head] = nil
        head = head + 1
        if queued[pid] then
            queued[pid] = nil
            local kernel = procs[pid]
            current = pid
            -- K.run allocates outside the process's tasks too: out of memory there (or a bug
            -- of ours) ends this process, not the pump (the others go on); Python reads the
            -- message as the commands ("internal").
            spawned = 0
            local ok, status, out = pcall(kernel.run)
            if not ok then
                status, out = "internal", raw.tostring(status)
            end
            steps = steps + 1
            -- A blocked process that reads no messages may be deadlocked: Python knows whether
            -- a timer or a call of its is pending (a process waiting for messages never is).
            if status ~= "blocked" then
                procs[pid] = nil  -- it has ended: no step or local message reaches it any more
                runs[pid] = nil
                local rec = light[pid]
                -- a light process that returned a value ends here; any other end is Python's
                if rec == nil or status ~= "done" or python_ends
                    or not pcall(light_done, pid, rec, kernel, now) or light[pid] ~= nil then
                    reports[n + 1], reports[n + 2], reports[n + 3] = pid, status, out
                    n = n + 3
                    python_ends = true
                end
            elseif out[1] ~= nil and out[2] == nil and out[1].cmd.op == "yield" then
                -- a spawner letting the others run (process.lua): back to the end of the queue
                kernel.complete(out[1].tag)
                N.wake(pid)
            elseif out[1] ~= nil or not kernel.listening() then
                reports[n + 1], reports[n + 2], reports[n + 3] = pid, status, out
                n = n + 3
            end
            written = n
            current = nil
            if steps >= max_steps or gc("count") - start_kb > slack_kb
                or os_clock() - start_s > slice then
                break
            end
        end
    end
    if head > tail then
        -- every entry was taken: start over, with fresh tables after a long queue (a table
        -- keeps the size of its longest use); without them if memory is short
        if tail > 256 then
            pcall(renew)
        end
        head, tail = 1, 0
    end
    reported = n
    return reports, n, head <= tail
end

-- After a pump that failed (out of memory in the pump itself, past the step's own checks):
-- the pid whose step it was running, or nil (Python ends that process), and the reports of
-- the steps before it (Python acts on them as on a pump's). The pump can run again.
function N.interrupted()
    local pid = current
    current = nil
    reported = written
    return pid, reports, written
end

return N
