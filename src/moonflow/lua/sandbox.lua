-- moonflow sandbox prelude: runs first in every Lua state, before any user code.
--
-- A workflow Lua state is shared by many workflow runs (benchmark M2: a state of its own per
-- run cost ~115 KB of Lua heap per idle run). This file therefore has two halves:
--   * once per state: remove every route out of the sandbox (the lupa `python` bridge, io,
--     os.execute, load*, debug, string.dump, package.loadlib, collectgarbage), make the shared
--     library tables read-only or private, and build the glue Python calls;
--   * once per run, sys.new_run(link): the run's private `sys` (a table inheriting from
--     this one) with its host, its deterministic clock and random generator, and the
--     per-run library tables its entry environments get (built on first use).
-- Called with (context, install_forms): "workflow" or "activity", and forms.lua's chunk. Returns the private table `sys`, holding
-- the raw functions that the kernel and the modules still need; it is never reachable from
-- user code.
local context, install_forms = ...
local G = _G  -- the state's own global table (its _G field is removed once sealed)
local string_call  -- what string(x) does (forms.lua), set below

local sys = {}
local pack, unpack = table.pack, table.unpack

local raw = {
    coroutine_create = coroutine.create,
    coroutine_resume = coroutine.resume,
    coroutine_yield = coroutine.yield,
    coroutine_status = coroutine.status,
    coroutine_close = coroutine.close,
    coroutine_running = coroutine.running,
    coroutine_wrap = coroutine.wrap,
    coroutine_isyieldable = coroutine.isyieldable,
    pcall = pcall,
    xpcall = xpcall,
    error = error,
    load = load,
    setmetatable = setmetatable,
    getmetatable = getmetatable,
    sethook = debug.sethook,
    debug_getmetatable = debug.getmetatable,
    gethook = debug.gethook,
    traceback = debug.traceback,
    getinfo = debug.getinfo,
    getupvalue = debug.getupvalue,  -- query handlers' upvalues (kernel.lua K.call_query)
    setupvalue = debug.setupvalue,
    rawequal = rawequal,
    rawget = rawget,  -- entry environments, noted and put back around queries (K.call_query)
    rawset = rawset,
    os_date = os.date,
    os_time = os.time,
    os_clock = os.clock,
    collectgarbage = collectgarbage,
    math_random = math.random,
    math_randomseed = math.randomseed,
    string_dump = string.dump,
    -- Hash-order iteration; workflow states get deterministic globals from detpairs.lua.
    next = next,
    pairs = pairs,
    os_setlocale = os.setlocale,
    tostring = tostring,
}
sys.raw = raw
sys.context = context

-- Errors are made through the state's own instance of the errors module, loaded on the first
-- error (sys.module here is the state's loader, _vm.LuaVM._state_module). Every
-- instance's errors are alike; a run's `errors` global is its own instance, for isolation.
for _, name in raw.next, { "make_error", "normalize_kind" } do
    sys[name] = function(...)
        sys.module("errors")
        return sys[name](...)
    end
end

local where_msg = context == "workflow"
    and "is not supported in workflow context: move it into an activity"
    or "is not available in moonflow Lua code"

local function refuse(name)
    return function()
        raw.error(name .. " " .. where_msg, 2)
    end
end
sys.refuse = refuse

-- A table every field of which refuses with a clear message (io.open -> "io.open is not ...").
local function refusing_table(prefix)
    return raw.setmetatable({}, {
        __index = function(_, k)
            return refuse(prefix .. "." .. tostring(k))
        end,
        __newindex = function()
            raw.error(prefix .. " " .. where_msg, 2)
        end,
        __metatable = false,
    })
end

-- Sentinel errors that belong to the runtime's own control flow (instruction budget, memory,
-- cancellation). User pcall/xpcall re-raise them so user code can never swallow them.
local control = raw.setmetatable({}, { __mode = "k" })
sys.control = control
function sys.is_control(e)
    return type(e) == "table" and control[e] == true
end

local function rethrow_control(ok, ...)
    if not ok then
        local e = ...
        if type(e) == "table" and control[e] then
            raw.error(e, 0)
        end
    end
    return ok, ...
end

pcall = function(f, ...)
    return rethrow_control(raw.pcall(f, ...))
end

xpcall = function(f, handler, ...)
    return rethrow_control(raw.xpcall(f, function(e)
        if type(e) == "table" and control[e] then
            return e
        end
        return handler(e)
    end, ...))
end

