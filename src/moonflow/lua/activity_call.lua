-- One activity call's Lua, after its run is made (worker/_activity.py ActivityRunner._run), in
-- one call into Lua instead of eight or more: the entry's environment (with its `require`), its
-- file loaded (from the state's bytecode cache, sys.load_code) and run under the run's guard,
-- its function looked up (as LuaRun.load_code does) and called under the guard.
-- Called once per state with sys.new_env, sys.wrap_require, sys.load_code, sys.guarded_call and
-- the raw load and string.dump;
-- returns call(run, guard, lookup, source, chunk_name, method, call_it, ...args) -> how, ...:
--   "returned", n, r1, r2         the first two results and their count (the result rules')
--   "raised" | "load", err, traceback, stopped, where
--                                 the call or the file's top level failed; stopped/where: the
--                                 guard's reason and place when it stopped the code
--   "compile", message            the file does not compile
--   "method", false               nothing callable is exported under `method`
--   "loaded", false               call_it false: loaded only (the arguments could not enter Lua)
-- Always two values or more: lupa hands a single one back as it is, not as a tuple.
local new_env, wrap_require, load_code, guarded_call, load, dump = ...

-- chunk name -> {source, bytecode}: the entry's file as last loaded in this state. sys.load_code
-- keeps bytecode by source text too, but looks it up by a key made of the whole text (a copy
-- and a hash of every byte per call); comparing the text with the one kept costs a memcmp.
local compiled = {}

return function(run, guard, lookup, source, chunk_name, method, call_it, ...)
    local env = new_env(run, wrap_require(lookup))
    local fn, err
    local c = compiled[chunk_name]
    if c ~= nil and c[1] == source then
        fn, err = load(c[2], chunk_name, "b", env)
    else
        fn, err = load_code(source, chunk_name, env)
        if fn ~= nil then
            compiled[chunk_name] = { source, dump(fn) }
        end
    end
    if fn == nil then
        return "compile", err
    end
    local ok, r, tb = guarded_call(guard, fn)
    if not ok then
        return "load", r, tb, guard.stopped, guard.where
    end
    fn = r[1]
    if method ~= nil and type(fn) ~= "function" then
        fn = type(fn) == "table" and fn[method] or nil
        if type(fn) ~= "function" then
            return "method", false
        end
    end
    if not call_it then
        return "loaded", false
    end
    ok, r, tb = guarded_call(guard, fn, ...)
    if not ok then
        return "raised", r, tb, guard.stopped, guard.where
    end
    return "returned", r.n, r[1], r[2]
end