-- Remove the escape routes. (`require` is given to each entry's own environment.)
python = nil
require = refuse("require outside an entry")
if package and package.loaded then
    package.loaded.python = nil
end
load = refuse("load")
loadstring = refuse("loadstring")
dofile = refuse("dofile")
loadfile = refuse("loadfile")
collectgarbage = refuse("collectgarbage")
warn = nil  -- warn("@on") would switch on warnings (to stderr) for every run of the state
io = refusing_table("io")
debug = refusing_table("debug")
string.dump = refuse("string.dump")
package = nil  -- each run gets its own (run_libs below)

-- os: only time functions survive; in workflows they read workflow time (per run, below).
local real_os = os
local os_refusals = {
    difftime = real_os.difftime,
    execute = refuse("os.execute"),
    getenv = refuse("os.getenv"),
    remove = refuse("os.remove"),
    rename = refuse("os.rename"),
    exit = refuse("os.exit"),
    tmpname = refuse("os.tmpname"),
    setlocale = refuse("os.setlocale"),
}
os = {}
for k, v in raw.next, os_refusals do
    os[k] = v
end
if context ~= "workflow" then
    os.time, os.date, os.clock = real_os.time, real_os.date, real_os.clock
end

local NS = 1000000000

-- Seconds since the epoch for a date table read as UTC (os.time reads it as local time).
function sys.os_time_utc(t)
    local copy = {}
    for k, v in raw.next, t do
        copy[k] = v
    end
    copy.isdst = false
    local local_guess = raw.os_time(copy)
    local utc_parts = raw.os_date("!*t", local_guess)
    utc_parts.isdst = false
    return local_guess + (local_guess - raw.os_time(utc_parts))
end

-- Strings: protect the shared metatable so user code cannot rewire string methods for the
-- whole state (the "metatable trick"), while keeping s:upper() etc.
do
    local smt = raw.getmetatable("")
    smt.__metatable = false
    -- find/match/gmatch/gsub backtrack in C, out of the instruction budget's reach: a pattern
    -- such as ("a-"):rep(3) .. "b" on 2 KB would hold the state (every run in it) for hours.
    -- patterns.lua replaces them in the real table with guarded versions (C while a bound on
    -- its work is small, else a Lua port the budget counts). These stubs load it on the first
    -- call, once internal files can load (moonflow's own start-up code gets the C functions).
    local c_string = {
        find = string.find, match = string.match, gmatch = string.gmatch, gsub = string.gsub,
    }
    sys.c_string = c_string
    for name, c_fn in raw.next, c_string do
        string[name] = function(...)
            if sys.patterns == nil then
                if sys.module_env == nil then
                    return c_fn(...)
                end
                sys.load_internal("patterns")
            end
            return sys.real_string[name](...)
        end
    end
    -- The string library behind s:method() is shared by every string: user code gets a
    -- read-only view, so `string.upper = ...` cannot rewire ("a"):upper() for the whole state.
    local real_string = string
    sys.real_string = real_string
    local function string_next(_, k)  -- pairs(string) without handing out the real table
        return raw.next(real_string, k)
    end
    local string_mt = {
        __index = real_string,
        __newindex = function(_, k)
            raw.error("the string library is read-only (string." .. tostring(k) .. ")", 2)
        end,
        __pairs = function()
            return string_next, nil, nil
        end,
        -- string(x): the reference runtime's dialect calls a type name to convert (x's string
        -- form, as tostring gives it)
        __call = function(_, ...)
            return string_call(...)  -- a tail call: errors name the caller's line
        end,
        __metatable = false,
    }
    -- Each run gets its own view (run_lib): rawset on it must not reach other runs.
    function sys.string_view()
        return raw.setmetatable({}, string_mt)
    end
    string = sys.string_view()
end

-- C library functions whose loops run without a single Lua instruction: the budget's count hook
-- never sees them (string.rep("", 1 << 40) or table.move over 2^40 slots copy nothing, so no
-- memory cap stops them either). Their work is charged to the running budget first
-- (sys.charge: the kernel's during an activation, a guarded call's during an activity call;
-- patterns.lua charges pattern calls the same way), in instructions, about what the same loop
-- would cost in Lua; a charge past the budget stops the code before the C call starts.
do
    local floor, log, mtype, tointeger = math.floor, math.log, math.type, math.tointeger
    -- named as the functions: a C error names the function it was called as
    local rep, move, insert, remove, sort =
        string.rep, table.move, table.insert, table.remove, table.sort
    local function charge(n)
        local ch = sys.charge
        if ch ~= nil and n >= 1024 then
            ch(n)
        end
    end
    local function int(v) -- an integer the way C reads one (4e6 and "4000000" included), or nil
        if type(v) == "string" then
            v = tonumber(v)
        end
        return type(v) == "number" and tointeger(v) or nil
    end
    local function len(v) -- a string argument's length the way C reads it (numbers too)
        local t = type(v)
        return t == "string" and #v or t == "number" and #tostring(v) or nil
    end
    local function count(a, b) -- elements from a to b
        a, b = int(a), int(b)
        if a and b and b >= a then
            return b - a + 1
        end
        return 0
    end
    local function plain(t) -- a table whose length C reads as its raw length
        return type(t) == "table" and raw.getmetatable(t) == nil
    end
    sys.real_string.rep = function(s, n, sep)
        local k, ls, lsep = int(n), len(s), sep == nil and 0 or len(sep)
        if k and k > 0 and ls and lsep then
            local piece = ls + lsep
            if piece == 0 then
                return "" -- C would loop n times copying nothing
            end
            if piece <= 0x7fffffff // k then -- past that C says "resulting string too large"
                charge(k * piece // 8) -- allocating, copying, collecting: ~8 bytes an instruction
            end
        end
        local r = rep(s, n, sep)
        return r
    end
    table.move = function(a1, f, e, t, a2)
        charge(2 * count(f, e))
        local r = move(a1, f, e, t, a2)
        return r
    end
    -- insert/remove at a position shift #t - pos slots. A table with a metatable may answer
    -- #t differently each time (C reads it again), so its shifting runs in Lua, where the
    -- budget counts it; the same checks and errors as C.
    table.insert = function(t, ...)
        local nargs = select("#", ...)
        if nargs == 2 and type(t) == "table" and not plain(t) then
            local pos, v = ...
            local e = #t + 1
            pos = int(pos)
            if pos == nil or pos < 1 or pos > e then
                raw.error("bad argument #2 to 'insert' (position out of bounds)", 2)
            end
            for i = e, pos + 1, -1 do
                t[i] = t[i - 1]
            end
            t[pos] = v
            return
        end
        if nargs == 2 and plain(t) then
            charge(2 * count((...), #t))
        end
        insert(t, ...)
    end
    table.remove = function(t, ...)
        if type(t) == "table" and not plain(t) then
            local size = #t
            local pos = select("#", ...) >= 1 and ... or size
            pos = int(pos)
            if pos == nil or (pos ~= size and (pos < 1 or pos > size + 1)) then
                raw.error("bad argument #2 to 'remove' (position out of bounds)", 2)
            end
            local v = t[pos]
            while pos < size do
                t[pos] = t[pos + 1]
                pos = pos + 1
            end
            t[pos] = nil
            return v
        end
        if select("#", ...) >= 1 and plain(t) then
            charge(2 * count((...), #t))
        end
        local v = remove(t, ...)
        return v
    end
    table.sort = function(t, comp)
        if type(t) == "table" then -- n log n comparisons; comparing long strings ~#s / 200
            local n = #t
            if mtype(n) == "integer" and n > 1 then
                local bytes = 0
                for i = 1, n do -- counted by the budget: a few instructions an element
                    local v = rawget(t, i)
                    if type(v) == "string" then
                        bytes = bytes + #v
                    end
                end
                charge(floor(2 * log(n, 2) * (n + bytes // 200)))
            end
        end
        sort(t, comp)
    end
end

-- The reference runtime's run-time forms (forms.lua): number(x), integer(x), boolean(x),
-- unpack, table.getn, and the conversion string(x) calls. Shared, read-only to runs.
string_call = install_forms(G, table, raw.error)

-- "file.lua:12: " for the Lua code `level` frames up (0 = the caller of where()).
function sys.where(level)
    local info = raw.getinfo(level + 2, "Sl")
    if info and info.currentline and info.currentline > 0 then
        return info.short_src .. ":" .. info.currentline .. ": "
    end
    return ""
end

getmetatable = function(v)
    return raw.getmetatable(v)
end

-- Every run shares its Lua state with other runs (workflow runs, activity calls), and so its
-- garbage collector: a __gc finalizer would run inside whichever run the collector happens to
-- be in, and Lua runs finalizers with hooks off, beyond the reach of the instruction budget and
-- of the stop at an activity's timeout (`__gc = function() while true do end end` would hold
-- the thread forever). In workflow code, what a weak table holds would also depend on other
-- runs' allocations, which a replay does not repeat. Lua marks a table for finalization only
-- if __gc is in its metatable when it is set.
do
    local raw_setmetatable = raw.setmetatable
    local where = context == "workflow" and "workflow code" or "moonflow Lua code"
    setmetatable = function(t, mt)
        if type(mt) == "table" then
            if rawget(mt, "__gc") ~= nil then
                raw.error("setmetatable: __gc finalizers are not available in " .. where
                    .. " (they would run at a moment the garbage collector picks, in another "
                    .. "run): release things explicitly, or with a <close> variable", 2)
            end
            if context == "workflow" and rawget(mt, "__mode") ~= nil then
                raw.error("setmetatable: weak tables (__mode) are not available in workflow "
                    .. "code (what they hold would depend on garbage collection, which a "
                    .. "replay does not repeat): use a plain table", 2)
            end
        end
        return raw_setmetatable(t, mt)
    end
end

-- Deterministic pairs/next (detpairs.lua) are loaded on the first traversal in workflow code;
-- until then the globals are forwarding stubs (entry environments copy them from _G).
if context == "workflow" then
    local det
    local function load_det()
        sys.load_internal("detpairs")
        det = sys.det
        return det
    end
    pairs = function(t)
        return (det or load_det()).pairs(t)
    end
    next = function(t, k)
        return (det or load_det()).next(t, k)
    end
end

local function copy_of(t)
    local c = {}
    for k, v in raw.next, t do
        c[k] = v
    end
    return c
end

-- Globals every run gets its own instance of, built on first use: the library tables user code
-- may rewire (`table.unpack = table.unpack or unpack`) must not leak into other runs of the
-- state, os and math carry the run's clock and random generator, print the run's logger, and
-- errors/channel/process are the run's modules. `string` is a read-only view of the shared
-- library, and `io`/`debug` refuse every use; each run still gets its own table of them, as
-- rawset would get past a shared one's guard.
local run_lib_names = {
    table = true, math = true, utf8 = true, coroutine = true, os = true, package = true,
    print = true, errors = true, channel = true, process = true, string = true, io = true,
    debug = true,
}
local pristine = {}  -- library tables as they were before any user code (seal_module_env)
local guarded_coroutine  -- the coroutine library of a run without a kernel (defined below)

-- os for one workflow run: seconds of workflow time; os.time{...} is computed in UTC so every
-- worker agrees; os.clock counts workflow time since the run started (deterministic on replay).
local function workflow_os(run)
    local host = run.host
    local o = copy_of(os_refusals)
    o.time = function(t)
        if t == nil then
            return host.now_ns() // NS
        end
        return sys.os_time_utc(t)
    end
    o.date = function(fmt, t)
        fmt = fmt or "%c"
        if t == nil then
            t = host.now_ns() // NS
        end
        if fmt:sub(1, 1) ~= "!" then
            fmt = "!" .. fmt
        end
        return raw.os_date(fmt, t)
    end
    o.clock = function()
        return (host.now_ns() - run.start_ns) / NS
    end
    return o
end

-- math for one run: math.random is Lua 5.4's own xoshiro256** generator (random.lua, the same
-- values as the C one) with a state per run (the C one is shared by the whole Lua state: a seed
-- one activity call set would reach the next), seeded from the workflow's deterministic
-- randomness when the run started, or in activity calls the machine's; randomseed() without
-- arguments reseeds from the same source.
-- While a query handler runs (kernel.lua K.call_query sets kernel.in_query), both draw from a
-- generator of the query's own instead, seeded with QUERY_SEED afresh for each query (and
-- randomseed() without arguments reseeds it with QUERY_SEED): queries are not in the history,
-- so they must never move the run's sequence, and the same query gives the same numbers.
-- (The wrappers tail-call the generator, so error levels still name the caller's line.)
local QUERY_SEED = 0
local function run_math(run)
    local m = copy_of(pristine.math)
    local host = run.host
    -- The generator is made on the first math.random / math.randomseed, not when `math` is
    -- read: seeding it asks the host (activity calls and processes are seeded from the
    -- machine's randomness; workflow runs have their seed from the start), and code that only
    -- uses math.floor need not (a process spawned by a process then stays in Lua).
    local random, randomseed
    local function make_generator()
        if run.seed == nil then
            run.seed = host.random_seed()
        end
        if sys.random == nil then
            sys.random = sys.load_internal("random")
        end
        random, randomseed = sys.random.new(run.seed, function()
            return host.random_seed()
        end)
    end
    local function query_generator()
        local q = run.query_random
        if q == nil then
            if sys.random == nil then
                sys.random = sys.load_internal("random")
            end
            local qrandom, qseed = sys.random.new(QUERY_SEED, function()
                return QUERY_SEED
            end)
            q = { random = qrandom, randomseed = qseed }
            run.query_random = q
        end
        return q
    end
    m.random = function(...)
        local k = run.kernel
        if k ~= nil and k.in_query then
            return query_generator().random(...)
        end
        if random == nil then
            make_generator()
        end
        return random(...)
    end
    m.randomseed = function(...)
        local k = run.kernel
        if k ~= nil and k.in_query then
            return query_generator().randomseed(...)
        end
        if random == nil then
            make_generator()
        end
        return randomseed(...)
    end
    return m
end

local function run_lib(run, name)
    local libs = rawget(run, "libs")  -- made on the first library the run's code reads
    if libs == nil then
        libs = {}
        run.libs = libs
    end
    local v = libs[name]
    if v ~= nil then
        return v
    end
    if name == "errors" or name == "channel" or name == "process" then
        v = run.module(name)
    elseif name == "print" then
        v = sys.make_print(run.host.log)
    elseif name == "string" then
        v = sys.string_view()
    elseif name == "io" or name == "debug" then
        v = refusing_table(name)
    elseif name == "package" then
        v = { loaded = {}, loadlib = refuse("package.loadlib"), searchers = {}, path = "", cpath = "" }
    elseif name == "coroutine" and run.make_user_coroutine ~= nil then
        v = run.make_user_coroutine()  -- the kernel's: commands pass through user coroutines
    elseif name == "coroutine" then
        v = guarded_coroutine(run)
    elseif name == "os" and context == "workflow" then
        v = workflow_os(run)
    elseif name == "math" then
        v = run_math(run)
    else
        v = copy_of(pristine[name])
    end
    libs[name] = v
    return v
end

-- A new run's private sys: inherits everything from this table; holds the run's host (its
-- Python callables, fetched by link(name, true) on first use) and in workflows the run's start
-- time and random seed (taken now, in the same order on every replay). Modules the run loads
-- add their functions to it.
-- make_channel(run, size, name): a channel of the run's (time.after, process subscriptions),
-- loading the run's channel module first if its code has not used channels yet.
function sys.make_channel(run, size, name)
    if run.new_channel == nil then
        run.module("channel")
    end
    return run.new_channel(size, name)
end

local run_mt = { __index = sys }
local HOST_GET = {}  -- private key: the run's link (_run.py _RunLink), in its host table
local host_mt = {
    __index = function(t, name)
        local fn = rawget(t, HOST_GET)(name, true)
        if fn ~= nil then
            fn = sys.wrap_py(fn, "host." .. tostring(name))
            rawset(t, name, fn)
        end
        return fn
    end,
}
-- Each entry's code runs in its own environment (globals copied in on first read). A
-- global that was never set reads nil, as in stock Lua and the reference runtime (apps rely
-- on `counter = (counter or 0) + 1`); typos are caught before run time by `moonflow check`
-- (unknown-global warnings), and calling one names it ("global 'name'").
-- One per run (every environment of the run has it), and made anew for a run the process
-- scheduler reuses: user code reaches it (getmetatable(_G)) and may change it.
function sys.new_env_mt(run)
    return {
        __index = function(env, name)
            local v
            if name == "_G" then
                v = env  -- never the state's own global table (shared by every run)
            elseif run_lib_names[name] then
                v = run_lib(run, name)
            else
                v = rawget(G, name)
                if v == nil then
                    return nil
                end
            end
            rawset(env, name, v)
            -- a global read during a query fills this cache: not a change (K.call_query)
            local filled = rawget(run, "query_filled")
            if filled ~= nil then
                filled[name] = v
            end
            return v
        end,
        -- Queries are read-only (kernel.lua K.call_query): a new global fails the query here,
        -- before it is set; writes to globals already in the environment (and rawset on it)
        -- are found by the kernel's note-and-compare of the run's environments.
        __newindex = function(env, name, v)
            local k = rawget(run, "kernel")
            if k ~= nil and k.in_query then
                run.check_not_query("the assignment to global '" .. tostring(name) .. "'")
            end
            rawset(env, name, v)
        end,
    }
end

function sys.new_run(link)
    local run = raw.setmetatable({}, run_mt)
    run.host = raw.setmetatable({ [HOST_GET] = link }, host_mt)
    if context == "workflow" then
        -- called once, not kept in the run's host table: an idle run holds no host method
        -- (each is a Lua closure and a Python object; benchmark M2)
        run.start_ns = sys.wrap_py(link("now_ns", true), "host.now_ns")()
        run.seed = sys.wrap_py(link("random_seed", true), "host.random_seed")()
    end
    run.env_mt = sys.new_env_mt(run)
    return run
end

-- new_env(run [, require_fn]): a fresh entry environment of a run (with its own require).
-- It starts empty and takes each global from the shared ones on first read (an environment
-- holding a copy of every global was a tenth of an idle run's memory).
function sys.new_env(run, require_fn)
    local env = {}
    env._G = env
    -- every environment of a workflow run, in creation order (queries compare them,
    -- K.call_query); activity runs have no queries and may make many environments
    if context == "workflow" then
        local envs = rawget(run, "envs")
        if envs == nil then
            envs = {}
            run.envs = envs
        end
        envs[#envs + 1] = env
    end
    if require_fn ~= nil then
        env.require = require_fn
    end
    return raw.setmetatable(env, run.env_mt)
end

-- The global names a run's code finds without defining them (`moonflow check` warns about
-- reads of any other global that the file never assigns). Returns an array of strings.
function sys.global_names()
    local names = {}
    for k in raw.next, G do
        if type(k) == "string" then
            names[#names + 1] = k
        end
    end
    for k in raw.next, run_lib_names do
        names[#names + 1] = k
    end
    return names
end

-- A standard library table by name, as the run sees it (what require("string") etc. return).
function sys.std_lib(run, name)
    if run_lib_names[name] then
        return run_lib(run, name)
    end
    return G[name]
end

-- moonflow's own modules run in this environment, holding copies of the standard libraries
-- taken before any user code ran (and the pristine copies per-run libraries are made from).
-- Called once the state's eager files (this one, convert.lua) have run; afterwards the
-- per-run names leave the shared globals.
local copied_libs = { table = true, math = true, utf8 = true, coroutine = true, os = true }
function sys.seal_module_env()
    local env = {}
    for k, v in raw.next, G do
        if copied_libs[k] then
            env[k] = copy_of(v)
            pristine[k] = env[k]
        else
            env[k] = v
        end
    end
    env.string = sys.real_string
    env.setmetatable = raw.setmetatable  -- moonflow's own code may keep weak caches
    env._G = env
    sys.module_env = env
    for name in raw.next, run_lib_names do
        G[name] = nil
    end
    G._G = nil  -- environments fall back to this table for names they lack: never hand it out
end

-- Glue the Python side calls (compiled here, with the rest of this file, once per process).

-- debug.traceback without the frames of moonflow's own (stripped) code, which show as "?:"
-- lines: users see their own code and the C functions it called. Same arguments as
-- debug.traceback ([thread,] [message [, level]]).
local gsub = string.gsub
function sys.traceback(...)
    local tb = raw.traceback(...)
    if type(tb) ~= "string" then
        return tb
    end
    return (gsub(tb, "\n\t%?:[^\n]*", ""))
end

-- A runtime error raised inside moonflow's own (stripped) code reads "?:-1: attempt to ...":
-- name the innermost frame of user code instead, which is where the mistake is (say
-- ch.send(v) written for ch:send(v)). co: the failed coroutine, or nil for the running one.
local find, sub = string.find, string.sub

-- Lua shortens a chunk name longer than 60 characters to "..." and its tail in messages
-- (luaO_chunkid): put back the whole path, taken from the frame of the same file, so that a
-- message never names a path cut off mid-name.
local function unshorten(msg, co)
    local level = co and 0 or 3
    while true do
        local info
        if co then
            info = raw.getinfo(co, level, "S")
        else
            info = raw.getinfo(level, "S")
        end
        if info == nil then
            return msg
        end
        local short = info.short_src
        if sub(info.source, 1, 1) == "@" and sub(short, 1, 3) == "..."
            and sub(msg, 1, #short + 1) == short .. ":" then
            return sub(info.source, 2) .. sub(msg, #short + 1)
        end
        level = level + 1
    end
end

-- A frame's file as messages show it: the whole chunk name, never Lua's shortened one.
local function shown_src(info)
    if sub(info.source, 1, 1) == "@" then
        return sub(info.source, 2)
    end
    return info.short_src
end

function sys.locate(msg, co)
    if type(msg) == "string" and sub(msg, 1, 3) == "..." then
        return unshorten(msg, co)
    end
    if type(msg) ~= "string" or sub(msg, 1, 2) ~= "?:" then
        return msg
    end
    local rest = sub(msg, (find(msg, ": ", 1, true) or 0) + 2)
    local level = co and 0 or 2
    while true do
        local info
        if co then
            info = raw.getinfo(co, level, "Sl")
        else
            info = raw.getinfo(level, "Sl")
        end
        if info == nil then
            return rest
        end
        if info.what ~= "C" and info.source ~= "=?" and (info.currentline or 0) > 0 then
            return shown_src(info) .. ":" .. info.currentline .. ": " .. rest
        end
        level = level + 1
    end
end

-- "file.lua:12" of the innermost frame of user code, starting `level` frames above the caller
-- of user_where (1: the caller's caller), or nil: where a budget ran out, for its message.
-- moonflow's own frames (stripped, "=?") and C functions are skipped.
local sfind = string.find
function sys.user_where(level)
    level = level + 2
    while true do
        local info = raw.getinfo(level, "Sl")
        if info == nil then
            return nil
        end
        -- "=?": moonflow's own files (stripped); "=moonflow/x": the Lua half of a module
        if info.what ~= "C" and info.source ~= "=?" and (info.currentline or 0) > 0
            and sfind(info.source, "=moonflow/", 1, true) ~= 1 then
            return shown_src(info) .. ":" .. info.currentline
        end
        level = level + 1
    end
end

-- protected_call(f, ...) -> true, {n = #results, ...} | false, error_value, traceback_text
function sys.protected_call(f, ...)
    local tb
    local ok, r = raw.xpcall(function(...)
        return sys.guard_pack(f(...))
    end, function(e)
        tb = sys.valid_text(sys.traceback(e, 2))
        if type(e) == "string" then
            return sys.valid_text(sys.locate(e))
        end
        return e
    end, ...)
    return ok, r, tb
end

-- Python functions reach Lua only wrapped: wrap_py(fn) is a Lua function (so tostring shows
-- no Python repr) calling fn, whose Python half (_state._guard_py) reports an exception as
-- (RAISED, kind, message); that becomes a moonflow error, never a Python object in Lua.
local RAISED = { "moonflow: a Python exception" }
sys.RAISED = RAISED
local function checked(first, ...)
    if first == RAISED then
        local kind, message = ...
        raw.error(sys.make_error(kind, message, false), 0)
    end
    return first, ...
end
-- A Lua string argument that is not UTF-8 makes lupa fail before the Python function runs,
-- with a Python exception as the Lua error value: sys.argument_failure (set by _runtime.py)
-- turns that into a moonflow error naming the function and the user's line; a module function
-- (`soft`) returns it as `nil, err`, others raise it. Any other error passes on unchanged.
local function passed(name, soft, ok, first, ...)
    if ok then
        return checked(first, ...)
    end
    if type(first) == "userdata" then
        local kind, message = sys.argument_failure(first)
        if kind ~= nil then
            local where = sys.user_where(1)
            message = (name or "a moonflow function") .. (where and (" (" .. where .. ")") or "")
                .. ": " .. message
            local err = sys.make_error(kind, message, false)
            if soft then
                return nil, err
            end
            raw.error(err, 0)
        end
    end
    raw.error(first, 0)
end
-- wrap_py(fn [, name [, soft]]): name is what messages call it ("json.encode"); soft: a
-- function of the `value, err` convention (module functions), which returns such a failure.
function sys.wrap_py(fn, name, soft)
    return function(...)
        return passed(name, soft, raw.pcall(fn, ...))
    end
end

-- Guarded calls. Code that runs outside the workflow kernel (an entry file's top level, an
-- activity call) runs in a coroutine of its own under a count hook, as the kernel's tasks do:
-- past `budget` VM instructions (0: no budget), or as soon as check() returns a reason (a
-- Python callable asked every `check_every` hooks: an activity's deadline or cancellation),
-- the code is stopped with a control error that user pcall cannot catch. Once stopped, every
-- later hook raises again, so code that swallows the error some other way (a coroutine that
-- died of it) cannot run on. Coroutines the code creates get the same hook (user_coroutine).
local HOOK_EVERY <const> = 10000
local os_clock = raw.os_clock
local STOP = { "moonflow: the call was stopped" }
control[STOP] = true
sys.STOP = STOP

-- new_guard(run, budget, check, check_every) -> guard {used, hook, charge, [stopped, where]};
-- the run's user coroutines get its hook from then on (guarded_coroutine).
function sys.new_guard(run, budget, check, check_every)
    -- stopped (why) and where ("file:line" or false) are set when the code is stopped: until
    -- then the table has three fields, a small hash part in every idle run
    local g = { used = 0 }
    if check == nil then
        -- No stop check (workflow runs and processes wait through their kernel): a hook
        -- without the check's state, which every idle run would hold (benchmark M2). The same
        -- as the hook below without its last part.
        g.hook = function()
            local used = g.used + HOOK_EVERY
            g.used = used
            if g.stopped then
                raw.error(STOP, 0)
            end
            if budget > 0 and used > budget then
                g.stopped = "budget"
                g.where = sys.user_where(1) or false
                raw.error(STOP, 0)
            end
        end
    else
        local since, last_check = 0, os_clock()
        g.hook = function()
            local used = g.used + HOOK_EVERY
            g.used = used
            if g.stopped then
                raw.error(STOP, 0)
            end
            if budget > 0 and used > budget then
                g.stopped = "budget"
                g.where = sys.user_where(1) or false
                raw.error(STOP, 0)
            end
            since = since + 1
            -- also after 5 ms of CPU: C work (long string compares, big copies) can make
            -- 10,000 instructions take far longer than usual
            local now = os_clock()
            if since >= check_every or now - last_check > 0.005 then
                since, last_check = 0, now
                local why = check()
                if why then
                    g.stopped = why
                    g.where = sys.user_where(1) or false
                    raw.error(STOP, 0)
                end
            end
        end
    end
    -- C work done for the call (patterns.lua charges its C calls through sys.charge)
    function g.charge(n)
        local used = g.used + n
        g.used = used
        if budget > 0 and used > budget and not g.stopped then
            g.stopped = "budget"
            g.where = sys.user_where(1) or false
            raw.error(STOP, 0)
        end
    end
    run.guard = g
    return g
end

-- guarded_call(g, f, ...) -> true, {n = #results, ...} | false, error_value, traceback_text.
-- A stopped call's error value is the STOP sentinel (g.stopped says why). The call runs on the
-- calling Lua thread with the guard's hook set for its duration (the hook it replaces, e.g.
-- the kernel's on a task requiring a library, is put back after). Not in a coroutine of its
-- own: lupa keeps the Lua thread a value crossed into Python on, and a value kept past the
-- death of that coroutine made a later release crash.
local co_create, co_resume, co_close = raw.coroutine_create, raw.coroutine_resume, raw.coroutine_close
local gethook = raw.gethook
function sys.guarded_call(g, f, ...)
    local old_hook, old_mask, old_count = gethook()
    local old_charge = sys.charge
    local tb
    sys.charge = g.charge
    raw.sethook(g.hook, "", HOOK_EVERY)
    local ok, r = raw.xpcall(function(...)
        return sys.guard_pack(f(...))
    end, function(e)
        if type(e) == "table" and control[e] then
            return e
        end
        tb = sys.valid_text(sys.traceback(e, 2))
        if type(e) == "string" then
            return sys.valid_text(sys.locate(e))
        end
        return e
    end, ...)
    if old_hook ~= nil then
        raw.sethook(old_hook, old_mask, old_count)
    else
        raw.sethook()
    end
    sys.charge = old_charge
    return ok, r, tb
end

-- The coroutine library of a run without a kernel (activity calls): coroutines it creates run
-- under the run's guard, and resume hands a stop back up instead of returning it as a value.
guarded_coroutine = function(run)
    local lib = copy_of(pristine.coroutine)
    local function create(fn)
        local co = co_create(fn)
        local g = run.guard
        if g ~= nil then
            raw.sethook(co, g.hook, "", HOOK_EVERY)
        end
        return co
    end
    lib.create = create
    lib.resume = function(co, ...)
        return rethrow_control(co_resume(co, ...))
    end
    lib.wrap = function(fn)
        local co = create(fn)
        return function(...)
            local res = pack(co_resume(co, ...))
            if not res[1] then
                co_close(co)
                raw.error(res[2], 0)
            end
            return unpack(res, 2, res.n)
        end
    end
    return lib
end

-- Compiled user code, by source text: a run per activity call loads its entry's file on every
-- call, and loading bytecode (string.dump keeps the line info) is quicker than parsing. The
-- cache is per state and bounded (an edited file adds an entry).
local code_cache, code_cached = {}, 0
function sys.load_code(source, chunk_name, env)
    local key = chunk_name .. "\0" .. source
    local code = code_cache[key]
    if code ~= nil then
        return raw.load(code, chunk_name, "b", env)
    end
    local fn, err = raw.load(source, chunk_name, "t", env)
    if fn ~= nil then
        if code_cached >= 256 then
            code_cache, code_cached = {}, 0
        end
        code_cache[key] = raw.string_dump(fn)
        code_cached = code_cached + 1
    end
    return fn, err
end

-- print(...): any value (even invalid UTF-8) becomes loggable text first.
local concat, select = table.concat, select
function sys.make_print(log)
    return function(...)
        local parts = {}
        for i = 1, select("#", ...) do
            parts[i] = sys.valid_text((select(i, ...)))
        end
        log("info", concat(parts, "\t"))
    end
end

-- require(name) for one entry: lookup(name) returns the module, or nil and a message.
function sys.wrap_require(lookup)
    return function(name)
        local m, e = lookup(name)
        if e ~= nil then
            raw.error(e, 2)
        end
        return m
    end
end

return sys
